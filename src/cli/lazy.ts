import type { CliIo } from './io.js';

/**
 * A command's action, loaded when the command runs. The definitions (names, options, help) are all
 * that `overair --help` or `overair bundle upload --help` need; what an action uses (the server, the
 * database drivers, the AWS SDK, zip and crypto code) is imported only by the command that runs it,
 * so a command does not pay the start-up of the others (test/cli-startup.test.ts).
 */
export function run<A extends unknown[]>(
  io: CliIo,
  load: () => Promise<(io: CliIo, ...args: A) => unknown>,
): (...args: A) => Promise<void> {
  return async (...args: A) => {
    const action = await load();
    await action(io, ...args);
  };
}
