import { isIPv6 } from 'node:net';

export interface AuthLimiterOptions {
  /** Failures allowed in a window; the next request is refused. 0 turns the limit off. */
  maxFailures: number;
  windowMs: number;
  /** Addresses remembered at most; the least recently failing are forgotten first. */
  maxEntries?: number;
  now?: () => number;
}

interface Entry {
  failures: number;
  windowStart: number;
  /** Until when every admin request from this address is refused (0: not blocked). */
  blockedUntil: number;
}

/**
 * The Retry-After of an attempt refused because as many as the address may still fail are being
 * checked right now: those take a hash and a database read, so a second is plenty.
 */
export const IN_FLIGHT_RETRY_MS = 1000;

/**
 * Events per client address (failed admin authentications, or device requests under a configured
 * rate limit), in memory. After `maxFailures` events within a window that starts at an address's
 * first event, the address is refused for one window. For authentication only failures are
 * recorded: a success resets nothing, neither its own address (else a read token would let its
 * holder guess admin tokens without end) nor any other.
 *
 * Memory stays bounded: entries are kept in order of their last event, stale ones are dropped from
 * the front at each new one, and past `maxEntries` the oldest go first. IPv6 clients are counted
 * per /64, the block a single host usually holds, so rotating through its addresses gains nothing.
 */
export class AddressLimiter {
  private readonly entries = new Map<string, Entry>();
  /** Attempts being checked per address key; an entry lives only while one is in flight. */
  private readonly inFlight = new Map<string, number>();
  private readonly maxEntries: number;
  private readonly now: () => number;

  constructor(private readonly options: AuthLimiterOptions) {
    this.maxEntries = options.maxEntries ?? 10_000;
    this.now = options.now ?? Date.now;
  }

  get enabled(): boolean {
    return this.options.maxFailures > 0;
  }

  /** Milliseconds before this address may try again; 0 when it may now. */
  retryAfterMs(address: string): number {
    if (!this.enabled) return 0;
    const entry = this.entries.get(addressKey(address));
    return entry ? Math.max(0, entry.blockedUntil - this.now()) : 0;
  }

  /**
   * Starts an attempt (a credential check) of the address: answers 0 and holds one of the failures
   * the address may still make, or the milliseconds to wait. The limit would not hold if it were
   * read before a slow check and written after it: 300 wrong passwords sent at once would all be
   * checked (scrypt takes tens of milliseconds) before the first failure is recorded. Holding a
   * slot per attempt in flight means failures + attempts in flight never exceed the limit. Each
   * `begin` that answers 0 must be followed by one `end`.
   */
  begin(address: string): number {
    if (!this.enabled) return 0;
    const blocked = this.retryAfterMs(address);
    if (blocked > 0) return blocked;
    const key = addressKey(address);
    const entry = this.entries.get(key);
    const failures = entry && !this.isStale(entry, this.now()) ? entry.failures : 0;
    const inFlight = this.inFlight.get(key) ?? 0;
    if (failures + inFlight >= this.options.maxFailures) return IN_FLIGHT_RETRY_MS;
    this.inFlight.set(key, inFlight + 1);
    return 0;
  }

  /** Ends an attempt `begin` let through; a failed one is recorded in the same step. */
  end(address: string, failed: boolean): void {
    if (!this.enabled) return;
    const key = addressKey(address);
    const inFlight = (this.inFlight.get(key) ?? 1) - 1;
    if (inFlight > 0) this.inFlight.set(key, inFlight);
    else this.inFlight.delete(key);
    if (failed) this.record(address);
  }

  record(address: string): void {
    if (!this.enabled) return;
    const key = addressKey(address);
    const now = this.now();
    let entry = this.entries.get(key);
    if (!entry || this.isStale(entry, now)) entry = { failures: 0, windowStart: now, blockedUntil: 0 };
    entry.failures++;
    if (entry.failures >= this.options.maxFailures) entry.blockedUntil = now + this.options.windowMs;
    // Re-inserted so the map stays ordered by last failure.
    this.entries.delete(key);
    this.entries.set(key, entry);
    for (const [oldKey, old] of this.entries) {
      if (this.entries.size <= this.maxEntries && !this.isStale(old, now)) break;
      this.entries.delete(oldKey);
    }
  }

  /**
   * Refuses the address until `until` (ms since the epoch), as a failure here would: for what
   * another instance counted (see SharedAuthLimiter). An earlier end than one already set is ignored.
   */
  blockUntil(address: string, until: number): void {
    if (!this.enabled) return;
    const key = addressKey(address);
    const now = this.now();
    let entry = this.entries.get(key);
    if (!entry || this.isStale(entry, now)) entry = { failures: 0, windowStart: now, blockedUntil: 0 };
    entry.blockedUntil = Math.max(entry.blockedUntil, until);
    this.entries.delete(key);
    this.entries.set(key, entry);
  }

  /** Addresses currently remembered (for tests and metrics). */
  get size(): number {
    return this.entries.size;
  }

  private isStale(entry: Entry, now: number): boolean {
    return now >= Math.max(entry.windowStart + this.options.windowMs, entry.blockedUntil);
  }
}

/** The key an address is counted under: IPv4 as is (also when IPv4-mapped), IPv6 by its /64. */
export function addressKey(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return mapped[1]!;
  const plain = address.split('%')[0]!.toLowerCase();
  if (!isIPv6(plain)) return address;
  const groups = (part: string) =>
    part === '' ? [] : part.split(':').flatMap((group) => (group.includes('.') ? ['0', '0'] : [group]));
  const [head = '', tail] = plain.split('::');
  const left = groups(head);
  const right = tail === undefined ? [] : groups(tail);
  const full = [...left, ...Array<string>(Math.max(0, 8 - left.length - right.length)).fill('0'), ...right];
  return `${full
    .slice(0, 4)
    .map((group) => parseInt(group, 16).toString(16))
    .join(':')}::/64`;
}
