import type { Command } from 'commander';
import type { CliIo } from '../io.js';
import { run } from '../lazy.js';

/** `user …`: the dashboard's users (needs an admin token). */
export function registerUserCommands(program: Command, io: CliIo): void {
  const user = program
    .command('user')
    .description("manage the dashboard's users, who sign in with a password (needs an admin token)");

  user
    .command('create <username>')
    .description('create a user; the password comes from stdin or OVERAIR_PASSWORD')
    .option('--scope <scope>', 'read | publish | admin', 'read')
    .option('--password-stdin', 'read the password from stdin (even when OVERAIR_PASSWORD is set)')
    .action(run(io, async () => (await import('../actions/users.js')).userCreate));

  user
    .command('list')
    .description('list users (never their passwords)')
    .action(run(io, async () => (await import('../actions/users.js')).userList));

  user
    .command('delete <username>')
    .description('delete a user and end their sessions (not the last admin user)')
    .action(run(io, async () => (await import('../actions/users.js')).userDelete));

  user
    .command('passwd <username>')
    .description("set a user's password and end their sessions; from stdin or OVERAIR_PASSWORD")
    .option('--password-stdin', 'read the password from stdin (even when OVERAIR_PASSWORD is set)')
    .action(run(io, async () => (await import('../actions/users.js')).userPasswd));
}
