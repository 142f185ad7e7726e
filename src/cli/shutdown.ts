import type { RunningServer } from '../server.js';
import type { CliIo } from './io.js';

/**
 * SIGTERM and SIGINT for `overair serve`. The first signal closes the server gracefully (stop
 * accepting, let requests in flight finish within the shutdown timeout, write queued device
 * activity, close the database; see RunningServer.close) and exits 0, or 1 when closing failed. A
 * second signal exits at once with 1, for an operator who will not wait. A signal that arrives
 * while the server is starting closes it as soon as it is up.
 */
export class ShutdownOnSignal {
  private server: RunningServer | undefined;
  private signalled = false;

  constructor(private readonly io: CliIo) {
    process.on('SIGINT', this.onSignal);
    process.on('SIGTERM', this.onSignal);
  }

  /** The server is up: from now on a signal closes it (at once if one came during start-up). */
  started(server: RunningServer): void {
    this.server = server;
    if (this.signalled) this.close(server);
  }

  private readonly onSignal = (signal: NodeJS.Signals) => {
    if (this.signalled) {
      this.io.stderr(`${signal} again: exiting without waiting for requests in flight\n`);
      process.exit(1);
    }
    this.signalled = true;
    if (this.server) this.close(this.server);
  };

  private close(server: RunningServer): void {
    server.close().then(
      () => process.exit(0),
      (error: unknown) => {
        this.io.stderr(
          `overair: shutdown failed: ${error instanceof Error ? error.message : String(error)}\n`,
        );
        process.exit(1);
      },
    );
  }
}
