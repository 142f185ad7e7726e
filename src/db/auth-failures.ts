import { type Kysely, sql } from 'kysely';
import type { Database } from './schema.js';

export interface FailureRule {
  maxFailures: number;
  windowMs: number;
}

/**
 * Failed admin authentications per client address, shared by every instance on the database. The
 * rule is the in-memory limiter's (AddressLimiter): a window starts at an address's first failure;
 * the `maxFailures`-th failure within it blocks the address for one window; a row whose window and
 * block are both over starts afresh.
 */
export class AuthFailuresRepo {
  constructor(private readonly db: Kysely<Database>) {}

  /**
   * Counts one failure of `address` at `at` in a single statement (instances recording failures of
   * the same address at once each count theirs), and answers until when the address is blocked, or
   * null when it is not.
   */
  async record(address: string, at: Date, rule: FailureRule): Promise<Date | null> {
    const time = at.toISOString();
    const blockEnd = new Date(at.getTime() + rule.windowMs).toISOString();
    const windowCutoff = new Date(at.getTime() - rule.windowMs).toISOString();
    // Both sides of the upsert read the row as it was (SET expressions see the old values).
    const stale = sql<boolean>`(auth_failures.window_start <= ${windowCutoff} and (auth_failures.blocked_until is null or auth_failures.blocked_until <= ${time}))`;
    const failures = sql<number>`case when ${stale} then 1 else auth_failures.failures + 1 end`;
    const row = await this.db
      .insertInto('auth_failures')
      .values({
        address,
        failures: 1,
        window_start: time,
        blocked_until: rule.maxFailures <= 1 ? blockEnd : null,
      })
      .onConflict((oc) =>
        oc.column('address').doUpdateSet({
          failures,
          window_start: sql<string>`case when ${stale} then ${time} else auth_failures.window_start end`,
          blocked_until: sql<string | null>`case when ${failures} >= ${rule.maxFailures} then ${blockEnd}
            when ${stale} then null else auth_failures.blocked_until end`,
        }),
      )
      .returning('blocked_until')
      .executeTakeFirstOrThrow();
    return row.blocked_until !== null && row.blocked_until > time ? new Date(row.blocked_until) : null;
  }

  /** Deletes the rows of addresses whose window and block are over; answers how many. */
  async prune(at: Date, windowMs: number): Promise<number> {
    const time = at.toISOString();
    const result = await this.db
      .deleteFrom('auth_failures')
      .where('window_start', '<=', new Date(at.getTime() - windowMs).toISOString())
      .where((eb) => eb.or([eb('blocked_until', 'is', null), eb('blocked_until', '<=', time)]))
      .executeTakeFirst();
    return Number(result.numDeletedRows);
  }
}
