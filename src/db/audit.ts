import type { Kysely } from 'kysely';
import type { AuditRow, Database } from './schema.js';
import { now } from './time.js';

export interface AuditEntry {
  actor: string;
  action: string;
  appId?: string | null;
  target?: string | null;
  detail?: Record<string, unknown>;
}

/** Rows deleted per statement by retention: short enough for requests to run in between. */
const DELETE_BATCH = 1000;

export class AuditRepo {
  constructor(private readonly db: Kysely<Database>) {}

  async record(entry: AuditEntry): Promise<void> {
    await this.db
      .insertInto('audit_log')
      .values({
        at: now(),
        actor: storable(entry.actor),
        action: entry.action,
        app_id: entry.appId ?? null,
        target: entry.target === undefined || entry.target === null ? null : storable(entry.target),
        detail: entry.detail ? JSON.stringify(entry.detail) : null,
      })
      .execute();
  }

  /**
   * Entries oldest first, for an export: from `since` (an ISO time) on, of one app, after the
   * entry `afterId` (the cursor).
   */
  exportPage(
    limit: number,
    options: { since?: string; appId?: string; afterId?: number },
  ): Promise<AuditRow[]> {
    let query = this.db.selectFrom('audit_log').selectAll();
    if (options.since !== undefined) query = query.where('at', '>=', options.since);
    if (options.appId !== undefined) query = query.where('app_id', '=', options.appId);
    if (options.afterId !== undefined) query = query.where('id', '>', options.afterId);
    return query.orderBy('id').limit(limit).execute();
  }

  /**
   * Deletes entries older than `cutoff`, oldest first in batches of `batch` rows, each its own short
   * statement; `between` runs after each batch (and stops it by answering false). Entries are
   * written in the order of their time, so the oldest ids are looked at (by the primary key, no
   * scan of the table) and it stops at the first batch holding an entry to keep. Resolves to the
   * number deleted.
   */
  async deleteBefore(
    cutoff: string,
    between?: () => Promise<boolean>,
    batch = DELETE_BATCH,
  ): Promise<number> {
    let total = 0;
    for (;;) {
      const rows = await this.db
        .selectFrom('audit_log')
        .select(['id', 'at'])
        .orderBy('id')
        .limit(batch)
        .execute();
      const old = rows.filter((row) => row.at < cutoff);
      if (old.length === 0) return total;
      const result = await this.db
        .deleteFrom('audit_log')
        .where('id', '<=', old[old.length - 1]!.id)
        .where('at', '<', cutoff)
        .executeTakeFirst();
      total += Number(result.numDeletedRows);
      if (old.length < rows.length || rows.length < batch || (between && !(await between()))) return total;
    }
  }

  page(limit: number, appId?: string, beforeId?: number): Promise<AuditRow[]> {
    let query = this.db.selectFrom('audit_log').selectAll();
    if (appId) query = query.where('app_id', '=', appId);
    if (beforeId !== undefined) query = query.where('id', '<', beforeId);
    return query.orderBy('id', 'desc').limit(limit).execute();
  }
}

/**
 * PostgreSQL's text cannot hold NUL, and a refused request's path may carry one (`/a%00b`): it is
 * replaced, so the refusal is still recorded. (`detail` is JSON, which escapes it.)
 */
function storable(text: string): string {
  return text.replaceAll('\u0000', '\uFFFD');
}
