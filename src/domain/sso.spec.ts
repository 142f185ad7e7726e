import { describe, expect, it } from 'vitest';
import { admit, grantsForGroups, parseList, parseSsoRoles, type SsoPolicy } from './sso.js';

const rulesOf = (text: string) => {
  const parsed = parseSsoRoles(text);
  if ('problem' in parsed) throw new Error(parsed.problem);
  return parsed.rules;
};

describe('parseSsoRoles', () => {
  it('reads server admins, roles on every app and roles on one app', () => {
    expect(
      rulesOf(' overair-admins=server-admin, mobile-release = release@com.example.app,everyone=read ,'),
    ).toEqual([
      { group: 'overair-admins', grant: { kind: 'server-admin' } },
      { group: 'mobile-release', grant: { kind: 'app', role: 'release', appId: 'com.example.app' } },
      { group: 'everyone', grant: { kind: 'all-apps', role: 'read' } },
    ]);
    expect(rulesOf('')).toEqual([]);
  });

  it('splits at the last "=", so a group may hold one (an LDAP-style name)', () => {
    expect(rulesOf('cn=ops=admin')).toEqual([
      { group: 'cn=ops', grant: { kind: 'all-apps', role: 'admin' } },
    ]);
  });

  it.each([
    ['admins', 'expected GROUP=ROLE'],
    ['=admin', 'expected GROUP=ROLE'],
    ['ops=owner', 'the role is one of server-admin, read, publish, release, admin'],
    ['ops=Admin', 'the role is one of'],
    ['ops=read@', '"" is not an app id'],
    ['ops=read@a@b', 'is not an app id'],
    ['ops=read@-bad', '"-bad" is not an app id'],
    ['ops=server-admin@app', 'the role is one of'],
  ])('refuses %s', (text, problem) => {
    const parsed = parseSsoRoles(text);
    expect('problem' in parsed && parsed.problem).toContain(problem);
  });
});

describe('grantsForGroups', () => {
  const rules = rulesOf(
    'admins=server-admin,dev=publish,qa=read,rel=release@app.one,ops=read@app.one,ops=admin@app.two',
  );

  it('unites the matching rules, the highest role winning', () => {
    const grants = grantsForGroups(rules, ['qa', 'dev', 'ops', 'rel', 'unknown']);
    expect(grants.serverAdmin).toBe(false);
    expect(grants.allApps).toBe('publish');
    expect([...grants.apps]).toEqual([
      ['app.one', 'release'],
      ['app.two', 'admin'],
    ]);
    expect(grantsForGroups(rules, ['admins']).serverAdmin).toBe(true);
    expect(grantsForGroups(rules, [])).toEqual({ serverAdmin: false, allApps: null, apps: new Map() });
  });

  it('matches group names exactly (case and all)', () => {
    expect(grantsForGroups(rules, ['Admins', 'admins ']).serverAdmin).toBe(false);
  });
});

describe('admit', () => {
  const policy: SsoPolicy = {
    allowedDomains: [],
    allowedGroups: [],
    groupsClaim: 'groups',
    usernameClaim: 'email',
    rules: rulesOf('admins=server-admin,dev=publish'),
  };
  const claims = { sub: 's1', email: 'Ana@Example.com', email_verified: true, groups: ['dev'] };

  it('admits a member of a group that gives a role, named by the claim', () => {
    const result = admit(claims, policy);
    expect(result).toMatchObject({ status: 'admitted', username: 'Ana@Example.com', groups: ['dev'] });
    expect(result.status === 'admitted' && result.grants.allApps).toBe('publish');
  });

  it('takes a single group given as a string', () => {
    expect(admit({ ...claims, groups: 'admins' }, policy)).toMatchObject({ status: 'admitted' });
  });

  it('refuses when no group gives a role', () => {
    expect(admit({ ...claims, groups: ['other'] }, policy)).toMatchObject({ reason: 'no_role' });
    expect(admit({ ...claims, groups: 42 }, policy)).toMatchObject({ reason: 'no_role' });
  });

  it('checks the domain of a verified email only', () => {
    const strict = { ...policy, allowedDomains: parseList('example.com, example.org') };
    expect(admit(claims, strict)).toMatchObject({ status: 'admitted' });
    expect(admit({ ...claims, email: 'ana@evil.com' }, strict)).toMatchObject({ reason: 'domain' });
    expect(admit({ ...claims, email: 'ana@sub.example.com' }, strict)).toMatchObject({ reason: 'domain' });
    expect(admit({ ...claims, email: 'ana@example.com.evil.com' }, strict)).toMatchObject({
      reason: 'domain',
    });
    expect(admit({ ...claims, email_verified: false }, strict)).toMatchObject({ reason: 'email_unverified' });
    expect(admit({ ...claims, email_verified: 'true' }, strict)).toMatchObject({
      reason: 'email_unverified',
    });
    expect(admit({ ...claims, email: undefined }, strict)).toMatchObject({ reason: 'email_unverified' });
  });

  it('needs one of the allowed groups when some are given', () => {
    const strict = { ...policy, allowedGroups: ['staff'] };
    expect(admit(claims, strict)).toMatchObject({ reason: 'group' });
    expect(admit({ ...claims, groups: ['staff', 'dev'] }, strict)).toMatchObject({ status: 'admitted' });
    // Both checks apply when both are configured.
    const both = { ...strict, allowedDomains: ['example.org'] };
    expect(admit({ ...claims, groups: ['staff', 'dev'] }, both)).toMatchObject({ reason: 'domain' });
  });

  it('refuses a user name claim that is missing or not a valid user name', () => {
    expect(admit({ ...claims, email: 'a b@example.com' }, policy)).toMatchObject({ reason: 'username' });
    const byName = { ...policy, usernameClaim: 'preferred_username' };
    expect(admit(claims, byName)).toMatchObject({ reason: 'username' });
    expect(admit({ ...claims, preferred_username: 'ana' }, byName)).toMatchObject({ username: 'ana' });
  });
});
