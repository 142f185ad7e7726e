import { describe, expect, it } from 'vitest';
import {
  grantsFromScope,
  adminsSomeApp,
  describeGrants,
  grantsFromJson,
  grantsOf,
  grantsSomething,
  higherRole,
  may,
  mayGrant,
  NO_GRANTS,
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

  it('reads a principal without scope nor grants as holding nothing', () => {
    expect(grantsOf({})).toBe(NO_GRANTS);
    expect(grantsSomething(NO_GRANTS)).toBe(false);
    expect(may(NO_GRANTS, 'a', 'read')).toBe(false);
  });

  it('knows who administers some app', () => {
    expect(adminsSomeApp(grants({ apps: new Map([['a', 'admin']]) }))).toBe(true);
    expect(adminsSomeApp(grants({ allApps: 'admin' }))).toBe(true);
    expect(adminsSomeApp(grants({ serverAdmin: true }))).toBe(true);
    expect(adminsSomeApp(grants({ allApps: 'release', apps: new Map([['a', 'release']]) }))).toBe(false);
  });

  describe('granting', () => {
    const appAdmin = grants({
      allApps: 'read',
      apps: new Map([
        ['a', 'admin'],
        ['b', 'publish'],
      ]),
    });

    it('lets a server admin grant anything, server-wide admin included', () => {
      expect(mayGrant(grants({ serverAdmin: true }), grants({ serverAdmin: true }))).toBe(true);
      expect(mayGrant(grants({ serverAdmin: true }), NO_GRANTS)).toBe(true);
    });

    it('lets an app admin grant any role on their app, and nothing else', () => {
      for (const role of ROLES)
        expect(mayGrant(appAdmin, grants({ apps: new Map([['a', role]]) }))).toBe(true);
      expect(mayGrant(appAdmin, grants({ apps: new Map([['b', 'read']]) }))).toBe(false);
      expect(mayGrant(appAdmin, grants({ apps: new Map([['c', 'read']]) }))).toBe(false);
      expect(
        mayGrant(
          appAdmin,
          grants({
            apps: new Map([
              ['a', 'read'],
              ['b', 'read'],
            ]),
          }),
        ),
      ).toBe(false);
      expect(mayGrant(appAdmin, grants({ allApps: 'read' }))).toBe(false);
      expect(mayGrant(appAdmin, grants({ serverAdmin: true }))).toBe(false);
      expect(mayGrant(appAdmin, NO_GRANTS)).toBe(false);
    });

    it('lets an admin of all apps grant roles on all apps, never server-wide admin', () => {
      const allAdmin = grants({ allApps: 'admin' });
      expect(mayGrant(allAdmin, grants({ allApps: 'admin', apps: new Map([['x', 'publish']]) }))).toBe(true);
      expect(mayGrant(allAdmin, grants({ serverAdmin: true }))).toBe(false);
      expect(mayGrant(grants({ allApps: 'release' }), grants({ allApps: 'read' }))).toBe(false);
    });
  });

  it('reads roles as the API writes them, and says them in a few words', () => {
    const held = grantsFromJson({ server_admin: false, all: 'read', apps: { a: 'admin' } });
    expect(may(held, 'a', 'admin')).toBe(true);
    expect(may(held, 'b', 'publish')).toBe(false);
    expect(describeGrants(held)).toBe('read on all apps, admin on a');
    expect(describeGrants(grants({ serverAdmin: true, allApps: 'admin' }))).toBe('server admin');
    expect(describeGrants(NO_GRANTS)).toBe('no role');
  });
});
