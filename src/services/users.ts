import { hashPassword, UNMATCHABLE_HASH, verifyPassword } from '../crypto/passwords.js';
import { isUniqueViolation, type Repos } from '../db/index.js';
import type { UserRow } from '../db/schema.js';
import { grantColumns, grantsOfRow } from '../db/grants.js';
import type { Grants } from '../domain/roles.js';
import { passwordProblem, usernameProblem } from '../domain/users.js';
import { errors } from '../errors.js';
import { BOOTSTRAP_LOCK, grantsDetail, requireApps } from './tokens.js';

/** A user as the API shows them: never the password hash nor the TOTP secret. */
export type PublicUser = Pick<UserRow, 'id' | 'username' | 'created_at' | 'password_changed_at'> & {
  grants: Grants;
  totp_enabled: boolean;
};

const publicUser = (user: UserRow, grants: Grants): PublicUser => ({
  id: user.id,
  username: user.username,
  grants,
  created_at: user.created_at,
  password_changed_at: user.password_changed_at,
  totp_enabled: user.totp_enabled_at !== null,
});

/** What the first admin user (OVERAIR_ADMIN_USER) holds. */
const SERVER_ADMIN: Grants = { serverAdmin: true, allApps: 'admin', apps: new Map() };

function checkNew(username: string, password: string): void {
  const problem = usernameProblem(username) ?? passwordProblem(password);
  if (problem) throw errors.invalidRequest({ problem });
}

/** Dashboard users: scrypt-hashed passwords, and roles (src/domain/roles.ts) like tokens. */
export class UserService {
  constructor(private readonly repos: Repos) {}

  /**
   * The user a name and password belong to, or null. An unknown name still costs one scrypt run,
   * so that the time taken does not tell which names exist.
   */
  async verify(username: string, password: string): Promise<UserRow | null> {
    const user = await this.repos.users.findByName(username);
    const matches = await verifyPassword(password, user?.password_hash ?? UNMATCHABLE_HASH);
    return user && matches ? user : null;
  }

  /** The grants of one user (their row and their per-app roles). */
  async grantsOf(user: UserRow | Pick<UserRow, 'id' | 'server_admin' | 'all_apps_role'>): Promise<Grants> {
    return grantsOfRow(user, await this.repos.grants.appRoles({ userId: user.id }));
  }

  async list(): Promise<PublicUser[]> {
    const [users, appRoles] = await Promise.all([
      this.repos.users.list(),
      this.repos.grants.allAppRoles('user'),
    ]);
    return users.map((user) => publicUser(user, grantsOfRow(user, appRoles.get(user.id))));
  }

  async create(username: string, password: string, grants: Grants, actor: string): Promise<PublicUser> {
    checkNew(username, password);
    const exists = () => errors.userExists({ username });
    if (await this.repos.users.findByName(username)) throw exists();
    // Hashed before the transaction: scrypt takes a while, and must not hold the write lock.
    const passwordHash = await hashPassword(password);
    try {
      return await this.repos.transaction(async (repos) => {
        await requireApps(repos, grants);
        const user = await repos.users.insert({
          username,
          password_hash: passwordHash,
          ...grantColumns(grants),
        });
        await repos.grants.replace({ userId: user.id }, grants.apps);
        await repos.audit.record({
          actor,
          action: 'user.create',
          target: username,
          detail: { roles: grantsDetail(grants) },
        });
        return publicUser(user, grants);
      });
    } catch (error) {
      if (isUniqueViolation(error)) throw exists();
      throw error;
    }
  }

  /** Deletes a user and ends their sessions; the last admin user cannot be deleted. */
  async delete(username: string, actor: string): Promise<void> {
    await this.repos.transaction(async (repos) => {
      const user = await repos.users.findByName(username);
      if (!user) throw errors.userNotFound({ username });
      if (user.server_admin === 1 && (await repos.users.count(true)) === 1) {
        throw errors.lastAdminUser();
      }
      await repos.users.delete(user.id);
      await repos.audit.record({ actor, action: 'user.delete', target: username });
    });
  }

  /**
   * Replaces a user's roles (server admin, the role on all apps, the roles on single apps) in one
   * transaction, audited as `user.roles`; the user's sessions pick them up at their next request.
   * The last server admin user keeps server-wide admin (409 last_admin_user); a role on an app that
   * does not exist is a 404. This is also how roles from an identity provider are applied.
   */
  async setGrants(userId: number, grants: Grants, actor: string): Promise<PublicUser> {
    return this.repos.transaction(async (repos) => {
      const user = await repos.users.findById(userId);
      if (!user) throw errors.userNotFound({ username: `#${userId}` });
      if (user.server_admin === 1 && !grants.serverAdmin && (await repos.users.count(true)) === 1) {
        throw errors.lastAdminUser();
      }
      await requireApps(repos, grants);
      await repos.users.setGrantColumns(user.id, grantColumns(grants));
      await repos.grants.replace({ userId: user.id }, grants.apps);
      await repos.audit.record({
        actor,
        action: 'user.roles',
        target: user.username,
        detail: { roles: grantsDetail(grants) },
      });
      return publicUser({ ...user, ...grantColumns(grants) }, grants);
    });
  }

  /** The id of the user of this name (404 user_not_found). */
  async idOf(username: string): Promise<number> {
    const user = await this.repos.users.findByName(username);
    if (!user) throw errors.userNotFound({ username });
    return user.id;
  }

  /** Sets a new password and ends every session of the user. */
  async setPassword(username: string, password: string, actor: string): Promise<void> {
    const found = await this.repos.users.findByName(username);
    if (!found) throw errors.userNotFound({ username });
    // Their provider says who they are; a password would be a second way in that it cannot revoke.
    if (found.oidc_subject !== null) throw errors.ssoUserHasNoPassword({ username });
    const problem = passwordProblem(password);
    if (problem) throw errors.invalidRequest({ problem });
    const passwordHash = await hashPassword(password);
    await this.repos.transaction(async (repos) => {
      const user = await repos.users.findByName(username);
      if (!user) throw errors.userNotFound({ username });
      await repos.users.setPassword(user.id, passwordHash);
      const ended = await repos.sessions.deleteForUser(user.id);
      await repos.audit.record({
        actor,
        action: 'user.password',
        target: username,
        detail: { sessions_ended: ended },
      });
    });
  }

  /**
   * At start: with OVERAIR_ADMIN_USER and OVERAIR_ADMIN_PASSWORD, create that admin user when there
   * is no user at all (an existing user's password is never reset this way). True when created.
   * Instances starting together on one database take turns (the bootstrap lock): the first creates
   * the user, the others find one.
   */
  async ensureAdminUser(username: string | undefined, password: string | undefined): Promise<boolean> {
    if (!username || !password || (await this.repos.users.count()) > 0) return false;
    checkNew(username, password);
    // Hashed before the transaction: scrypt takes a while, and must not hold the lock.
    const passwordHash = await hashPassword(password);
    return this.repos.transaction(async (repos) => {
      await repos.settings.lock(BOOTSTRAP_LOCK);
      if ((await repos.users.count()) > 0) return false;
      await repos.users.insert({ username, password_hash: passwordHash, ...grantColumns(SERVER_ADMIN) });
      await repos.audit.record({
        actor: 'overair',
        action: 'user.create',
        target: username,
        detail: { roles: grantsDetail(SERVER_ADMIN) },
      });
      return true;
    });
  }
}
