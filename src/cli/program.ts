import { Command, CommanderError } from 'commander';
import { ConfigError } from '../config-error.js';
import { CryptoInputError } from '../crypto/input-error.js';
import { registerAdminCommands } from './commands/admin.js';
import { registerBundleCommands } from './commands/bundle.js';
import { registerDoctorCommand } from './commands/doctor.js';
import { registerKeysCommands } from './commands/keys.js';
import { registerNativeCommands } from './commands/native.js';
import { registerReleaseCommands } from './commands/release.js';
import { registerServeCommand } from './commands/serve.js';
import { registerStatsCommand } from './commands/stats.js';
import { registerUserCommands } from './commands/users.js';
import { registerWebhookCommands } from './commands/webhooks.js';
import { CliError, type CliIo } from './io.js';

async function buildProgram(argv: readonly string[], io: CliIo): Promise<Command> {
  const program = new Command()
    .name('overair')
    .description('Self-hosted over-the-air live updates for Capacitor apps')
    .option('--server <url>', 'Overair server (OVERAIR_SERVER, or saved by `overair login`)')
    .option('--token <token>', 'API token (OVERAIR_TOKEN, or saved by `overair login`)')
    .option('--json', 'print machine-readable JSON')
    .option('--verbose', 'print stack traces of unexpected errors')
    .showHelpAfterError()
    .exitOverride()
    .configureOutput({ writeOut: io.stdout, writeErr: io.stderr });
  await registerServeCommand(program, io, argv);
  registerAdminCommands(program, io);
  registerKeysCommands(program, io);
  registerBundleCommands(program, io);
  registerReleaseCommands(program, io);
  registerNativeCommands(program, io);
  registerStatsCommand(program, io);
  registerWebhookCommands(program, io);
  registerUserCommands(program, io);
  registerDoctorCommand(program, io);
  // Sub-commands inherit the output and error handling.
  for (const command of program.commands) {
    command.exitOverride().configureOutput({ writeOut: io.stdout, writeErr: io.stderr }).showHelpAfterError();
    for (const sub of command.commands)
      sub.exitOverride().configureOutput({ writeOut: io.stdout, writeErr: io.stderr });
  }
  return program;
}

/** Runs one command line; resolves to the exit code. Errors become one line on stderr. */
export async function runCli(argv: string[], io: CliIo): Promise<number> {
  const program = await buildProgram(argv, io);
  try {
    await program.parseAsync(argv, { from: 'user' });
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Commander already printed the message (or the help, whose exit code is 0).
      return error.exitCode;
    }
    if (error instanceof CliError || error instanceof ConfigError || error instanceof CryptoInputError) {
      io.stderr(`overair: ${error.message}\n`);
      return error instanceof CliError ? error.exitCode : 1;
    }
    const verbose = argv.includes('--verbose');
    io.stderr(
      `overair: ${verbose && error instanceof Error ? error.stack : String((error as Error)?.message ?? error)}\n`,
    );
    return 1;
  }
}
