import { pino, type Logger } from 'pino';

export type { Logger };

/** JSON lines on stdout. Secrets never reach it: no headers or query strings are logged. */
export function createLogger(level: string): Logger {
  return pino({ level, base: undefined, timestamp: pino.stdTimeFunctions.isoTime });
}

/**
 * `fn`, called at most once per `intervalMs` (later calls in the interval are dropped): for warnings
 * that every request would repeat during an outage.
 */
export function atMostEvery<A extends unknown[]>(
  intervalMs: number,
  fn: (...args: A) => void,
): (...args: A) => void {
  let last = -Infinity;
  return (...args) => {
    const time = Date.now();
    if (time - last < intervalMs) return;
    last = time;
    fn(...args);
  };
}
