import type { Kysely } from 'kysely';
import type { SecretBox } from '../crypto/secret-box.js';
import type { Database, UserRow } from './schema.js';
import { now } from './time.js';

/**
 * The associated data of a user's sealed TOTP secret (src/crypto/secret-box.ts): bound to the user,
 * so that a sealed secret copied into another user's row does not open there.
 */
export const totpSecretPurpose = (userId: number): string => `totp-secret:user:${userId}`;

/** How start-up and the code check name a user's stored TOTP secret in their errors. */
export const totpSecretWhere = (userId: number): string => `users.totp_secret of user ${userId}`;

export class UsersRepo {
  /**
   * `secrets`: with OVERAIR_SECRET_KEY, TOTP secrets are stored sealed; rows keep them sealed, and
   * openTotpSecret opens one only where a code is checked.
   */
  constructor(
    private readonly db: Kysely<Database>,
    private readonly secrets: SecretBox | null = null,
  ) {}

  findByName(username: string): Promise<UserRow | undefined> {
    return this.db.selectFrom('users').selectAll().where('username', '=', username).executeTakeFirst();
  }

  findById(id: number): Promise<UserRow | undefined> {
    return this.db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst();
  }

  /** The user of a single sign-on identity: the provider's issuer and the user's subject there. */
  findByIdentity(issuer: string, subject: string): Promise<UserRow | undefined> {
    return this.db
      .selectFrom('users')
      .selectAll()
      .where('oidc_issuer', '=', issuer)
      .where('oidc_subject', '=', subject)
      .executeTakeFirst();
  }

  list(): Promise<UserRow[]> {
    return this.db.selectFrom('users').selectAll().orderBy('id').execute();
  }

  /** How many users there are (`serverAdmins`: how many are server admins). */
  async count(serverAdmins = false): Promise<number> {
    let query = this.db.selectFrom('users').select((eb) => eb.fn.countAll<number>().as('n'));
    if (serverAdmins) query = query.where('server_admin', '=', 1);
    return Number((await query.executeTakeFirstOrThrow()).n);
  }

  insert(
    user: Pick<UserRow, 'username' | 'password_hash' | 'server_admin' | 'all_apps_role'> &
      Partial<Pick<UserRow, 'oidc_issuer' | 'oidc_subject'>>,
  ): Promise<UserRow> {
    const at = now();
    return this.db
      .insertInto('users')
      .values({ ...user, created_at: at, password_changed_at: at })
      .returningAll()
      .executeTakeFirstOrThrow();
  }

  /** Sets the server-admin flag and the all-apps role (the per-app roles are in GrantsRepo). */
  async setGrantColumns(id: number, columns: Pick<UserRow, 'server_admin' | 'all_apps_role'>): Promise<void> {
    await this.db.updateTable('users').set(columns).where('id', '=', id).execute();
  }

  async setPassword(id: number, passwordHash: string): Promise<void> {
    await this.db
      .updateTable('users')
      .set({ password_hash: passwordHash, password_changed_at: now() })
      .where('id', '=', id)
      .execute();
  }

  /** Deletes the user; their sessions go with them (foreign key cascade). */
  async delete(id: number): Promise<boolean> {
    const result = await this.db.deleteFrom('users').where('id', '=', id).executeTakeFirst();
    return result.numDeletedRows > 0n;
  }

  /**
   * Sets (an enrolment starts) or clears the TOTP secret, sealed with OVERAIR_SECRET_KEY when set;
   * two-factor sign-in stays as it was.
   */
  async setTotpSecret(id: number, secret: string | null): Promise<void> {
    const stored =
      secret !== null && this.secrets ? this.secrets.seal(secret, totpSecretPurpose(id)) : secret;
    await this.db.updateTable('users').set({ totp_secret: stored }).where('id', '=', id).execute();
  }

  /** The plain TOTP secret of a user's stored one (sealed or plain), to check a code with. */
  openTotpSecret(id: number, stored: string): string {
    return this.secrets ? this.secrets.open(stored, totpSecretPurpose(id), totpSecretWhere(id)) : stored;
  }

  /** Every stored TOTP secret (sealed or plain) with its user's id: what start-up checks and seals. */
  storedTotpSecrets(): Promise<{ id: number; totp_secret: string }[]> {
    return this.db
      .selectFrom('users')
      .select(['id', 'totp_secret'])
      .where('totp_secret', 'is not', null)
      .orderBy('id')
      .$narrowType<{ totp_secret: string }>()
      .execute();
  }

  /** Replaces a stored TOTP secret by its sealed form, unless it changed since it was read. */
  async replaceTotpSecret(id: number, stored: string, sealed: string): Promise<void> {
    await this.db
      .updateTable('users')
      .set({ totp_secret: sealed })
      .where('id', '=', id)
      .where('totp_secret', '=', stored)
      .execute();
  }

  /** Turns two-factor sign-in on with the secret stored, the step of the code that confirmed it. */
  async enableTotp(id: number, step: number): Promise<void> {
    await this.db
      .updateTable('users')
      .set({ totp_enabled_at: now(), totp_last_step: step })
      .where('id', '=', id)
      .execute();
  }

  /** Turns two-factor sign-in off: the secret, its last step and the recovery codes go. */
  async disableTotp(id: number): Promise<void> {
    await this.db
      .updateTable('users')
      .set({ totp_secret: null, totp_enabled_at: null, totp_last_step: null })
      .where('id', '=', id)
      .execute();
    await this.db.deleteFrom('recovery_codes').where('user_id', '=', id).execute();
  }

  /**
   * Records that a code of `step` was accepted, unless one of that step or a later one already was:
   * one conditional update, so two instances (or two requests) cannot both accept the same code.
   */
  async acceptTotpStep(id: number, step: number): Promise<boolean> {
    const result = await this.db
      .updateTable('users')
      .set({ totp_last_step: step })
      .where('id', '=', id)
      .where((eb) => eb.or([eb('totp_last_step', 'is', null), eb('totp_last_step', '<', step)]))
      .executeTakeFirst();
    return result.numUpdatedRows > 0n;
  }

  /** Replaces a user's recovery codes with new ones (their hashes). */
  async replaceRecoveryCodes(userId: number, hashes: string[]): Promise<void> {
    await this.db.deleteFrom('recovery_codes').where('user_id', '=', userId).execute();
    const at = now();
    await this.db
      .insertInto('recovery_codes')
      .values(hashes.map((hash) => ({ user_id: userId, hash, created_at: at })))
      .execute();
  }

  /** Uses up a recovery code of the user: true when it was theirs and still unused. */
  async useRecoveryCode(userId: number, hash: string): Promise<boolean> {
    const result = await this.db
      .updateTable('recovery_codes')
      .set({ used_at: now() })
      .where('user_id', '=', userId)
      .where('hash', '=', hash)
      .where('used_at', 'is', null)
      .executeTakeFirst();
    return result.numUpdatedRows > 0n;
  }

  async unusedRecoveryCodes(userId: number): Promise<number> {
    const row = await this.db
      .selectFrom('recovery_codes')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('user_id', '=', userId)
      .where('used_at', 'is', null)
      .executeTakeFirstOrThrow();
    return Number(row.n);
  }
}
