import { AddressLimiter } from './auth-limiter.js';
import { errorBody, errors } from '../errors.js';

/**
 * A deliberate, configured limit on device requests per client address (off by default). The
 * plugin treats a 429 as an order to stop all its traffic (update checks, stats, channel calls)
 * until Retry-After, so it is sent only from here, always with Retry-After and the same hint in the
 * body (`retryAfterSeconds`, which the plugin also reads). Carrier-grade NAT puts many phones behind
 * one address: set the limit for the busiest such address, not for one phone.
 */
export class DeviceRateLimit {
  private readonly limiter: AddressLimiter | null;

  constructor(maxRequests: number, windowMs: number) {
    this.limiter = maxRequests > 0 ? new AddressLimiter({ maxFailures: maxRequests + 1, windowMs }) : null;
  }

  /** Whether a limit is set (off by default): without one, nobody needs the client's address. */
  get enabled(): boolean {
    return this.limiter !== null;
  }

  /** Counts a request; answers the seconds to wait when the address is over its limit, else 0. */
  check(address: string): number {
    if (!this.limiter) return 0;
    const waitMs = this.limiter.retryAfterMs(address);
    if (waitMs > 0) return Math.ceil(waitMs / 1000);
    this.limiter.record(address);
    const blocked = this.limiter.retryAfterMs(address);
    return blocked > 0 ? Math.ceil(blocked / 1000) : 0;
  }
}

export function tooManyRequests(seconds: number) {
  return { ...errorBody(errors.tooManyRequests({ seconds })), retryAfterSeconds: seconds };
}
