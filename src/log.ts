import { pino, type Logger } from 'pino';

export type { Logger };

/** JSON lines on stdout. Secrets never reach it: no headers or query strings are logged. */
export function createLogger(level: string): Logger {
  return pino({ level, base: undefined, timestamp: pino.stdTimeFunctions.isoTime });
}
