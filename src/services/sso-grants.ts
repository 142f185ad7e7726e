import { grantColumns } from '../db/grants.js';
import type { Repos } from '../db/index.js';
import type { Grants, Role } from '../domain/roles.js';

/**
 * Stores the grants a single sign-on gives a user, replacing what they held: the one place SSO writes
 * roles (docs/sso.md), inside the sign-in's transaction. A role on an app that does not exist (yet)
 * is left out: a grant row names an existing app (deleted with it), and a mapping written before the
 * app was created applies from the next sign-in after. Returns what was stored.
 */
export async function applySsoGrants(repos: Repos, userId: number, grants: Grants): Promise<Grants> {
  const existing = new Set((await repos.apps.findMany([...grants.apps.keys()])).map((app) => app.id));
  const apps = new Map<string, Role>([...grants.apps].filter(([appId]) => existing.has(appId)));
  const stored: Grants = { serverAdmin: grants.serverAdmin, allApps: grants.allApps, apps };
  await repos.users.setGrantColumns(userId, grantColumns(stored));
  await repos.grants.replace({ userId }, apps);
  return stored;
}
