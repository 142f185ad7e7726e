import { randomBytes } from 'node:crypto';
import { Secret, TOTP } from 'otpauth';
import QRCode from 'qrcode';
import { sha256Hex } from './hash.js';

/**
 * Two-factor sign-in with time-based one-time passwords (RFC 6238, through `otpauth`): SHA-1, six
 * digits, 30-second steps, the parameters every authenticator app supports. A code is accepted for
 * the step before, the current one and the one after (clocks drift); which step it matched is
 * returned so that the caller can refuse a code already used (its step not after the last one
 * accepted).
 */
const PERIOD_SECONDS = 30;
const DIGITS = 6;
const ISSUER = 'Overair';

const totpOf = (secret: string, label = '') =>
  new TOTP({
    issuer: ISSUER,
    label,
    algorithm: 'SHA1',
    digits: DIGITS,
    period: PERIOD_SECONDS,
    secret: Secret.fromBase32(secret),
  });

/** A new secret: 20 random bytes (160 bits, RFC 4226's recommendation), base32. */
export function newTotpSecret(): string {
  return new Secret({ size: 20 }).base32;
}

/** The otpauth:// URI an authenticator app reads (from the QR code), labelled with the user name. */
export function totpUri(secret: string, username: string): string {
  return totpOf(secret, username).toString();
}

/** The QR code of that URI, as an SVG data: URL the dashboard shows in an <img>. */
export async function totpQrDataUrl(uri: string): Promise<string> {
  const svg = await QRCode.toString(uri, { type: 'svg', errorCorrectionLevel: 'M', margin: 2 });
  return `data:image/svg+xml;base64,${Buffer.from(svg).toString('base64')}`;
}

/** Whether a string has the shape of a TOTP code (six digits, spaces allowed between). */
export const looksLikeTotpCode = (code: string): boolean => /^\d{6}$/.test(code.replace(/\s/g, ''));

/**
 * The time step a code is valid for at `now` (within one step either side), or null. The caller
 * must still refuse a step that is not after the last one it accepted.
 */
export function matchingTotpStep(secret: string, code: string, now = Date.now()): number | null {
  const token = code.replace(/\s/g, '');
  if (!/^\d{6}$/.test(token)) return null;
  const delta = totpOf(secret).validate({ token, timestamp: now, window: 1 });
  return delta === null ? null : Math.floor(now / 1000 / PERIOD_SECONDS) + delta;
}

const RECOVERY_ALPHABET = 'abcdefghijklmnopqrstuvwxyz234567';
const RECOVERY_CODE_COUNT = 10;

/**
 * Recovery codes: 16 characters of base32 (80 random bits) shown as `xxxx-xxxx-xxxx-xxxx`. 80 bits
 * cannot be searched even from a database copy, so a plain sha256 stores them safely, as for tokens.
 */
export function newRecoveryCodes(): string[] {
  return Array.from({ length: RECOVERY_CODE_COUNT }, () => {
    const chars = [...randomBytes(16)].map((byte) => RECOVERY_ALPHABET[byte & 31]).join('');
    return chars.match(/.{4}/g)!.join('-');
  });
}

/** The hash a recovery code is stored under: case, spaces and dashes do not matter. */
export function hashRecoveryCode(code: string): string {
  return sha256Hex(code.toLowerCase().replace(/[\s-]/g, ''));
}
