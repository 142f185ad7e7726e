import { describe, expect, it } from 'vitest';
import { AddressLimiter, IN_FLIGHT_RETRY_MS, addressKey } from './auth-limiter.js';

function limiter(maxFailures = 3, maxEntries?: number) {
  const clock = { now: 1_000_000 };
  const limit = new AddressLimiter({ maxFailures, windowMs: 60_000, maxEntries, now: () => clock.now });
  return { limit, clock };
}

describe('AddressLimiter', () => {
  it('blocks an address for one window from its Nth failure in a window', () => {
    const { limit, clock } = limiter();
    limit.record('10.0.0.1');
    clock.now += 10_000;
    limit.record('10.0.0.1');
    expect(limit.retryAfterMs('10.0.0.1')).toBe(0);
    clock.now += 10_000;
    limit.record('10.0.0.1');
    expect(limit.retryAfterMs('10.0.0.1')).toBe(60_000);
    expect(limit.retryAfterMs('10.0.0.2')).toBe(0);
    clock.now += 59_999;
    expect(limit.retryAfterMs('10.0.0.1')).toBe(1);
    clock.now += 1;
    expect(limit.retryAfterMs('10.0.0.1')).toBe(0);
  });

  it('holds one of the failures left per attempt in flight, and frees it when the attempt succeeds', () => {
    const { limit } = limiter();
    limit.record('10.0.0.1');
    expect(limit.begin('10.0.0.1')).toBe(0);
    expect(limit.begin('10.0.0.1')).toBe(0);
    // One failure and two attempts in flight reach the limit of 3: a fourth waits.
    expect(limit.begin('10.0.0.1')).toBe(IN_FLIGHT_RETRY_MS);
    expect(limit.begin('10.0.0.2')).toBe(0);
    limit.end('10.0.0.1', false);
    expect(limit.begin('10.0.0.1')).toBe(0);
    limit.end('10.0.0.1', true);
    limit.end('10.0.0.1', true);
    // Three failures: blocked for the window, as by record().
    expect(limit.retryAfterMs('10.0.0.1')).toBe(60_000);
    expect(limit.begin('10.0.0.1')).toBe(60_000);
  });

  it('forgets failures older than the window', () => {
    const { limit, clock } = limiter();
    limit.record('10.0.0.1');
    limit.record('10.0.0.1');
    clock.now += 60_000;
    limit.record('10.0.0.1');
    limit.record('10.0.0.1');
    expect(limit.retryAfterMs('10.0.0.1')).toBe(0);
    limit.record('10.0.0.1');
    expect(limit.retryAfterMs('10.0.0.1')).toBe(60_000);
  });

  it('keeps at most maxEntries addresses, dropping stale ones first, then the oldest', () => {
    const { limit, clock } = limiter(3, 100);
    for (let i = 0; i < 1000; i++) limit.record(`10.0.${i >> 8}.${i & 255}`);
    expect(limit.size).toBe(100);
    // The most recent addresses are the ones kept.
    for (let i = 0; i < 2; i++) limit.record('10.0.3.231');
    expect(limit.retryAfterMs('10.0.3.231')).toBe(60_000);
    clock.now += 120_000;
    limit.record('192.0.2.1');
    expect(limit.size).toBe(1);
  });

  it('does nothing when off (0 failures allowed)', () => {
    const { limit } = limiter(0);
    for (let i = 0; i < 50; i++) limit.record('10.0.0.1');
    expect(limit.enabled).toBe(false);
    expect(limit.retryAfterMs('10.0.0.1')).toBe(0);
    expect(limit.size).toBe(0);
  });
});

describe('addressKey', () => {
  it.each([
    ['192.0.2.1', '192.0.2.1'],
    ['::ffff:192.0.2.1', '192.0.2.1'],
    ['2001:db8:1:2:3:4:5:6', '2001:db8:1:2::/64'],
    ['2001:DB8:1:2::9', '2001:db8:1:2::/64'],
    ['2001:db8::1', '2001:db8:0:0::/64'],
    ['::1', '0:0:0:0::/64'],
    ['fe80::1%eth0', 'fe80:0:0:0::/64'],
    ['unknown', 'unknown'],
  ])('%s counts as %s', (address, key) => {
    expect(addressKey(address)).toBe(key);
  });
});
