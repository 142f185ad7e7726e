import type { Logger } from 'pino';

/**
 * One log line a request: the path without its query string, which may carry a session key. `now`:
 * the clock read once for the metrics too (performance.now() when not given).
 */
export function logRequest(
  log: Logger,
  method: string,
  path: string,
  status: number,
  started: number,
  now?: number,
): void {
  // Checked first: below info (the usual production level) nothing is built for a line not written.
  if (!log.isLevelEnabled('info')) return;
  const ms = Math.round(((now ?? performance.now()) - started) * 10) / 10;
  log.info({ method, path, status, ms }, 'request');
}
