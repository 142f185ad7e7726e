import type { Command } from 'commander';
import type { AppJson, AppUpdatedJson, Page, RolesJson, TokenJson } from '../../api-types.js';
import { describeGrants, grantsFromJson } from '../../domain/roles.js';
import { rolesBody, type RoleOptions } from '../roles-options.js';
import { keyIdOf } from '../../crypto/capgo.js';
import { resolveAppId } from '../capacitor.js';
import { contextOf } from '../context.js';
import { CliError, type CliIo } from '../io.js';
import { readKeyFile } from '../key-files.js';
import { emit, fields, table } from '../output.js';
import { normaliseServer, saveLogin } from '../settings.js';
import { ApiClient } from '../client.js';

/** An on/off flag's value (undefined when not given). */
function onOff(flag: string, given: string | undefined): boolean | undefined {
  if (given === undefined) return undefined;
  if (given === 'on' || given === 'true') return true;
  if (given === 'off' || given === 'false') return false;
  throw new CliError(`${flag} takes on or off, not "${given}"`);
}

/** --keep-bundles N (a whole number from 1), --no-keep-bundles (null), or absent (undefined). */
function keepBundles(given: string | false | undefined): number | null | undefined {
  if (given === undefined) return undefined;
  if (given === false) return null;
  if (!/^[1-9]\d*$/.test(given))
    throw new CliError(`--keep-bundles must be a whole number of bundles from 1, not "${given}"`);
  return Number(given);
}

/** One line per requirement: on or off, and with which key. */
function describeRequirements(app: AppJson): string {
  const key = (pem: string | null) => (pem ? `key ${keyIdOf(pem)}` : 'no key registered');
  return [
    `signatures: ${app.require_signature ? 'required' : 'not required'} (${key(app.signing_public_key)})`,
    `encryption: ${app.require_encryption ? 'required' : 'not required'} (${key(app.encryption_public_key)})`,
  ].join('\n');
}

export async function login(io: CliIo, _options: unknown, command: Command): Promise<void> {
  const { server, token, json } = command.optsWithGlobals<{
    server?: string;
    token?: string;
    json?: boolean;
  }>();
  const url = server ?? io.env.OVERAIR_SERVER;
  const secret = token ?? io.env.OVERAIR_TOKEN;
  if (!url || !secret)
    throw new CliError('login needs --server URL and --token TOKEN (or OVERAIR_SERVER / OVERAIR_TOKEN)');
  const connection = { server: normaliseServer(url), token: secret };
  const who = await new ApiClient(connection).get<{ name: string; roles: RolesJson }>('/whoami');
  const roles = describeGrants(grantsFromJson(who.roles));
  const file = await saveLogin(io.env, connection);
  emit(
    io,
    Boolean(json),
    { server: connection.server, token_name: who.name, roles: who.roles, saved_to: file },
    (v) => `Logged in to ${v.server} as token "${v.token_name}" (${roles}); saved to ${v.saved_to}`,
  );
}

export async function tokenCreate(
  io: CliIo,
  options: RoleOptions & { name: string; expiresInDays?: string },
  command: Command,
): Promise<void> {
  const ctx = contextOf(io, command);
  const roles = rolesBody(options, 'publish');
  const days = options.expiresInDays;
  if (days !== undefined && !/^[1-9]\d{0,3}$/.test(days)) {
    throw new CliError(`--expires-in-days must be a whole number of days from 1 to 3650, not "${days}"`);
  }
  const created = await (
    await ctx.api()
  ).post<TokenJson & { token: string }>('/tokens', {
    name: options.name,
    ...roles,
    ...(days !== undefined && { expires_in_days: Number(days) }),
  });
  emit(
    io,
    ctx.json,
    created,
    (v) =>
      `Created token "${v.name}" (${describeGrants(grantsFromJson(v.roles))}, id ${v.id}` +
      `${v.expires_at ? `, expires ${v.expires_at}` : ''}). ` +
      `Store it now, it is not shown again:\n${v.token}`,
  );
}

export async function tokenList(io: CliIo, _options: unknown, command: Command): Promise<void> {
  const ctx = contextOf(io, command);
  const { items } = await (await ctx.api()).get<Page<TokenJson>>('/tokens');
  emit(io, ctx.json, items, (rows) =>
    table(
      ['ID', 'NAME', 'ROLES', 'CREATED', 'LAST USED', 'EXPIRES'],
      rows.map((t) => [
        t.id,
        t.name,
        describeGrants(grantsFromJson(t.roles)),
        t.created_at,
        t.last_used_at,
        t.expires_at ?? 'never',
      ]),
    ),
  );
}

