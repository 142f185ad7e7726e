import type { Repos } from '../db/index.js';
import type { UserRow } from '../db/schema.js';
import {
  hashRecoveryCode,
  looksLikeTotpCode,
  matchingTotpStep,
  newRecoveryCodes,
  newTotpSecret,
  totpQrDataUrl,
  totpUri,
} from '../crypto/totp.js';
import { errors } from '../errors.js';

export interface TotpStatus {
  enabled: boolean;
  /** An enrolment was started and not confirmed yet. */
  enrolling: boolean;
  enabled_at: string | null;
  recovery_codes_left: number;
}

export interface TotpEnrolment {
  /** Base32, for typing into an authenticator app by hand. */
  secret: string;
  otpauth_uri: string;
  /** The URI as a QR code: an SVG `data:` URL. */
  qr_code: string;
}

/**
 * Two-factor sign-in of dashboard users (docs/security.md#two-factor-sign-in): enrolment (a secret,
 * confirmed with a first code, which also hands out ten one-time recovery codes), the code check of
 * a sign-in, turning it off. A TOTP code is accepted once: its time step must be after the last one
 * accepted for the user, recorded by one conditional update.
 */
export class TotpService {
  constructor(private readonly repos: Repos) {}

  private async user(userId: number): Promise<UserRow> {
    const user = await this.repos.users.findById(userId);
    // The session's user was just resolved; gone now means deleted in between.
    if (!user) throw errors.invalidSession();
    return user;
  }

  async status(userId: number): Promise<TotpStatus> {
    const user = await this.user(userId);
    const enabled = user.totp_enabled_at !== null;
    return {
      enabled,
      enrolling: !enabled && user.totp_secret !== null,
      enabled_at: user.totp_enabled_at,
      recovery_codes_left: enabled ? await this.repos.users.unusedRecoveryCodes(userId) : 0,
    };
  }

  /** Starts (or restarts) an enrolment: a new secret, not in force until confirmed. */
  async startEnrolment(userId: number): Promise<TotpEnrolment> {
    const user = await this.user(userId);
    if (user.totp_enabled_at !== null) throw errors.totpAlreadyEnabled();
    const secret = newTotpSecret();
    await this.repos.users.setTotpSecret(userId, secret);
    const uri = totpUri(secret, user.username);
    return { secret, otpauth_uri: uri, qr_code: await totpQrDataUrl(uri) };
  }

  /**
   * Confirms the enrolment with a code of the new secret: two-factor sign-in is on, and the ten
   * recovery codes are returned (the only time they are shown). Null for a wrong code.
   */
  async confirm(userId: number, code: string, actor: string): Promise<string[] | null> {
    const user = await this.user(userId);
    if (user.totp_enabled_at !== null) throw errors.totpAlreadyEnabled();
    if (user.totp_secret === null) throw errors.totpNotEnabled({ enrolling: true });
    const step = matchingTotpStep(this.repos.users.openTotpSecret(user.id, user.totp_secret), code);
    if (step === null) return null;
    const codes = newRecoveryCodes();
    await this.repos.transaction(async (repos) => {
      await repos.users.enableTotp(userId, step);
      await repos.users.replaceRecoveryCodes(userId, codes.map(hashRecoveryCode));
      await repos.audit.record({ actor, action: 'user.totp_enable', target: user.username });
    });
    return codes;
  }

  /**
   * Whether `code` is a valid second factor for the user now: a TOTP code of a step after the last
   * one accepted (which it then becomes), or an unused recovery code (which is then used up).
   */
  async checkCode(user: Pick<UserRow, 'id' | 'username' | 'totp_secret'>, code: string): Promise<boolean> {
    if (user.totp_secret === null) return false;
    if (looksLikeTotpCode(code)) {
      const step = matchingTotpStep(this.repos.users.openTotpSecret(user.id, user.totp_secret), code);
      return step !== null && (await this.repos.users.acceptTotpStep(user.id, step));
    }
    if (code.length > 64) return false;
    const used = await this.repos.users.useRecoveryCode(user.id, hashRecoveryCode(code));
    if (used) {
      const left = await this.repos.users.unusedRecoveryCodes(user.id);
      await this.repos.audit.record({
        actor: `user:${user.username}`,
        action: 'user.recovery_code_use',
        target: user.username,
        detail: { left },
      });
    }
    return used;
  }

  /** Turns two-factor sign-in off with a current code or a recovery code; false for a wrong one. */
  async disable(userId: number, code: string, actor: string): Promise<boolean> {
    const user = await this.user(userId);
    if (user.totp_enabled_at === null) throw errors.totpNotEnabled({ enrolling: false });
    if (!(await this.checkCode(user, code))) return false;
    await this.repos.transaction(async (repos) => {
      await repos.users.disableTotp(userId);
      await repos.audit.record({ actor, action: 'user.totp_disable', target: user.username });
    });
    return true;
  }

  /**
   * An admin turns a user's two-factor sign-in off (a lost phone and lost recovery codes); the
   * user's sessions end, so that whoever holds one must sign in again.
   */
  async reset(username: string, actor: string): Promise<void> {
    await this.repos.transaction(async (repos) => {
      const user = await repos.users.findByName(username);
      if (!user) throw errors.userNotFound({ username });
      if (user.totp_enabled_at === null && user.totp_secret === null) {
        throw errors.totpNotEnabled({ enrolling: false });
      }
      await repos.users.disableTotp(user.id);
      const ended = await repos.sessions.deleteForUser(user.id);
      await repos.audit.record({
        actor,
        action: 'user.totp_reset',
        target: username,
        detail: { sessions_ended: ended },
      });
    });
  }
}
