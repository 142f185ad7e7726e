import { randomBytes } from 'node:crypto';
import { sha256Hex } from './hash.js';

const TOKEN_PREFIX = 'oat_';

/** A new admin token secret: 32 random bytes, prefixed so leaked tokens are easy to grep for. */
export function newTokenSecret(): string {
  return TOKEN_PREFIX + randomBytes(32).toString('base64url');
}

/**
 * Tokens are 256-bit random secrets, so a plain sha256 is enough to store them safely (no password
 * stretching needed) and lets the server find a token by its hash in one indexed lookup.
 */
export function hashToken(secret: string): string {
  return sha256Hex(secret);
}
