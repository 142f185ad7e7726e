import type { Command } from 'commander';
import type { Page } from '../../api-types.js';
import { contextOf } from '../context.js';
import { CliError, type CliIo } from '../io.js';

/** Entries asked for per request: the server's largest page. */
const PAGE = 500;

const UNIT_MS: Record<string, number> = { h: 3_600_000, d: 86_400_000, w: 7 * 86_400_000 };

/**
 * `--since` as the ISO time the server takes: an ISO date or date-time as given, or a time ago
 * such as `24h`, `30d`, `2w` counted from `now`.
 */
export function sinceTime(text: string, now = Date.now()): string {
  const ago = /^(\d+)([hdw])$/i.exec(text.trim());
  if (ago) return new Date(now - Number(ago[1]) * UNIT_MS[ago[2]!.toLowerCase()]!).toISOString();
  if (/^\d{4}-\d{2}-\d{2}([T ][\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$/i.test(text.trim())) {
    const at = new Date(text.trim());
    if (!Number.isNaN(at.getTime())) return at.toISOString();
  }
  throw new CliError(
    `--since must be an ISO date such as 2026-01-01 or a time ago such as 30d, not "${text}"`,
  );
}

/**
 * `overair audit export`: every audit entry (from `--since`, of `--app`) oldest first, one JSON
 * object a line on stdout, fetched a page at a time so that a large log is never held whole.
 */
export async function auditExport(
  io: CliIo,
  options: { since?: string; app?: string },
  command: Command,
): Promise<void> {
  const ctx = contextOf(io, command);
  const since = options.since === undefined ? undefined : sinceTime(options.since);
  const api = await ctx.api();
  let cursor: string | null = null;
  do {
    const page: Page<unknown> & { next_cursor?: string | null } = await api.get('/audit/export', {
      limit: String(PAGE),
      ...(since !== undefined && { since }),
      ...(options.app !== undefined && { app: options.app }),
      ...(cursor !== null && { cursor }),
    });
    if (page.items.length > 0) io.stdout(page.items.map((item) => JSON.stringify(item) + '\n').join(''));
    cursor = page.next_cursor ?? null;
  } while (cursor !== null);
}
