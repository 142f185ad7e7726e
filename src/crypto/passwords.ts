import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';

/**
 * Password hashing with scrypt (node:crypto), stored as a self-describing string
 * `scrypt$N$r$p$SALT$HASH` (base64url salt and hash), so that stronger parameters can be adopted
 * later without breaking the hashes already stored. N=2^15 (32 MiB per hash) is above the 2^14
 * minimum of RFC 7914's interactive-login advice.
 */
const PARAMS = { N: 32_768, r: 8, p: 1 } as const;
const SALT_BYTES = 16;
const KEY_BYTES = 32;

function derive(password: string, salt: Buffer, params: { N: number; r: number; p: number }) {
  const options: ScryptOptions = { ...params, maxmem: 256 * params.N * params.r };
  return new Promise<Buffer>((resolve, reject) =>
    scrypt(password.normalize('NFC'), salt, KEY_BYTES, options, (error, key) =>
      error ? reject(error) : resolve(key),
    ),
  );
}

export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(SALT_BYTES);
  const key = await derive(password, salt, PARAMS);
  return ['scrypt', PARAMS.N, PARAMS.r, PARAMS.p, salt.toString('base64url'), key.toString('base64url')].join(
    '$',
  );
}

/**
 * Whether a password matches a stored hash, compared in constant time. A malformed or unknown
 * stored value never matches (and still costs one scrypt run, as a real check would).
 */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const parsed = parseHash(stored);
  const key = await derive(password, parsed?.salt ?? DUMMY_SALT, parsed?.params ?? PARAMS);
  if (!parsed || parsed.key.length !== key.length) return false;
  return timingSafeEqual(key, parsed.key);
}

/**
 * A well-formed hash that no password matches (its key is all zeros): checked against when the user
 * name is unknown, so that an unknown name takes as long to refuse as a wrong password.
 */
export const UNMATCHABLE_HASH = [
  'scrypt',
  PARAMS.N,
  PARAMS.r,
  PARAMS.p,
  Buffer.alloc(SALT_BYTES).toString('base64url'),
  Buffer.alloc(KEY_BYTES).toString('base64url'),
].join('$');

const DUMMY_SALT = Buffer.alloc(SALT_BYTES);

function parseHash(stored: string) {
  const [scheme, n, r, p, salt, key, ...rest] = stored.split('$');
  if (scheme !== 'scrypt' || rest.length > 0 || !salt || !key) return null;
  const params = { N: Number(n), r: Number(r), p: Number(p) };
  // Bounds that keep a tampered row from asking for gigabytes of memory.
  const powerOfTwo = Number.isInteger(params.N) && params.N >= 2 && (params.N & (params.N - 1)) === 0;
  if (
    !powerOfTwo ||
    params.N > 2 ** 20 ||
    !(params.r >= 1 && params.r <= 32) ||
    !(params.p >= 1 && params.p <= 16)
  )
    return null;
  if (!Number.isInteger(params.r) || !Number.isInteger(params.p)) return null;
  return { params, salt: Buffer.from(salt, 'base64url'), key: Buffer.from(key, 'base64url') };
}
