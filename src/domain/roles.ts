/**
 * Who may do what on an app: the rules every admin route, the dashboard and the docs' roles table share.
 *
 * Roles are nested on one app: `read` < `publish` < `release` < `admin`.
 * - `read` sees the app (bundles, channels, devices, statistics);
 * - `publish` uploads and registers bundles and manages unprotected channels; it may always roll back
 *   or halt (stopping harm must be easy), on protected channels too;
 * - `release` may also change what a protected channel serves (make a bundle live, start, raise or
 *   complete a rollout), and approve or reject release requests;
 * - `admin` manages the app itself: its settings, tokens, webhooks.
 *
 * A token or user holds a role on all apps (or none), roles on single apps, and may be a server-wide
 * admin, who can do everything (users, all apps, the audit log, server tokens).
 */
export const ROLES = ['read', 'publish', 'release', 'admin'] as const;
export type Role = (typeof ROLES)[number];

const RANK: Record<Role, number> = { read: 0, publish: 1, release: 2, admin: 3 };

/** Whether holding `held` includes what `needed` allows. */
export function roleAllows(held: Role | null | undefined, needed: Role): boolean {
  return held !== null && held !== undefined && RANK[held] >= RANK[needed];
}

/** The higher of two roles (null: none). */
export function higherRole(a: Role | null | undefined, b: Role | null | undefined): Role | null {
  if (a === null || a === undefined) return b ?? null;
  if (b === null || b === undefined) return a;
  return RANK[a] >= RANK[b] ? a : b;
}

/** What one token or user holds. */
export interface Grants {
  /** Everything, everywhere: users, server tokens, the audit log, every app. */
  serverAdmin: boolean;
  /** The role on every app, present and future; null for none. */
  allApps: Role | null;
  /** Roles on single apps (app id to role); the higher of this and `allApps` applies. */
  apps: ReadonlyMap<string, Role>;
}

/** The role a holder of `grants` has on `appId`, or null when it may not even see it. */
export function roleOn(grants: Grants, appId: string): Role | null {
  if (grants.serverAdmin) return 'admin';
  return higherRole(grants.allApps, grants.apps.get(appId));
}

/** Whether a holder of `grants` may do what `needed` allows on `appId`. */
export function may(grants: Grants, appId: string, needed: Role): boolean {
  return roleAllows(roleOn(grants, appId), needed);
}

/** The old single scope (before per-app roles) as grants: what existing tokens and users keep. */
export function grantsFromScope(scope: 'read' | 'publish' | 'admin'): Grants {
  return {
    serverAdmin: scope === 'admin',
    allApps: scope === 'admin' ? 'admin' : scope,
    apps: new Map(),
  };
}

/** Nothing at all: a holder that may not see any app. */
export const NO_GRANTS: Grants = { serverAdmin: false, allApps: null, apps: new Map() };

/** Whether the grants give anything at all (a token must hold at least one role). */
export function grantsSomething(grants: Grants): boolean {
  return grants.serverAdmin || grants.allApps !== null || grants.apps.size > 0;
}

/** Whether a holder of `grants` administers at least one app (or every app): the tokens and webhooks pages. */
export function adminsSomeApp(grants: Grants): boolean {
  return grants.serverAdmin || grants.allApps === 'admin' || [...grants.apps.values()].includes('admin');
}

/**
 * Whether `holder` may hand out `granted` (create a token with it) or manage what holds it (list or
 * revoke such a token): a server admin may do anything; anyone else only roles they administer and
 * never more than they hold. Server-wide admin is for server admins only; a role on all apps needs
 * admin on all apps; a role on one app needs admin on that app (admin is the highest role, so it
 * covers every role there). Something that holds nothing is managed by server admins only.
 */
export function mayGrant(holder: Grants, granted: Grants): boolean {
  if (holder.serverAdmin) return true;
  if (granted.serverAdmin || !grantsSomething(granted)) return false;
  if (granted.allApps !== null && holder.allApps !== 'admin') return false;
  for (const appId of granted.apps.keys()) if (!may(holder, appId, 'admin')) return false;
  return true;
}

/**
 * The grants of a request's principal. A principal carries the grants loaded when its token or session
 * was authenticated; something that carries only an old single scope is read as that scope.
 */
export function grantsOf(principal: { scope?: 'read' | 'publish' | 'admin'; grants?: Grants }): Grants {
  if (principal.grants !== undefined) return principal.grants;
  return principal.scope !== undefined ? grantsFromScope(principal.scope) : NO_GRANTS;
}

/** Roles as the API writes them (src/api-types.ts `RolesJson`). */
interface RolesJsonShape {
  server_admin: boolean;
  all: Role | null;
  apps: Record<string, Role>;
}

/** The grants of roles as the API writes them (the dashboard and the CLI ask `may` with these). */
export function grantsFromJson(json: RolesJsonShape): Grants {
  return { serverAdmin: json.server_admin, allApps: json.all, apps: new Map(Object.entries(json.apps)) };
}

/** Grants in a few words, for lists: "server admin", "publish on all apps, admin on com.example.a". */
export function describeGrants(grants: Grants): string {
  if (grants.serverAdmin) return 'server admin';
  const parts = [
    ...(grants.allApps !== null ? [`${grants.allApps} on all apps`] : []),
    ...[...grants.apps].map(([appId, role]) => `${role} on ${appId}`),
  ];
  return parts.length > 0 ? parts.join(', ') : 'no role';
}
