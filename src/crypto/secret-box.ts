import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import { safeEqual } from './hash.js';

/**
 * Encryption at rest of the secrets the server must be able to use again (the download-link key,
 * webhook signing secrets, users' TOTP secrets), under a key derived from OVERAIR_SECRET_KEY. A sealed value is
 * `enc:v1:KEYID:IV:CIPHERTEXT:TAG` (base64url parts): AES-256-GCM with a random 96-bit IV, the
 * value's purpose as associated data (a sealed webhook secret cannot be passed off as the download
 * key), and KEYID, a fingerprint derived from the setting, so that a wrong key is told apart from a
 * damaged value. Plain values have no such prefix: both can coexist while plain ones are sealed.
 */
export const SEALED_PREFIX = 'enc:v1:';

/** Why a sealed value cannot be opened: start-up stops on it with this message. */
export class SecretKeyError extends Error {
  override name = 'SecretKeyError';
}

const SALT = Buffer.from('overair secret key v1');

export class SecretBox {
  private readonly key: Buffer;
  /** A fingerprint of the key: stored with each value to say which key sealed it. */
  readonly keyId: string;

  /** `setting` is OVERAIR_SECRET_KEY as given (32+ characters, checked by the configuration). */
  constructor(setting: string) {
    const ikm = Buffer.from(setting, 'utf8');
    this.key = Buffer.from(hkdfSync('sha256', ikm, SALT, 'overair secrets aes-256-gcm', 32));
    this.keyId = Buffer.from(hkdfSync('sha256', ikm, SALT, 'overair secrets key id', 6)).toString(
      'base64url',
    );
  }

  /** Whether a stored value is sealed (by any key), as opposed to plain. */
  static isSealed(stored: string): boolean {
    return stored.startsWith(SEALED_PREFIX);
  }

  /** Seals `plain` for `purpose` (e.g. `webhook-secret`); a new IV every time. */
  seal(plain: string, purpose: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    cipher.setAAD(Buffer.from(purpose));
    const body = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
    const parts = [this.keyId, iv, body, cipher.getAuthTag()].map((part) =>
      typeof part === 'string' ? part : part.toString('base64url'),
    );
    return SEALED_PREFIX + parts.join(':');
  }

  /** The plain value of a sealed one; a plain value is answered as it is. */
  open(stored: string, purpose: string, where: string): string {
    if (!SecretBox.isSealed(stored)) return stored;
    const parts = stored.slice(SEALED_PREFIX.length).split(':');
    if (parts.length !== 4) throw new SecretKeyError(`${where}: the encrypted value is damaged`);
    const [keyId, iv, body, tag] = parts as [string, string, string, string];
    if (!safeEqual(keyId, this.keyId)) {
      throw new SecretKeyError(
        `${where} was encrypted with another OVERAIR_SECRET_KEY (key id ${keyId}, this key's is ${this.keyId}): ` +
          'start with the key it was encrypted with',
      );
    }
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.key, Buffer.from(iv, 'base64url'));
      decipher.setAAD(Buffer.from(purpose));
      decipher.setAuthTag(Buffer.from(tag, 'base64url'));
      return Buffer.concat([decipher.update(Buffer.from(body, 'base64url')), decipher.final()]).toString(
        'utf8',
      );
    } catch {
      throw new SecretKeyError(
        `${where}: the encrypted value does not open with OVERAIR_SECRET_KEY (damaged)`,
      );
    }
  }
}
