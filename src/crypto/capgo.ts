import {
  constants,
  createCipheriv,
  createDecipheriv,
  createPrivateKey,
  createPublicKey,
  createSign,
  createVerify,
  generateKeyPairSync,
  privateEncrypt,
  publicDecrypt,
  randomBytes,
  type KeyObject,
} from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { SHA256_HEX } from './hash.js';
import { CryptoInputError } from './input-error.js';

/**
 * Bundle encryption as @capgo/cli 8.x does it and @capgo/capacitor-updater undoes it
 * (docs/protocol-capgo-sources.md §6): AES-128-CBC over the zip with a random key and IV; the key
 * is RSA-"encrypted" with the PKCS#1 v1.5 private-key operation, so devices recover it with the
 * public key shipped in the app; the zip's sha256 is sealed the same way (format V3: hex of the
 * 256-byte block). Anyone holding the public key can decrypt: this proves the bundle came from the
 * key holder and hides it from everyone without the app, which is what the plugin verifies.
 */

export interface KeyPair {
  /** PKCS#1 PEM ("-----BEGIN RSA PRIVATE KEY-----"), the Capgo CLI's `.capgo_key_v2`. */
  privateKey: string;
  /** PKCS#1 PEM ("-----BEGIN RSA PUBLIC KEY-----"), the Capgo CLI's `.capgo_key_v2.pub`. */
  publicKey: string;
}

/** A 2048-bit RSA key pair in the formats and sizes the plugin accepts (iOS requires 2048 bits). */
export function createKeyPair(): KeyPair {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return {
    privateKey: privateKey.export({ type: 'pkcs1', format: 'pem' }).toString(),
    publicKey: publicKey.export({ type: 'pkcs1', format: 'pem' }).toString(),
  };
}

function loadPrivateKey(pem: string): KeyObject {
  try {
    return createPrivateKey(pem);
  } catch {
    throw new CryptoInputError('not an RSA private key in PEM format');
  }
}

export function loadPublicKey(pem: string): KeyObject {
  try {
    return createPublicKey(pem);
  } catch {
    throw new CryptoInputError('not an RSA public key in PEM format');
  }
}

/** The public half of a private key, as the PKCS#1 PEM the plugin's config takes. */
export function publicKeyOf(privateKeyPem: string): string {
  return createPublicKey(loadPrivateKey(privateKeyPem)).export({ type: 'pkcs1', format: 'pem' }).toString();
}

/** The plugin's key id: the first 20 characters of the PKCS#1 public key's base64 body. */
export function keyIdOf(publicKeyPem: string): string {
  const pkcs1 = loadPublicKey(publicKeyPem).export({ type: 'pkcs1', format: 'pem' }).toString();
  return pkcs1
    .replace(/-----(BEGIN|END)[^-]*-----/g, '')
    .replace(/\s+/g, '')
    .slice(0, 20);
}

const RSA_PAD = constants.RSA_PKCS1_PADDING;

/** Seals a plain sha256 (hex) with the private key: format V3, 512 hex characters. */
function encryptChecksum(sha256Hex: string, privateKey: KeyObject): string {
  if (!SHA256_HEX.test(sha256Hex))
    throw new CryptoInputError('the checksum must be a sha256 in 64 hex characters');
  return privateEncrypt({ key: privateKey, padding: RSA_PAD }, Buffer.from(sha256Hex, 'hex')).toString('hex');
}

/** Opens a sealed checksum with the public key (V3 hex, or V2 base64 from old CLIs), as the plugin does. */
export function decryptChecksum(sealed: string, publicKey: KeyObject): string {
  const block = /^[0-9a-fA-F]+$/.test(sealed) ? Buffer.from(sealed, 'hex') : Buffer.from(sealed, 'base64');
  if (block.length !== 256) throw new CryptoInputError('the checksum is not an encrypted 256-byte block');
  try {
    return publicDecrypt({ key: publicKey, padding: RSA_PAD }, block).toString('hex');
  } catch {
    throw new CryptoInputError('the checksum was not encrypted with the private key of this public key');
  }
}

interface SessionKey {
  iv: Buffer;
  key: Buffer;
}

/** Opens an ivSessionKey ("base64(iv):base64(sealed key)") with the public key. */
function openSessionKey(ivSessionKey: string, publicKey: KeyObject): SessionKey {
  const [ivText, sealedText, ...rest] = ivSessionKey.split(':');
  const iv = Buffer.from(ivText ?? '', 'base64');
  if (rest.length > 0 || !sealedText || iv.length !== 16) {
    throw new CryptoInputError('the session key must be base64(16-byte IV):base64(encrypted key)');
  }
  let key: Buffer;
  try {
    key = publicDecrypt({ key: publicKey, padding: RSA_PAD }, Buffer.from(sealedText, 'base64'));
  } catch {
    throw new CryptoInputError('the session key was not encrypted with the private key of this public key');
  }
  if (key.length !== 16) throw new CryptoInputError('the session key does not hold a 16-byte AES key');
  return { iv, key };
}

