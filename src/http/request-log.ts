import type { Logger } from 'pino';

/** One log line a request: the path without its query string, which may carry a session key. */
export function logRequest(log: Logger, method: string, path: string, status: number, started: number): void {
  // Checked first: below info (the usual production level) nothing is built for a line not written.
  if (!log.isLevelEnabled('info')) return;
  log.info({ method, path, status, ms: Math.round((performance.now() - started) * 10) / 10 }, 'request');
}
