import type { Repos } from '../db/index.js';
import type { Grants } from '../domain/roles.js';
import { scopeForGrants } from '../domain/sso.js';

/**
 * Stores the grants a single sign-on gives a user, replacing what they held: the one place SSO writes
 * roles (docs/sso.md). Until per-app roles are stored, it writes the user's single scope with what
 * best stands for the grants, never more (scopeForGrants); grants that a scope cannot say (roles on
 * single apps alone) are not stored and the answer is false: the sign-in is then refused.
 * TODO(teams): with per-app roles stored, this becomes `repos.users.setGrants(userId, grants)`.
 */
export async function applySsoGrants(repos: Repos, userId: number, grants: Grants): Promise<boolean> {
  const scope = scopeForGrants(grants);
  if (scope === null) return false;
  await repos.users.setScope(userId, scope);
  return true;
}
