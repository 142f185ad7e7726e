import { describe, expect, it } from 'vitest';
import {
  grantsFromScope,
  grantsOf,
  higherRole,
  may,
  roleAllows,
  roleOn,
  ROLES,
  type Grants,
} from './roles.js';

const grants = (over: Partial<Grants>): Grants => ({
  serverAdmin: false,
  allApps: null,
  apps: new Map(),
  ...over,
});

describe('roles', () => {
  it('nests read < publish < release < admin', () => {
    for (const [i, held] of ROLES.entries())
      for (const [j, needed] of ROLES.entries()) expect(roleAllows(held, needed)).toBe(i >= j);
    expect(roleAllows(null, 'read')).toBe(false);
  });

  it('takes the higher of the all-apps role and the app role', () => {
    const held = grants({ allApps: 'read', apps: new Map([['a', 'release']]) });
    expect(roleOn(held, 'a')).toBe('release');
    expect(roleOn(held, 'b')).toBe('read');
    expect(higherRole('admin', 'read')).toBe('admin');
    expect(higherRole(null, undefined)).toBeNull();
  });

  it('gives an app-only holder nothing on other apps', () => {
    const held = grants({ apps: new Map([['a', 'publish']]) });
    expect(may(held, 'a', 'publish')).toBe(true);
    expect(may(held, 'a', 'release')).toBe(false);
    expect(may(held, 'b', 'read')).toBe(false);
  });

  it('lets a server admin do everything', () => {
    expect(may(grants({ serverAdmin: true }), 'any', 'admin')).toBe(true);
  });

  it('keeps what old scopes could do, on every app', () => {
    expect(grantsOf({ scope: 'admin' }).serverAdmin).toBe(true);
    expect(may(grantsFromScope('publish'), 'x', 'publish')).toBe(true);
    expect(may(grantsFromScope('publish'), 'x', 'release')).toBe(false);
    expect(may(grantsFromScope('read'), 'x', 'publish')).toBe(false);
    const own = grants({ allApps: 'release' });
    expect(grantsOf({ scope: 'read', grants: own })).toBe(own);
  });
});
