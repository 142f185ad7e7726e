import { createHash, createSign, generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { checkRsaPublicKey, createKeyPair, keyIdOf, verifyDigestSignature } from './capgo.js';

const pair = createKeyPair();
const bytes = Buffer.from('the bytes of a bundle zip');
const sha256 = createHash('sha256').update(bytes).digest('hex');
const sign = (data: Buffer, privateKey: string) =>
  createSign('sha256').update(data).sign(privateKey, 'base64');

describe('verifying a signature from the digest alone', () => {
  it('accepts an RSA-SHA256 signature of the bytes, as Capawesome devices verify it', () => {
    expect(verifyDigestSignature(sha256, sign(bytes, pair.privateKey), pair.publicKey)).toBe(true);
  });

  it('refuses other bytes, another key, and a signature that is not one', () => {
    const signature = sign(bytes, pair.privateKey);
    const other = createHash('sha256').update('other bytes').digest('hex');
    expect(verifyDigestSignature(other, signature, pair.publicKey)).toBe(false);
    expect(verifyDigestSignature(sha256, signature, createKeyPair().publicKey)).toBe(false);
    expect(verifyDigestSignature(sha256, 'bm90IGEgc2lnbmF0dXJl', pair.publicKey)).toBe(false);
    expect(verifyDigestSignature('not a sha256', signature, pair.publicKey)).toBe(false);
    // A SHA-1 signature of the same bytes wraps another DigestInfo.
    const sha1 = createSign('sha1').update(bytes).sign(pair.privateKey, 'base64');
    expect(verifyDigestSignature(sha256, sha1, pair.publicKey)).toBe(false);
  });

  it('takes SPKI keys (Capawesome) as well as PKCS#1 ones (Capgo)', () => {
    const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const spki = publicKey.export({ type: 'spki', format: 'pem' }).toString();
    const pem = privateKey.export({ type: 'pkcs1', format: 'pem' }).toString();
    expect(verifyDigestSignature(sha256, sign(bytes, pem), spki)).toBe(true);
  });
});

describe('a public key registered for an app', () => {
  it('is an RSA public key in PEM, kept as given', () => {
    expect(checkRsaPublicKey(`  ${pair.publicKey}\n\n`)).toBe(pair.publicKey);
    expect(keyIdOf(checkRsaPublicKey(pair.publicKey))).toMatch(/^MIIBCgKCAQEA/);
  });

  it('is refused when it is a private key, not a key, or not RSA', () => {
    expect(() => checkRsaPublicKey(pair.privateKey)).toThrow(/private key/);
    expect(() => checkRsaPublicKey('hello')).toThrow(/not an RSA public key/);
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' })
      .publicKey.export({ type: 'spki', format: 'pem' })
      .toString();
    expect(() => checkRsaPublicKey(ec)).toThrow(/not an RSA key/);
  });
});
