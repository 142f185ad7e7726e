import { higherRole, ROLES, type Grants, type Role } from './roles.js';
import { usernameProblem } from './users.js';

/**
 * Single sign-on's rules (OpenID Connect, docs/sso.md): which signed-in identities are let in, and
 * the roles their groups give. Pure: the service hands it the ID token's verified claims.
 */

/** What one group gives: a server admin, a role on every app, or a role on one app. */
type SsoGrant =
  { kind: 'server-admin' } | { kind: 'all-apps'; role: Role } | { kind: 'app'; role: Role; appId: string };

export interface SsoRoleRule {
  group: string;
  grant: SsoGrant;
}

/** Same rule as an app id in the API (src/http/schemas.ts). */
const APP_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const SERVER_ADMIN = 'server-admin';

/**
 * Parses OVERAIR_OIDC_ROLES: entries separated by commas, each `GROUP=GRANT` where GRANT is
 * `server-admin`, a role (`read`, `publish`, `release`, `admin`: on every app) or `ROLE@APP_ID` (on
 * one app). A group is split at its last `=` (the grant never holds one), so group names may hold
 * `=`, not commas; spaces around entries and parts are ignored. A group may be named several times.
 */
export function parseSsoRoles(text: string): { rules: SsoRoleRule[] } | { problem: string } {
  const rules: SsoRoleRule[] = [];
  for (const raw of text.split(',')) {
    const entry = raw.trim();
    if (entry === '') continue;
    const at = entry.lastIndexOf('=');
    const group = entry.slice(0, Math.max(at, 0)).trim();
    const grantText = entry.slice(at + 1).trim();
    if (at <= 0 || group === '') {
      return { problem: `"${entry}": expected GROUP=ROLE, GROUP=ROLE@APP or GROUP=${SERVER_ADMIN}` };
    }
    const grant = parseGrant(grantText);
    if (typeof grant === 'string') return { problem: `"${entry}": ${grant}` };
    rules.push({ group, grant });
  }
  return { rules };
}

function parseGrant(text: string): SsoGrant | string {
  if (text === SERVER_ADMIN) return { kind: 'server-admin' };
  const [roleText, appId, ...rest] = text.split('@');
  const role = ROLES.find((known) => known === roleText);
  if (!role) return `the role is one of ${SERVER_ADMIN}, ${ROLES.join(', ')} (optionally @APP_ID)`;
  if (appId === undefined) return { kind: 'all-apps', role };
  if (rest.length > 0 || !APP_ID.test(appId)) return `"${appId}" is not an app id`;
  return { kind: 'app', role, appId };
}

/** A comma-separated list, trimmed, without empty items (groups, email domains). */
export const parseList = (text: string): string[] =>
  text
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '');

/** The grants a member of `groups` gets: the union (the highest role wins) of every matching rule. */
export function grantsForGroups(rules: readonly SsoRoleRule[], groups: readonly string[]): Grants {
  const member = new Set(groups);
  let serverAdmin = false;
  let allApps: Role | null = null;
  const apps = new Map<string, Role>();
  for (const { group, grant } of rules) {
    if (!member.has(group)) continue;
    if (grant.kind === 'server-admin') serverAdmin = true;
    else if (grant.kind === 'all-apps') allApps = higherRole(allApps, grant.role);
    else apps.set(grant.appId, higherRole(apps.get(grant.appId), grant.role)!);
  }
  return { serverAdmin, allApps, apps };
}

/** Whether grants give anything at all: a sign-in that would give nothing is refused. */
const grantsAnything = (grants: Grants): boolean =>
  grants.serverAdmin || grants.allApps !== null || grants.apps.size > 0;

/** Who may sign in with SSO, and how the user is named (OVERAIR_OIDC_* settings). */
export interface SsoPolicy {
  /** Email domains let in (lower case); empty: any. Needs a verified `email` claim. */
  allowedDomains: readonly string[];
  /** Groups let in; empty: any. */
  allowedGroups: readonly string[];
  /** The claim holding the user's groups (a list of strings, or one string). */
  groupsClaim: string;
  /** The claim whose value is the Overair user name. */
  usernameClaim: string;
  rules: readonly SsoRoleRule[];
}

/** Why a verified identity is refused: the sign-in page says it in words. */
export type SsoRefusal = 'email_unverified' | 'domain' | 'group' | 'no_role' | 'username';

export type SsoAdmission =
  | { status: 'admitted'; username: string; grants: Grants; groups: string[]; email: string | null }
  | { status: 'refused'; reason: SsoRefusal; detail: string };

/** The groups a claim holds: a list of strings, or one string; anything else is none. */
function groupsOf(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  if (Array.isArray(value)) return value.filter((item): item is string => typeof item === 'string');
  return [];
}

/**
 * Decides on an identity whose ID token was verified: every configured check must pass (a verified
 * email in an allowed domain, membership of an allowed group), the groups must give some role, and
 * the user name claim must be a valid Overair user name.
 */
export function admit(claims: Record<string, unknown>, policy: SsoPolicy): SsoAdmission {
  const groups = groupsOf(claims[policy.groupsClaim]);
  const email = typeof claims.email === 'string' ? claims.email.toLowerCase() : null;
  if (policy.allowedDomains.length > 0) {
    // An unverified address proves nothing: anyone may type any address into some providers.
    if (email === null || claims.email_verified !== true) {
      return { status: 'refused', reason: 'email_unverified', detail: 'no verified email address' };
    }
    const domain = email.slice(email.lastIndexOf('@') + 1);
    if (!email.includes('@') || !policy.allowedDomains.includes(domain)) {
      return { status: 'refused', reason: 'domain', detail: `email domain ${domain} is not allowed` };
    }
  }
  if (policy.allowedGroups.length > 0 && !policy.allowedGroups.some((group) => groups.includes(group))) {
    return { status: 'refused', reason: 'group', detail: 'in none of the allowed groups' };
  }
  const grants = grantsForGroups(policy.rules, groups);
  if (!grantsAnything(grants)) {
    return { status: 'refused', reason: 'no_role', detail: 'no group gives a role' };
  }
  const name = claims[policy.usernameClaim];
  if (typeof name !== 'string' || usernameProblem(name) !== null) {
    return {
      status: 'refused',
      reason: 'username',
      detail: `claim ${policy.usernameClaim} is not a valid user name`,
    };
  }
  return { status: 'admitted', username: name, grants, groups, email };
}
