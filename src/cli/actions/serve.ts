import { configForDisplay, loadConfig } from '../../config.js';
import { createLogger } from '../../log.js';
import { startServer } from '../../server.js';
import type { CliIo } from '../io.js';
import { installLastResort } from '../last-resort.js';
import { overridesFromFlags } from '../serve-flags.js';
import { ShutdownOnSignal } from '../shutdown.js';

/** `serve`: the server itself. Runs until SIGINT or SIGTERM, then closes cleanly. */
export async function serve(io: CliIo, flags: Record<string, unknown>): Promise<void> {
  const config = loadConfig(io.env, overridesFromFlags(flags));
  // Signal handlers first: a SIGTERM that arrives while starting must still close cleanly.
  const shutdown = new ShutdownOnSignal(io);
  const log = createLogger(config.logLevel);
  installLastResort(log);
  // Secrets from the settings list are masked, and so is a password in the database URL.
  log.debug({ config: configForDisplay(config) }, 'configuration');
  const server = await startServer(config, log);
  shutdown.started(server);
  // Printed even when a signal already closes the server: the token is shown only this once.
  if (server.initialToken) {
    io.stdout(
      `\nCreated the first admin token. It is shown only this once; store it now:\n\n  ${server.initialToken}\n\n`,
    );
  }
}
