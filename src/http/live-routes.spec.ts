import { describe, expect, it } from 'vitest';
import { grantsFromScope, type Grants } from '../domain/roles.js';
import { mayWatch } from './live-routes.js';

const principal = (grants: Grants = grantsFromScope('read')) => ({
  kind: 'token' as const,
  id: 1,
  name: 'watcher',
  grants,
});

describe('who may watch a device live', () => {
  it('a read role on the app, or more, or a server admin', () => {
    expect(mayWatch(principal(), 'com.example.app')).toBe(true);
    const onApp: Grants = { serverAdmin: false, allApps: null, apps: new Map([['com.example.app', 'read']]) };
    expect(mayWatch(principal(onApp), 'com.example.app')).toBe(true);
    const admin: Grants = { serverAdmin: true, allApps: null, apps: new Map() };
    expect(mayWatch(principal(admin), 'com.example.other')).toBe(true);
  });

  it('not a read role on another app only, nor no role', () => {
    const elsewhere: Grants = {
      serverAdmin: false,
      allApps: null,
      apps: new Map([['com.example.other', 'admin']]),
    };
    expect(mayWatch(principal(elsewhere), 'com.example.app')).toBe(false);
    expect(
      mayWatch(principal({ serverAdmin: false, allApps: null, apps: new Map() }), 'com.example.app'),
    ).toBe(false);
  });
});
