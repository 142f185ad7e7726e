import type { Command } from 'commander';
import { configForDisplay, loadConfig } from '../../config.js';
import { createLogger } from '../../log.js';
import { startServer } from '../../server.js';
import type { CliIo } from '../io.js';
import { installLastResort } from '../last-resort.js';
import { envOnlySettings, overridesFromFlags, serveOptions } from '../serve-flags.js';
import { ShutdownOnSignal } from '../shutdown.js';

/** `serve`: the server itself. Runs until SIGINT or SIGTERM, then closes cleanly. */
export function registerServeCommand(program: Command, io: CliIo): void {
  const serve = program
    .command('serve')
    .description('start the update server (flags override OVERAIR_* environment variables)');
  for (const option of serveOptions()) serve.addOption(option);
  const envOnly = envOnlySettings().map((entry) => entry.env);
  serve
    .addHelpText(
      'after',
      `\nOnly as environment variables (secrets): ${envOnly.join(', ')}.\nEvery setting: docs/configuration.md\n`,
    )
    .action(async (flags: Record<string, unknown>) => {
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
    });
}
