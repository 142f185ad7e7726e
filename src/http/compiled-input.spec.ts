import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { compileAsSent } from './compiled-input.js';
import { deviceInfo, deviceInfoAsSent } from './schemas.js';

const infoAsSent = compileAsSent(deviceInfoAsSent, deviceInfo);

/** What the Capgo plugin sends on Android (docs/protocol.md §1.1), install_source included. */
const android = () => ({
  platform: 'android',
  device_id: '6aa8e1c5-2f0b-4a43-9d7f-4c3b9a7f2e11',
  app_id: 'com.example.app',
  custom_id: '',
  version_build: '1.2.0',
  version_code: '12',
  version_os: '14',
  version_name: '1.0.1',
  plugin_version: '7.4.2',
  is_emulator: false,
  is_prod: true,
  install_source: '',
  defaultChannel: 'production',
});

/** A small seeded generator, so that a failure can be replayed. */
function random(seed: number) {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

/** Values a field may be given, good and bad: lengths around each limit, wrong types, surrogates. */
const CANDIDATES: unknown[] = [
  '',
  'a',
  'com.example.app',
  '-starts-with-dash',
  'a/b',
  'x'.repeat(32),
  'x'.repeat(33),
  'x'.repeat(64),
  'x'.repeat(65),
  'x'.repeat(128),
  'x'.repeat(129),
  'x'.repeat(256),
  'x'.repeat(257),
  // 128 code points, 256 UTF-16 units; then one unit more than 256.
  '😀'.repeat(128),
  `${'😀'.repeat(128)}x`,
  'true',
  'false',
  true,
  false,
  0,
  1,
  null,
  [],
  {},
  ['a'],
];

/** Variants of the plugin's object: fields replaced, removed, or added. */
function variant(next: () => number): Record<string, unknown> {
  const value: Record<string, unknown> = android();
  const keys = [...Object.keys(deviceInfo.shape), 'install_source', '__proto__', 'extra'];
  const changes = 1 + Math.floor(next() * 3);
  for (let i = 0; i < changes; i++) {
    const key = keys[Math.floor(next() * keys.length)]!;
    if (next() < 0.2) delete value[key];
    else
      Object.defineProperty(value, key, {
        value: CANDIDATES[Math.floor(next() * CANDIDATES.length)],
        enumerable: true,
        configurable: true,
        writable: true,
      });
  }
  return value;
}

describe('compileAsSent: the device info fast path', () => {
  it('takes what the plugins send, extra fields left out, as zod would', () => {
    const sent = android();
    const fast = infoAsSent(sent);
    expect(fast).toBeDefined();
    expect(fast).toStrictEqual(deviceInfo.parse(sent));
    expect(fast).not.toHaveProperty('install_source');
    // With a key id, as a plugin configured with a public key sends it.
    const withKey = { ...sent, key_id: 'MIIBCgKCAQEA' };
    expect(infoAsSent(withKey)).toStrictEqual(deviceInfo.parse(withKey));
  });

  it('counts string lengths as zod does: in code points', () => {
    // 129 code points, 257 UTF-16 units, in a field of at most 256; then 257 code points.
    const emoji = { ...android(), version_name: `${'😀'.repeat(128)}x` };
    expect(infoAsSent(emoji)).toStrictEqual(deviceInfo.parse(emoji));
    const long = { ...android(), version_name: '😀'.repeat(257) };
    expect(infoAsSent(long)).toBeUndefined();
    expect(deviceInfo.safeParse(long).success).toBe(false);
  });

  it('leaves to zod what only zod accepts: missing fields, flags as strings', () => {
    const { version_os: _, ...missing } = android();
    expect(infoAsSent(missing)).toBeUndefined();
    expect(deviceInfo.safeParse(missing).success).toBe(true);
    const flags = { ...android(), is_emulator: 'false' };
    expect(infoAsSent(flags)).toBeUndefined();
    expect(deviceInfo.parse(flags).is_emulator).toBe(false);
  });

  it('never accepts what zod refuses, and gives zod output for what it accepts (20,000 variants)', () => {
    const next = random(20261207);
    let accepted = 0;
    let refused = 0;
    for (let i = 0; i < 20_000; i++) {
      const value = variant(next);
      const fast = infoAsSent(value);
      const slow = deviceInfo.safeParse(value);
      if (fast === undefined) {
        refused += slow.success ? 0 : 1;
        continue;
      }
      accepted++;
      expect(slow.success, JSON.stringify(value)).toBe(true);
      expect(fast, JSON.stringify(value)).toStrictEqual(slow.data);
    }
    // Both kinds were seen, or the sweep proves nothing.
    expect(accepted).toBeGreaterThan(1000);
    expect(refused).toBeGreaterThan(1000);
  });

  it('refuses schemas whose fields differ', () => {
    expect(() => compileAsSent(z.object({ a: z.string() }), z.object({ b: z.string() }))).toThrow(
      /same fields/,
    );
  });
});
