import type { Command } from 'commander';
import type { CreatedWebhookJson, Page, WebhookDeliveryJson, WebhookJson } from '../../api-types.js';
import { contextOf } from '../context.js';
import { CliError, type CliIo } from '../io.js';
import { emit, table } from '../output.js';

const eventsText = (events: WebhookJson['events']) => (events === '*' ? '*' : events.join(','));

/** A webhook id from the command line, checked before it goes into a URL. */
function idArgument(value: string): string {
  if (!/^[1-9]\d{0,15}$/.test(value)) throw new CliError(`expected a webhook id (a number), not "${value}"`);
  return value;
}

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
    .action(async (url: string, options: { app?: string; events: string }, command: Command) => {
      const ctx = contextOf(io, command);
      const events =
        options.events.trim() === '*'
          ? '*'
          : options.events
              .split(',')
              .map((event) => event.trim())
              .filter(Boolean);
      const created = await (
        await ctx.api()
      ).post<CreatedWebhookJson>('/webhooks', {
        url,
        events,
        ...(options.app !== undefined && { app_id: options.app }),
      });
      emit(
        io,
        ctx.json,
        created,
        (v) =>
          `Created webhook ${v.id} for ${v.app_id ?? 'every app'} (events: ${eventsText(v.events)}).\n` +
          `Its signing secret, not shown again:\n${v.secret}`,
      );
    });

  webhook
    .command('list')
    .description('list webhooks (never their secrets)')
    .option('--app <appId>', 'only the webhooks of this app')
    .action(async (options: { app?: string }, command: Command) => {
      const ctx = contextOf(io, command);
      const { items } = await (await ctx.api()).get<Page<WebhookJson>>('/webhooks', { app: options.app });
      emit(io, ctx.json, items, (rows) =>
        table(
          ['ID', 'APP', 'EVENTS', 'URL', 'CREATED'],
          rows.map((w) => [w.id, w.app_id ?? '*', eventsText(w.events), w.url, w.created_at]),
        ),
      );
    });

  webhook
    .command('remove <id>')
    .description('delete a webhook and its delivery log')
    .action(async (id: string, _options, command: Command) => {
      const ctx = contextOf(io, command);
      await (await ctx.api()).delete(`/webhooks/${idArgument(id)}`);
      emit(io, ctx.json, { removed: Number(id) }, () => `Removed webhook ${id}`);
    });

  webhook
    .command('deliveries <id>')
    .description("a webhook's deliveries, newest first")
    .option('--limit <n>', 'how many (1-500)', '20')
    .action(async (id: string, options: { limit: string }, command: Command) => {
      const ctx = contextOf(io, command);
      const { items } = await (
        await ctx.api()
      ).get<Page<WebhookDeliveryJson>>(`/webhooks/${idArgument(id)}/deliveries`, { limit: options.limit });
      emit(io, ctx.json, items, (rows) =>
        table(
          ['ID', 'EVENT', 'STATUS', 'ATTEMPTS', 'HTTP', 'CREATED', 'NEXT ATTEMPT', 'LAST ERROR'],
          rows.map((d) => [
            d.id,
            d.event,
            d.status,
            d.attempts,
            d.response_status,
            d.created_at,
            d.next_attempt_at,
            d.last_error,
          ]),
        ),
      );
    });

  webhook
    .command('test <id>')
    .description('send a webhook.test event to this webhook')
    .action(async (id: string, _options, command: Command) => {
      const ctx = contextOf(io, command);
      const delivery = await (await ctx.api()).post<WebhookDeliveryJson>(`/webhooks/${idArgument(id)}/test`);
      emit(
        io,
        ctx.json,
        delivery,
        (d) => `Queued test delivery ${d.id}; see \`overair webhook deliveries ${id}\``,
      );
    });
}
