import { Help, type Command } from 'commander';
import type { CliIo } from '../io.js';
import { run } from '../lazy.js';

/**
 * `serve`: the server itself. Runs until SIGINT or SIGTERM, then closes cleanly. Its flags and their
 * help are made from the settings list (serve-flags.ts), whose checks load zod: they are added only
 * when the command line names `serve` (to run it, or `help serve`), so other commands do not load
 * them, and the help of `overair` lists it as `serve [options]` all the same.
 */
export async function registerServeCommand(
  program: Command,
  io: CliIo,
  argv: readonly string[],
): Promise<void> {
  const serve = program
    .command('serve')
    .description('start the update server (flags override OVERAIR_* environment variables)')
    .action(run(io, async () => (await import('../actions/serve.js')).serve));
  if (!argv.includes('serve')) {
    program.configureHelp({
      subcommandTerm(this: Help, command: Command) {
        const term = Help.prototype.subcommandTerm.call(this, command);
        // Commander's term for a command that has options; `serve` has no alias and no arguments.
        return command === serve ? `${term} [options]` : term;
      },
    });
    return;
  }
  const { envOnlySettings, serveOptions } = await import('../serve-flags.js');
  for (const option of serveOptions()) serve.addOption(option);
  const envOnly = envOnlySettings().map((entry) => entry.env);
  serve.addHelpText(
    'after',
    `\nOnly as environment variables (secrets): ${envOnly.join(', ')}.\nEvery setting: docs/configuration.md\n`,
  );
}
