import type { Command } from 'commander';
import type { CliIo } from '../io.js';
import { run } from '../lazy.js';
import { collect } from '../roles-options.js';

/** `user …`: the dashboard's users (needs a server admin's token). */
export function registerUserCommands(program: Command, io: CliIo): void {
  const user = program
    .command('user')
    .description("manage the dashboard's users, who sign in with a password (needs a server admin's token)");

  user
    .command('create <username>')
    .description('create a user; the password comes from stdin or OVERAIR_PASSWORD')
    .option(
      '--role <role>',
      'read | publish | release | admin (default read): on every app, or on each --app',
    )
    .option('--app <appId>', 'limit the role to this app (repeat for more apps)', collect)
    .option('--server-admin', 'a server-wide admin: users, server tokens, every app')
    .option('--scope <scope>', 'the old single scope (read | publish | admin); use --role instead')
    .option('--password-stdin', 'read the password from stdin (even when OVERAIR_PASSWORD is set)')
    .action(run(io, async () => (await import('../actions/users.js')).userCreate));

  user
    .command('update <username>')
    .description("replace a user's roles; they apply at the user's next request")
    .option('--role <role>', 'read | publish | release | admin: on every app, or on each --app')
    .option('--app <appId>', 'limit the role to this app (repeat for more apps)', collect)
    .option('--server-admin', 'a server-wide admin: users, server tokens, every app')
    .option('--scope <scope>', 'the old single scope (read | publish | admin); use --role instead')
    .action(run(io, async () => (await import('../actions/users.js')).userUpdate));

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
