import type { Command } from 'commander';
import type { Page, UserJson } from '../../api-types.js';
import { describeGrants, grantsFromJson } from '../../domain/roles.js';
import { rolesBody, type RoleOptions } from '../roles-options.js';
import { passwordProblem, usernameProblem } from '../../domain/users.js';
import { contextOf } from '../context.js';
import { CliError, type CliIo } from '../io.js';
import { emit, table } from '../output.js';

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

export async function userCreate(
  io: CliIo,
  username: string,
  options: RoleOptions & { passwordStdin?: boolean },
  command: Command,
): Promise<void> {
  const ctx = contextOf(io, command);
  usernameArgument(username);
  const roles = rolesBody(options, 'read');
  const password = await newPassword(io, Boolean(options.passwordStdin), username);
  const created = await (await ctx.api()).post<UserJson>('/users', { username, password, ...roles });
  emit(
    io,
    ctx.json,
    created,
    (v) => `Created user "${v.username}" (${describeGrants(grantsFromJson(v.roles))})`,
  );
}

/** Replaces a user's roles (server admins only); they apply at the user's next request. */
export async function userUpdate(
  io: CliIo,
  username: string,
  options: RoleOptions,
  command: Command,
): Promise<void> {
  const ctx = contextOf(io, command);
  usernameArgument(username);
  if (options.role === undefined && options.scope === undefined && !options.serverAdmin)
    throw new CliError('give the new roles: --role ROLE [--app APP]..., or --server-admin');
  const updated = await (
    await ctx.api()
  ).patch<UserJson>(`/users/${encodeURIComponent(username)}`, rolesBody(options, 'read'));
  emit(io, ctx.json, updated, (v) => `Roles of "${v.username}": ${describeGrants(grantsFromJson(v.roles))}`);
}

export async function userList(io: CliIo, _options: unknown, command: Command): Promise<void> {
  const ctx = contextOf(io, command);
  const { items } = await (await ctx.api()).get<Page<UserJson>>('/users');
  emit(io, ctx.json, items, (rows) =>
    table(
      ['ID', 'USERNAME', 'ROLES', 'CREATED', 'PASSWORD CHANGED'],
      rows.map((u) => [
        u.id,
        u.username,
        describeGrants(grantsFromJson(u.roles)),
        u.created_at,
        u.password_changed_at,
      ]),
    ),
  );
}

export async function userDelete(
  io: CliIo,
  username: string,
  _options: unknown,
  command: Command,
): Promise<void> {
  const ctx = contextOf(io, command);
  await (await ctx.api()).delete(`/users/${encodeURIComponent(usernameArgument(username))}`);
  emit(io, ctx.json, { deleted: username }, () => `Deleted user "${username}"`);
}

export async function userPasswd(
  io: CliIo,
  username: string,
  options: { passwordStdin?: boolean },
  command: Command,
): Promise<void> {
  const ctx = contextOf(io, command);
  usernameArgument(username);
  const password = await newPassword(io, Boolean(options.passwordStdin), username);
  await (await ctx.api()).put(`/users/${encodeURIComponent(username)}/password`, { password });
  emit(io, ctx.json, { updated: username }, () => `Changed the password of "${username}"`);
}
