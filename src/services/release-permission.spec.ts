import { describe, expect, it } from 'vitest';
import { grantsFromScope } from '../domain/roles.js';
import { OverairError } from '../errors.js';
import { guardProtected, mayChangeProtected, releaseCallerOf } from './release-permission.js';

const token = (scope: 'read' | 'publish' | 'admin') =>
  ({ kind: 'token', id: 7, name: 'ci', grants: grantsFromScope(scope) }) as const;
const channel = (protectedFlag: number) => ({
  app_id: 'com.example.app',
  name: 'production',
  protected: protectedFlag,
});

describe('release permission', () => {
  it('asks the roles rules for the release role: admins hold it, publishers do not', () => {
    expect(releaseCallerOf(token('admin'), 'token:ci', 'com.example.app').mayRelease).toBe(true);
    expect(releaseCallerOf(token('publish'), 'token:ci', 'com.example.app').mayRelease).toBe(false);
    expect(releaseCallerOf(token('read'), 'token:ci', 'com.example.app').mayRelease).toBe(false);
  });

  it('follows per-app grants once a principal carries them', () => {
    const grants = {
      serverAdmin: false,
      allApps: 'publish' as const,
      apps: new Map([['com.example.app', 'release' as const]]),
    };
    const principal = { ...token('publish'), grants };
    expect(releaseCallerOf(principal, 'token:ci', 'com.example.app').mayRelease).toBe(true);
    expect(releaseCallerOf(principal, 'token:ci', 'com.example.other').mayRelease).toBe(false);
  });

  it('names the principal, so that a requester is told apart from an approver of the same name', () => {
    expect(releaseCallerOf(token('publish'), 'token:ci', 'a').identity).toBe('token:7');
    expect(
      releaseCallerOf({ kind: 'user', id: 7, name: 'ci', grants: grantsFromScope('publish') }, 'user:ci', 'a')
        .identity,
    ).toBe('user:7');
  });

  it('refuses only a caller without the role, and only on a protected channel', () => {
    const publisher = releaseCallerOf(token('publish'), 'token:ci', 'com.example.app');
    const admin = releaseCallerOf(token('admin'), 'token:ci', 'com.example.app');
    expect(() => guardProtected(publisher, channel(0), 'set')).not.toThrow();
    expect(() => guardProtected(admin, channel(1), 'set')).not.toThrow();
    // The server itself (the automatic halt) passes no caller.
    expect(mayChangeProtected(undefined)).toBe(true);
    expect(() => guardProtected(undefined, channel(1), 'set')).not.toThrow();
    let refusal: unknown;
    try {
      guardProtected(publisher, channel(1), 'rollout');
    } catch (error) {
      refusal = error;
    }
    expect(refusal).toBeInstanceOf(OverairError);
    expect(refusal).toMatchObject({ status: 403, code: 'protected_channel' });
    expect((refusal as Error).message).toMatch(
      /^Channel "production" of app "com.example.app" is protected: a rollout \(start, raise or complete\) needs the "release" role on the app, which this token lacks\. Rolling back needs only "publish"/,
    );
  });
});
