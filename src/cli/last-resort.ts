import type { Logger } from 'pino';
import { isDatabaseUnavailable } from '../db/unavailable.js';

/**
 * The last line of defence of `overair serve` against an error nobody handled: an 'error' event
 * without a listener or a rejected promise nobody awaited. Node's default ends the process.
 *
 * A lost database connection is safe to survive: the connection is dead, pg-pool drops it, and
 * every unit of work that used it has already failed (503) or is queued for a retry. Anything else
 * means state this process can no longer trust, so it is logged as fatal and the process exits
 * with 1 for its supervisor (systemd, the container runtime) to start a fresh one.
 */
export function installLastResort(
  log: Logger,
  exit: (code: number) => void = process.exit,
  target: Pick<NodeJS.EventEmitter, 'on'> = process,
): void {
  const onError = (error: unknown, origin: string) => {
    if (isDatabaseUnavailable(error)) {
      log.error(
        { err: error, origin },
        'unhandled database connection error survived: the connection is dropped',
      );
      return;
    }
    log.fatal({ err: error, origin }, 'unhandled error: exiting for the supervisor to restart the server');
    exit(1);
  };
  const onRejection = (reason: unknown) => onError(reason, 'unhandledRejection');
  target.on('uncaughtException', onError);
  target.on('unhandledRejection', onRejection);
}
