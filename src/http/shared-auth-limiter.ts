import type { Logger } from 'pino';
import type { AuthFailuresRepo } from '../db/auth-failures.js';
import { AddressLimiter, addressKey } from './auth-limiter.js';

/** What the failed-authentication middleware needs (limitFailedAuth). */
export interface FailedAuthLimiter {
  readonly enabled: boolean;
  /** Milliseconds before this address may try again; 0 when it may now. */
  retryAfterMs(address: string): number;
  /**
   * Starts a credential check of the address: 0 when it may go ahead (one of the failures the
   * address may still make is then held for it), else the milliseconds to wait. See AddressLimiter.
   */
  begin(address: string): number;
  /** Ends a check `begin` let through, counting it when it failed. Never rejects. */
  end(address: string, failed: boolean): Promise<void>;
  /** Counts a failed authentication of the address (one that checked no credential). Never rejects. */
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
 *
 * Attempts in flight are held in memory (`begin`), per instance: a burst of concurrent guesses
 * spread over N instances gets at most N times the limit checked before the shared count blocks
 * the address everywhere; a burst on one instance gets the limit.
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

  begin(address: string): number {
    return this.local.begin(address);
  }

  async end(address: string, failed: boolean): Promise<void> {
    // Releasing the slot and counting the failure in one synchronous step: no attempt can start
    // in between and find the slot free but the failure not yet counted.
    this.local.end(address, failed);
    if (failed && this.enabled) await this.recordShared(address);
  }

  async record(address: string): Promise<void> {
    if (!this.enabled) return;
    this.local.record(address);
    await this.recordShared(address);
  }

  private async recordShared(address: string): Promise<void> {
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
