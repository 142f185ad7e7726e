/**
 * Whether an error means "the database cannot be reached right now" rather than "this query is
 * wrong": the first is answered with a 503 and retried later, the second is a bug or a refusal.
 * Drivers say it in different ways, so this looks at codes and, as a last resort, at pg's messages
 * (pg-pool and pg's Client throw plain Errors without a code for a dropped or timed-out connection).
 */

import { ClientAborted } from '../errors.js';

/** Socket errors: the server is down, restarting, or the network between us is. */
export const SOCKET_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'EHOSTDOWN',
  'ENETUNREACH',
  'ENETDOWN',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

/**
 * PostgreSQL SQLSTATEs: 57P01 admin_shutdown, 57P02 crash_shutdown, 57P03 cannot_connect_now
 * (starting up or in recovery), 53300 too_many_connections. Class 08 (connection exceptions) is
 * matched by prefix. SQLite: the database stayed locked longer than busy_timeout.
 */
const DATABASE_CODES = new Set(['57P01', '57P02', '57P03', '53300', 'SQLITE_BUSY']);

const PG_MESSAGES = [
  /^Connection terminated\b/, // "Connection terminated", "... unexpectedly", "... due to connection timeout"
  /^timeout exceeded when trying to connect$/, // pg-pool's connectionTimeoutMillis
  /is not queryable$/, // a Client that lost its connection, or was closed under a query
];

export function isDatabaseUnavailable(error: unknown): boolean {
  return someCause(error, (cause) => {
    const { code, message } = cause as { code?: unknown; message?: unknown };
    if (typeof code === 'string' && (SOCKET_CODES.has(code) || DATABASE_CODES.has(code) || /^08/.test(code)))
      return true;
    return typeof message === 'string' && PG_MESSAGES.some((pattern) => pattern.test(message));
  });
}

/**
 * Tests the error and what it wraps: `cause` chains and an AggregateError's `errors` (a host name
 * resolving to several addresses fails with one error per address). Bounded against cycles.
 */
function someCause(error: unknown, test: (cause: object) => boolean, depth = 0): boolean {
  if (typeof error !== 'object' || error === null || depth > 5) return false;
  // A client's broken request stream says ECONNRESET too; that is no database of ours.
  if (error instanceof ClientAborted) return false;
  if (test(error)) return true;
  const { cause, errors } = error as { cause?: unknown; errors?: unknown };
  if (someCause(cause, test, depth + 1)) return true;
  return Array.isArray(errors) && errors.some((inner) => someCause(inner, test, depth + 1));
}
