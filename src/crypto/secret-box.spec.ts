import { describe, expect, it } from 'vitest';
import { SEALED_PREFIX, SecretBox, SecretKeyError } from './secret-box.js';

const KEY = 'a-secret-key-of-at-least-32-characters!';

describe('SecretBox', () => {
  const box = new SecretBox(KEY);

  it('seals with a versioned prefix, a fresh IV each time, and opens again', () => {
    const one = box.seal('whsec_abc', 'webhook-secret');
    const two = box.seal('whsec_abc', 'webhook-secret');
    expect(one.startsWith(`${SEALED_PREFIX}${box.keyId}:`)).toBe(true);
    expect(one).not.toBe(two);
    expect(one).not.toContain('whsec_abc');
    expect(box.open(one, 'webhook-secret', 'w')).toBe('whsec_abc');
    expect(SecretBox.isSealed(one)).toBe(true);
    expect(SecretBox.isSealed('whsec_abc')).toBe(false);
  });

  it('answers a plain value as it is', () => {
    expect(box.open('plain', 'webhook-secret', 'w')).toBe('plain');
  });

  it('derives the same key from the same setting, and another from another', () => {
    expect(new SecretBox(KEY).keyId).toBe(box.keyId);
    const other = new SecretBox(KEY + 'x');
    expect(other.keyId).not.toBe(box.keyId);
    const sealed = box.seal('v', 'p');
    expect(() => other.open(sealed, 'p', 'settings.download_secret')).toThrow(
      /settings\.download_secret was encrypted with another OVERAIR_SECRET_KEY/,
    );
  });

  it('refuses a value sealed for another purpose, or altered', () => {
    const sealed = box.seal('v', 'download-secret');
    expect(() => box.open(sealed, 'webhook-secret', 'w')).toThrow(SecretKeyError);
    const parts = sealed.split(':');
    parts[4] = Buffer.from('x').toString('base64url');
    expect(() => box.open(parts.join(':'), 'download-secret', 'w')).toThrow(/damaged/);
    expect(() => box.open(`${SEALED_PREFIX}nonsense`, 'download-secret', 'w')).toThrow(/damaged/);
  });
});
