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
