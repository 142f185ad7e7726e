import type { Command } from 'commander';
import type { CliIo } from '../io.js';
import { run } from '../lazy.js';

/** `webhook …`: URLs told about releases, rollouts, rollbacks and halts (needs an admin token). */
export function registerWebhookCommands(program: Command, io: CliIo): void {
  const webhook = program
    .command('webhook')
    .description('manage webhooks: signed POSTs on release events (needs an admin token)');

  webhook
    .command('add <url>')
    .description('add a webhook; its signing secret is printed once')
    .option('--app <appId>', 'only events of this app (default: every app)')
    .option('--events <events>', 'comma-separated events, or * for all', '*')
    .action(run(io, async () => (await import('../actions/webhooks.js')).webhookAdd));

  webhook
    .command('list')
    .description('list webhooks (never their secrets)')
    .option('--app <appId>', 'only the webhooks of this app')
    .action(run(io, async () => (await import('../actions/webhooks.js')).webhookList));

  webhook
    .command('remove <id>')
    .description('delete a webhook and its delivery log')
    .action(run(io, async () => (await import('../actions/webhooks.js')).webhookRemove));

  webhook
    .command('deliveries <id>')
    .description("a webhook's deliveries, newest first")
    .option('--limit <n>', 'how many (1-500)', '20')
    .action(run(io, async () => (await import('../actions/webhooks.js')).webhookDeliveries));

  webhook
    .command('test <id>')
    .description('send a webhook.test event to this webhook')
    .action(run(io, async () => (await import('../actions/webhooks.js')).webhookTest));
}
