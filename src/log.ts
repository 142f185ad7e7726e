import { createRequire } from 'node:module';
import { pino, type Logger } from 'pino';

export type { Logger };

/** Where `createLogger` writes; both default to the process's stdout. */
export interface LogOutput {
  /** Whether a person reads the output in a terminal: then lines are human-readable. */
  isTTY?: boolean;
  destination?: { write(text: string): unknown };
}

/**
 * JSON lines on stdout, one object per line, for log collectors (systemd's journal, a container
 * runtime, a file). When stdout is a terminal the same records are printed as readable lines
 * instead (pino-pretty, loaded only then). Secrets never reach either: no headers or query strings
 * are logged.
 */
export function createLogger(level: string, output: LogOutput = {}): Logger {
  const options = { level, base: undefined, timestamp: pino.stdTimeFunctions.isoTime };
  const isTTY = output.isTTY ?? Boolean(process.stdout.isTTY);
  if (!isTTY) {
    return output.destination ? pino(options, output.destination) : pino(options);
  }
  return pino(options, prettyLines(output.destination));
}

/**
 * pino-pretty formatting each line in this thread, written synchronously: unlike a transport (a
 * worker thread), nothing is still in flight when `overair serve` exits right after its last line.
 */
function prettyLines(destination: LogOutput['destination']): { write(line: string): void } {
  const load = createRequire(import.meta.url);
  const { prettyFactory, isColorSupported } = load('pino-pretty') as typeof import('pino-pretty');
  const prettify = prettyFactory({
    colorize: isColorSupported,
    translateTime: 'SYS:HH:MM:ss.l',
    ignore: 'pid,hostname',
  });
  const out = destination ?? pino.destination({ dest: 1, sync: true });
  return { write: (line) => void out.write(prettify(line)) };
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