export async function tokenRevoke(io: CliIo, id: string, _options: unknown, command: Command): Promise<void> {
  const ctx = contextOf(io, command);
  await (await ctx.api()).delete(`/tokens/${encodeURIComponent(id)}`);
  emit(io, ctx.json, { revoked: Number(id) }, () => `Revoked token ${id}`);
}

export async function appCreate(
  io: CliIo,
  appId: string | undefined,
  options: { name?: string; defaultChannel: string },
  command: Command,
): Promise<void> {
  const ctx = contextOf(io, command);
  const id = await resolveAppId(io.cwd, appId);
  const created = await (
    await ctx.api()
  ).post<AppJson>('/apps', { id, name: options.name, default_channel: options.defaultChannel });
  emit(io, ctx.json, created, (v) => `Created app ${v.id} with default channel "${options.defaultChannel}"`);
}

export async function appList(io: CliIo, _options: unknown, command: Command): Promise<void> {
  const ctx = contextOf(io, command);
  const { items } = await (await ctx.api()).get<Page<AppJson>>('/apps');
  emit(io, ctx.json, items, (rows) =>
    table(
      ['APP ID', 'NAME', 'CREATED'],
      rows.map((a) => [a.id, a.name, a.created_at]),
    ),
  );
}

export async function appInfo(
  io: CliIo,
  appId: string | undefined,
  _options: unknown,
  command: Command,
): Promise<void> {
  const ctx = contextOf(io, command);
  const found = await (
    await ctx.api()
  ).get<AppJson>(`/apps/${encodeURIComponent(await resolveAppId(io.cwd, appId))}`);
  emit(io, ctx.json, found, (v) =>
    fields({
      ...v,
      // A PEM is many lines: its key id names it.
      signing_public_key: v.signing_public_key && `RSA key ${keyIdOf(v.signing_public_key)}`,
      encryption_public_key: v.encryption_public_key && `RSA key ${v.encryption_key_id}`,
    }),
  );
}

export async function appUpdate(
  io: CliIo,
  appId: string | undefined,
  options: {
    name?: string;
    requireSignature?: boolean;
    requireEncryption?: boolean;
    signingPublicKey?: string | false;
    encryptionPublicKey?: string | false;
    keepBundles?: string | false;
    releaseApproval?: string;
  },
  command: Command,
): Promise<void> {
  const ctx = contextOf(io, command);
  const id = await resolveAppId(io.cwd, appId);
  const key = async (file: string | false | undefined) => {
    if (file === undefined || file === false) return file === false ? null : undefined;
    const pem = await readKeyFile(io.cwd, file);
    // Never sent: a private key has no business on the server.
    if (pem.includes('PRIVATE KEY'))
      throw new CliError(`${file} is a private key: give the public key (e.g. ${file}.pub)`);
    return pem;
  };
  const changes = {
    name: options.name,
    require_signature: options.requireSignature,
    require_encryption: options.requireEncryption,
    signing_public_key: await key(options.signingPublicKey),
    encryption_public_key: await key(options.encryptionPublicKey),
    keep_bundles: keepBundles(options.keepBundles),
    release_approval: onOff('--release-approval', options.releaseApproval),
  };
  if (Object.values(changes).every((value) => value === undefined))
    throw new CliError(
      'nothing to change: give --name, a --require-* flag, a public key, --keep-bundles or --release-approval',
    );
  const updated = await (await ctx.api()).patch<AppUpdatedJson>(`/apps/${encodeURIComponent(id)}`, changes);
  emit(io, ctx.json, updated, (v) =>
    [
      `Updated app ${v.id}`,
      describeRequirements(v),
      `release approval: ${v.release_approval ? 'on (changes to protected channels without the release role become requests)' : 'off'}`,
      `retention: ${v.keep_bundles === null ? 'every bundle is kept' : `the ${v.keep_bundles} newest bundles are kept, and every bundle a channel can still need`}`,
      ...v.noncompliant_bundles.map(
        (b) =>
          `warning: bundle ${b.version} does not meet these requirements (${b.problems.join(', ')}): it can no longer be made live`,
      ),
    ].join('\n'),
  );
}

export async function appDelete(
  io: CliIo,
  appId: string,
  _options: unknown,
  command: Command,
): Promise<void> {
  const ctx = contextOf(io, command);
  await (await ctx.api()).delete(`/apps/${encodeURIComponent(appId)}`);
  emit(io, ctx.json, { deleted: appId }, () => `Deleted app ${appId}`);
}