function sealSessionKey(session: SessionKey, privateKey: KeyObject): string {
  const sealed = privateEncrypt({ key: privateKey, padding: RSA_PAD }, session.key);
  return `${session.iv.toString('base64')}:${sealed.toString('base64')}`;
}

export interface EncryptedBundle {
  /** Sent to devices as `session_key`. */
  ivSessionKey: string;
  /** Sent to devices as `checksum`. */
  checksum: string;
}

/**
 * Encrypts a bundle zip file into `output`, streaming (memory stays flat), with a fresh session key.
 * `plainSha256` is the zip's own sha256, sealed into the checksum the device verifies after decrypting.
 */
export async function encryptBundleFile(
  input: string,
  output: string,
  privateKeyPem: string,
  plainSha256: string,
): Promise<EncryptedBundle> {
  const privateKey = loadPrivateKey(privateKeyPem);
  const checksum = encryptChecksum(plainSha256, privateKey);
  const session = { iv: randomBytes(16), key: randomBytes(16) };
  await pipeline(
    createReadStream(input),
    createCipheriv('aes-128-cbc', session.key, session.iv),
    createWriteStream(output),
  );
  return { ivSessionKey: sealSessionKey(session, privateKey), checksum };
}

/** Decrypts a bundle file with the public key only, as a device does. */
export async function decryptBundleFile(
  input: string,
  output: string,
  ivSessionKey: string,
  publicKeyPem: string,
): Promise<void> {
  const session = openSessionKey(ivSessionKey, loadPublicKey(publicKeyPem));
  try {
    await pipeline(
      createReadStream(input),
      createDecipheriv('aes-128-cbc', session.key, session.iv),
      createWriteStream(output),
    );
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw error;
    throw new CryptoInputError(
      'the bundle does not decrypt with this session key (corrupted or not encrypted)',
    );
  }
}

/** Code signing as Capawesome does it: RSA-SHA256 over the file's bytes, base64. */
export async function signFile(file: string, privateKeyPem: string): Promise<string> {
  const signer = createSign('sha256');
  await pipeline(createReadStream(file), signer);
  return signer.sign(loadPrivateKey(privateKeyPem), 'base64');
}

export async function verifyFileSignature(
  file: string,
  signature: string,
  publicKeyPem: string,
): Promise<boolean> {
  const verifier = createVerify('sha256');
  await pipeline(createReadStream(file), verifier);
  return verifier.verify(loadPublicKey(publicKeyPem), signature, 'base64');
}

/** DER prefix of a SHA-256 DigestInfo (RFC 8017 §9.2): what an RSA PKCS#1 v1.5 signature wraps. */
const SHA256_DIGEST_INFO = Buffer.from('3031300d060960864801650304020105000420', 'hex');

/**
 * Whether `signature` (base64) is an RSA-SHA256 (PKCS#1 v1.5) signature of bytes whose sha256 is
 * `sha256Hex`: the same test as `verifyFileSignature`, from the digest alone, so a bundle can be
 * checked without its bytes (an external one, or one already stored).
 */
export function verifyDigestSignature(sha256Hex: string, signature: string, publicKeyPem: string): boolean {
  if (!SHA256_HEX.test(sha256Hex)) return false;
  let recovered: Buffer;
  try {
    recovered = publicDecrypt(
      { key: loadPublicKey(publicKeyPem), padding: RSA_PAD },
      Buffer.from(signature, 'base64'),
    );
  } catch {
    return false;
  }
  return recovered.equals(Buffer.concat([SHA256_DIGEST_INFO, Buffer.from(sha256Hex, 'hex')]));
}

/**
 * Why an encrypted bundle's session key and checksum were not sealed by the private half of this
 * public key (so a device holding it could not decrypt and verify the bundle), or null when they were.
 */
export function sealedWithProblem(
  sealed: { sessionKey: string; checksum: string },
  publicKeyPem: string,
): string | null {
  try {
    const key = loadPublicKey(publicKeyPem);
    openSessionKey(sealed.sessionKey, key);
    decryptChecksum(sealed.checksum, key);
    return null;
  } catch (error) {
    if (error instanceof CryptoInputError) return error.message;
    throw error;
  }
}

/**
 * An RSA public key as registered for an app: PEM (PKCS#1 or SPKI), RSA. Returns the PEM trimmed,
 * with one final newline; throws CryptoInputError for anything else (a private key included).
 */
export function checkRsaPublicKey(pem: string): string {
  if (pem.includes('PRIVATE KEY')) throw new CryptoInputError('this is a private key: give the public key');
  const trimmed = `${pem.trim()}\n`;
  const key = loadPublicKey(trimmed);
  if (key.asymmetricKeyType !== 'rsa') throw new CryptoInputError('not an RSA key');
  return trimmed;
}
