import type { Logger } from 'pino';
import type { AuthFailuresRepo } from '../db/auth-failures.js';
import { AddressLimiter, addressKey } from './auth-limiter.js';

/** What the failed-authentication middleware needs (limitFailedAuth). */
export interface FailedAuthLimiter {
  readonly enabled: boolean;
  /** Milliseconds before this address may try again; 0 when it may now. */
  retryAfterMs(address: string): number;
  /** Counts a failed authentication of the address. Never rejects. */
  record(address: string): Promise<void>;
}

export interface SharedAuthLimiterOptions {
  /** Failures allowed in a window, counted over every instance; 0 turns the limit off. */
  maxFailures: number;
  windowMs: number;
  now?: () => number;
}

/**
 * The failed-authentication limit over every instance sharing the database, so that a load
 * balancer spreading a guesser's attempts over N instances does not give it N times the guesses.
 * Refusals are answered from this instance's memory (an AddressLimiter), so requests cost no
 * database access; each failure is also counted in the database (auth_failures), and once that
 * count blocks the address, this instance's memory learns it. An instance that has not seen the
 * address fail learns of the block at its first failure there: at most one extra guess per instance.
 * If the database cannot be written, this instance's own count still applies.
 */
export class SharedAuthLimiter implements FailedAuthLimiter {
  private readonly local: AddressLimiter;
  private readonly now: () => number;
  private lastPrune: number;

  constructor(
    private readonly options: SharedAuthLimiterOptions,
    private readonly failures: AuthFailuresRepo,
    private readonly log: Logger,
  ) {
    this.now = options.now ?? Date.now;
    this.local = new AddressLimiter(options);
    this.lastPrune = this.now();
  }

  get enabled(): boolean {
    return this.local.enabled;
  }

  retryAfterMs(address: string): number {
    return this.local.retryAfterMs(address);
  }

  async record(address: string): Promise<void> {
    if (!this.enabled) return;
    this.local.record(address);
    const at = this.now();
    try {
      const blockedUntil = await this.failures.record(addressKey(address), new Date(at), this.options);
      if (blockedUntil) this.local.blockUntil(address, blockedUntil.getTime());
      // Addresses whose window is over are forgotten about once per window.
      if (at - this.lastPrune >= this.options.windowMs) {
        this.lastPrune = at;
        await this.failures.prune(new Date(at), this.options.windowMs);
      }
    } catch (error) {
      this.log.warn({ err: error }, 'could not count a failed authentication in the database');
    }
  }
}
