import type { Command } from 'commander';
import type { Page, UserJson } from '../../api-types.js';
import { passwordProblem, usernameProblem } from '../../domain/users.js';
import { contextOf } from '../context.js';
import { CliError, type CliIo } from '../io.js';
import { emit, table } from '../output.js';

const SCOPES = ['read', 'publish', 'admin'];

/** A user name from the command line, checked before it goes into a URL. */
function usernameArgument(value: string): string {
  const problem = usernameProblem(value);
  if (problem) throw new CliError(`"${value}": ${problem}`);
  return value;
}

/**
 * The new password: from stdin with --password-stdin, else OVERAIR_PASSWORD, else stdin (a hidden
 * prompt on a terminal). Never a flag's value, which would stay in the shell's history.
 */
async function newPassword(io: CliIo, fromStdin: boolean, username: string): Promise<string> {
  let password = fromStdin ? undefined : io.env.OVERAIR_PASSWORD || undefined;
  if (password === undefined) {
    if (!io.readSecret)
      throw new CliError('give the password on stdin (--password-stdin) or in OVERAIR_PASSWORD');
    // What `echo` or a file adds after the password is not part of it.
    password = (await io.readSecret(`Password for ${username}: `, true)).replace(/\r?\n$/, '');
  }
  const problem = passwordProblem(password);
  if (problem) throw new CliError(problem);
  return password;
}

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
    .action(
      async (username: string, options: { scope: string; passwordStdin?: boolean }, command: Command) => {
        const ctx = contextOf(io, command);
        usernameArgument(username);
        if (!SCOPES.includes(options.scope)) {
          throw new CliError(`--scope must be read, publish or admin, not "${options.scope}"`);
        }
        const password = await newPassword(io, Boolean(options.passwordStdin), username);
        const created = await (
          await ctx.api()
        ).post<UserJson>('/users', { username, password, scope: options.scope });
        emit(io, ctx.json, created, (v) => `Created user "${v.username}" (${v.scope})`);
      },
    );

  user
    .command('list')
    .description('list users (never their passwords)')
    .action(async (_options, command: Command) => {
      const ctx = contextOf(io, command);
      const { items } = await (await ctx.api()).get<Page<UserJson>>('/users');
      emit(io, ctx.json, items, (rows) =>
        table(
          ['ID', 'USERNAME', 'SCOPE', 'CREATED', 'PASSWORD CHANGED'],
          rows.map((u) => [u.id, u.username, u.scope, u.created_at, u.password_changed_at]),
        ),
      );
    });

  user
    .command('delete <username>')
    .description('delete a user and end their sessions (not the last admin user)')
    .action(async (username: string, _options, command: Command) => {
      const ctx = contextOf(io, command);
      await (await ctx.api()).delete(`/users/${encodeURIComponent(usernameArgument(username))}`);
      emit(io, ctx.json, { deleted: username }, () => `Deleted user "${username}"`);
    });

  user
    .command('passwd <username>')
    .description("set a user's password and end their sessions; from stdin or OVERAIR_PASSWORD")
    .option('--password-stdin', 'read the password from stdin (even when OVERAIR_PASSWORD is set)')
    .action(async (username: string, options: { passwordStdin?: boolean }, command: Command) => {
      const ctx = contextOf(io, command);
      usernameArgument(username);
      const password = await newPassword(io, Boolean(options.passwordStdin), username);
      await (await ctx.api()).put(`/users/${encodeURIComponent(username)}/password`, { password });
      emit(io, ctx.json, { updated: username }, () => `Changed the password of "${username}"`);
    });
}
