import type { Command } from 'commander';
import type { CliIo } from '../io.js';
import { run } from '../lazy.js';
import { collect } from '../roles-options.js';

/** `login`, `token …`, `app …` and `audit export`: who talks to which server, and the apps on it. */
export function registerAdminCommands(program: Command, io: CliIo): void {
  program
    .command('login')
    .description('check a server and token, and remember them for later commands (file mode 0600)')
    .action(run(io, async () => (await import('../actions/admin.js')).login));

  const token = program
    .command('token')
    .description("manage API tokens (a server admin's token, or an app admin's for that app's tokens)");
  token
    .command('create')
    .description('create a token; its secret is printed once')
    .requiredOption('--name <name>', 'a name to recognise it by, e.g. "github-actions"')
    .option(
      '--role <role>',
      'read | publish | release | admin (default publish): on every app, or on each --app',
    )
    .option('--app <appId>', 'limit the role to this app (repeat for more apps)', collect)
    .option('--server-admin', 'a server-wide admin: users, server tokens, every app')
    .option('--scope <scope>', 'the old single scope (read | publish | admin); use --role instead')
    .option('--expires-in-days <days>', 'the token stops working after this many days (default: never)')
    .action(run(io, async () => (await import('../actions/admin.js')).tokenCreate));
  token
    .command('list')
    .description('list tokens (never their secrets)')
    .action(run(io, async () => (await import('../actions/admin.js')).tokenList));
  token
    .command('revoke <id>')
    .description('revoke a token by id')
    .action(run(io, async () => (await import('../actions/admin.js')).tokenRevoke));

  const app = program.command('app').description('manage apps');
  app
    .command('create [appId]')
    .description("create an app (id defaults to the Capacitor config's appId) with its default channel")
    .option('--name <name>', 'display name')
    .option('--default-channel <channel>', 'name of the default channel', 'production')
    .action(run(io, async () => (await import('../actions/admin.js')).appCreate));
  app
    .command('list')
    .description('list apps')
    .action(run(io, async () => (await import('../actions/admin.js')).appList));
  app
    .command('info [appId]')
    .description('show an app')
    .action(run(io, async () => (await import('../actions/admin.js')).appInfo));
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
    .option(
      '--release-approval <on|off>',
      'four-eyes releases: changes to protected channels without the release role become requests',
    )
    .action(run(io, async () => (await import('../actions/admin.js')).appUpdate));
  app
    .command('delete <appId>')
    .description('delete an app with all its channels, bundles and devices')
    .requiredOption('--yes', 'confirm: this cannot be undone')
    .action(run(io, async () => (await import('../actions/admin.js')).appDelete));

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
