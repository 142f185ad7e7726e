import { hashPassword, UNMATCHABLE_HASH, verifyPassword } from '../crypto/passwords.js';
import { isUniqueViolation, type Repos } from '../db/index.js';
import type { UserRow } from '../db/schema.js';
import { passwordProblem, usernameProblem } from '../domain/users.js';
import { errors } from '../errors.js';
import { BOOTSTRAP_LOCK, type Scope } from './tokens.js';

/** A user as the API shows them: never the password hash nor the TOTP secret. */
export type PublicUser = Pick<UserRow, 'id' | 'username' | 'scope' | 'created_at' | 'password_changed_at'> & {
  totp_enabled: boolean;
};

const publicUser = (user: UserRow): PublicUser => ({
  id: user.id,
  username: user.username,
  scope: user.scope,
  created_at: user.created_at,
  password_changed_at: user.password_changed_at,
  totp_enabled: user.totp_enabled_at !== null,
});

function checkNew(username: string, password: string): void {
  const problem = usernameProblem(username) ?? passwordProblem(password);
  if (problem) throw errors.invalidRequest({ problem });
}

/** Dashboard users: scrypt-hashed passwords, one of the token scopes each. */
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

  async list(): Promise<PublicUser[]> {
    return (await this.repos.users.list()).map(publicUser);
  }

  async create(username: string, password: string, scope: Scope, actor: string): Promise<PublicUser> {
    checkNew(username, password);
    const exists = () => errors.userExists({ username });
    if (await this.repos.users.findByName(username)) throw exists();
    // Hashed before the transaction: scrypt takes a while, and must not hold the write lock.
    const passwordHash = await hashPassword(password);
    try {
      return await this.repos.transaction(async (repos) => {
        const user = await repos.users.insert({ username, password_hash: passwordHash, scope });
        await repos.audit.record({ actor, action: 'user.create', target: username, detail: { scope } });
        return publicUser(user);
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
      if (user.scope === 'admin' && (await repos.users.count('admin')) === 1) {
        throw errors.lastAdminUser();
      }
      await repos.users.delete(user.id);
      await repos.audit.record({
        actor,
        action: 'user.delete',
        target: username,
        detail: { scope: user.scope },
      });
    });
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
      await repos.users.insert({ username, password_hash: passwordHash, scope: 'admin' });
      await repos.audit.record({
        actor: 'overair',
        action: 'user.create',
        target: username,
        detail: { scope: 'admin' },
      });
      return true;
    });
  }
}
