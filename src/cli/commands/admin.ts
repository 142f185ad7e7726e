import type { Command } from 'commander';
import type { AppJson, AppUpdatedJson, Page, TokenJson } from '../../api-types.js';
import { keyIdOf } from '../../crypto/capgo.js';
import { resolveAppId } from '../capacitor.js';
import { contextOf } from '../context.js';
import { CliError, type CliIo } from '../io.js';
import { readKeyFile } from '../key-files.js';
import { emit, fields, table } from '../output.js';
import { normaliseServer, saveLogin } from '../settings.js';
import { ApiClient } from '../client.js';

/** `login`, `token …`, `app …` and `audit export`: who talks to which server, and the apps on it. */
export function registerAdminCommands(program: Command, io: CliIo): void {
  program
    .command('login')
    .description('check a server and token, and remember them for later commands (file mode 0600)')
    .action(async (_options, command: Command) => {
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
      const who = await new ApiClient(connection).get<{ name: string; scope: string }>('/whoami');
      const file = await saveLogin(io.env, connection);
      emit(
        io,
        Boolean(json),
        { server: connection.server, token_name: who.name, scope: who.scope, saved_to: file },
        (v) => `Logged in to ${v.server} as token "${v.token_name}" (${v.scope}); saved to ${v.saved_to}`,
      );
    });

  const token = program.command('token').description('manage API tokens (needs an admin token)');
  token
    .command('create')
    .description('create a token; its secret is printed once')
    .requiredOption('--name <name>', 'a name to recognise it by, e.g. "github-actions"')
    .option('--scope <scope>', 'read | publish | admin', 'publish')
    .option('--expires-in-days <days>', 'the token stops working after this many days (default: never)')
    .action(async (options: { name: string; scope: string; expiresInDays?: string }, command: Command) => {
      const ctx = contextOf(io, command);
      if (!['read', 'publish', 'admin'].includes(options.scope)) {
        throw new CliError(`--scope must be read, publish or admin, not "${options.scope}"`);
      }
      const days = options.expiresInDays;
      if (days !== undefined && !/^[1-9]\d{0,3}$/.test(days)) {
        throw new CliError(`--expires-in-days must be a whole number of days from 1 to 3650, not "${days}"`);
      }
      const created = await (
        await ctx.api()
      ).post<TokenJson & { token: string }>('/tokens', {
        name: options.name,
        scope: options.scope,
        ...(days !== undefined && { expires_in_days: Number(days) }),
      });
      emit(
        io,
        ctx.json,
        created,
        (v) =>
          `Created token "${v.name}" (${v.scope}, id ${v.id}${v.expires_at ? `, expires ${v.expires_at}` : ''}). ` +
          `Store it now, it is not shown again:\n${v.token}`,
      );
    });
  token
    .command('list')
    .description('list tokens (never their secrets)')
    .action(async (_options, command: Command) => {
      const ctx = contextOf(io, command);
      const { items } = await (await ctx.api()).get<Page<TokenJson>>('/tokens');
      emit(io, ctx.json, items, (rows) =>
        table(
          ['ID', 'NAME', 'SCOPE', 'CREATED', 'LAST USED', 'EXPIRES'],
          rows.map((t) => [t.id, t.name, t.scope, t.created_at, t.last_used_at, t.expires_at ?? 'never']),
        ),
      );
    });
  token
    .command('revoke <id>')
    .description('revoke a token by id')
    .action(async (id: string, _options, command: Command) => {
      const ctx = contextOf(io, command);
      await (await ctx.api()).delete(`/tokens/${encodeURIComponent(id)}`);
      emit(io, ctx.json, { revoked: Number(id) }, () => `Revoked token ${id}`);
    });

  const app = program.command('app').description('manage apps');
  app
    .command('create [appId]')
    .description("create an app (id defaults to the Capacitor config's appId) with its default channel")
    .option('--name <name>', 'display name')
    .option('--default-channel <channel>', 'name of the default channel', 'production')
    .action(
      async (
        appId: string | undefined,
        options: { name?: string; defaultChannel: string },
        command: Command,
      ) => {
        const ctx = contextOf(io, command);
        const id = await resolveAppId(io.cwd, appId);
        const created = await (
          await ctx.api()
        ).post<AppJson>('/apps', { id, name: options.name, default_channel: options.defaultChannel });
        emit(
          io,
          ctx.json,
          created,
          (v) => `Created app ${v.id} with default channel "${options.defaultChannel}"`,
        );
      },
    );
  app
    .command('list')
    .description('list apps')
    .action(async (_options, command: Command) => {
      const ctx = contextOf(io, command);
      const { items } = await (await ctx.api()).get<Page<AppJson>>('/apps');
      emit(io, ctx.json, items, (rows) =>
        table(
          ['APP ID', 'NAME', 'CREATED'],
          rows.map((a) => [a.id, a.name, a.created_at]),
        ),
      );
    });
  app
    .command('info [appId]')
    .description('show an app')
    .action(async (appId: string | undefined, _options, command: Command) => {
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
    });
  app
    .command('update [appId]')
    .description(
      "change an app's name, what it requires of its bundles (signed, encrypted), and how many it keeps",
    )
    .option('--name <name>', 'display name')
    .option(
      '--require-signature',
      'refuse bundles not signed with the signing key (needs --signing-public-key, now or before)',
    )
    .option('--no-require-signature', 'accept unsigned bundles again')
    .option(
      '--require-encryption',
      'refuse bundles not encrypted for the public key (needs --encryption-public-key, now or before)',
    )
    .option('--no-require-encryption', 'accept unencrypted bundles again')
    .option(
      '--signing-public-key <file>',
      "PEM public key devices verify signatures with (Capawesome's LiveUpdate.publicKey)",
    )
    .option('--no-signing-public-key', 'remove the signing public key')
    .option(
      '--encryption-public-key <file>',
      "PEM public key devices decrypt with (Capgo's CapacitorUpdater.publicKey, e.g. .capgo_key_v2.pub)",
    )
    .option('--no-encryption-public-key', 'remove the encryption public key')
    .option(
      '--keep-bundles <n>',
      'after each upload, delete bundles older than the N newest, except those a channel can still need',
    )
    .option('--no-keep-bundles', 'keep every bundle (the default)')
    .action(
      async (
        appId: string | undefined,
        options: {
          name?: string;
          requireSignature?: boolean;
          requireEncryption?: boolean;
          signingPublicKey?: string | false;
          encryptionPublicKey?: string | false;
          keepBundles?: string | false;
        },
        command: Command,
      ) => {
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
        };
        if (Object.values(changes).every((value) => value === undefined))
          throw new CliError(
            'nothing to change: give --name, a --require-* flag, a public key or --keep-bundles',
          );
        const updated = await (
          await ctx.api()
        ).patch<AppUpdatedJson>(`/apps/${encodeURIComponent(id)}`, changes);
        emit(io, ctx.json, updated, (v) =>
          [
            `Updated app ${v.id}`,
            describeRequirements(v),
            `retention: ${v.keep_bundles === null ? 'every bundle is kept' : `the ${v.keep_bundles} newest bundles are kept, and every bundle a channel can still need`}`,
            ...v.noncompliant_bundles.map(
              (b) =>
                `warning: bundle ${b.version} does not meet these requirements (${b.problems.join(', ')}): it can no longer be made live`,
            ),
          ].join('\n'),
        );
      },
    );
  app
    .command('delete <appId>')
    .description('delete an app with all its channels, bundles and devices')
    .requiredOption('--yes', 'confirm: this cannot be undone')
    .action(async (appId: string, _options, command: Command) => {
      const ctx = contextOf(io, command);
      await (await ctx.api()).delete(`/apps/${encodeURIComponent(appId)}`);
      emit(io, ctx.json, { deleted: appId }, () => `Deleted app ${appId}`);
    });

  registerAuditCommands(program, io);
}

/** `audit export`: the audit log as JSON lines. The action is loaded when the command runs. */
function registerAuditCommands(program: Command, io: CliIo): void {
  const audit = program.command('audit').description('the audit log (needs an admin token)');
  audit
    .command('export')
    .description('write audit entries, oldest first, as JSON lines (one entry a line) to stdout')
    .option(
      '--since <when>',
      'entries from an ISO date such as 2026-01-01, or a time ago such as 30d, 24h, 2w',
    )
    .option('--app <appId>', 'only the entries of this app')
    .action(async (options: { since?: string; app?: string }, command: Command) =>
      (await import('../actions/audit.js')).auditExport(io, options, command),
    );
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
