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

export async function webhookAdd(
  io: CliIo,
  url: string,
  options: { app?: string; events: string },
  command: Command,
): Promise<void> {
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
}

export async function webhookList(io: CliIo, options: { app?: string }, command: Command): Promise<void> {
  const ctx = contextOf(io, command);
  const { items } = await (await ctx.api()).get<Page<WebhookJson>>('/webhooks', { app: options.app });
  emit(io, ctx.json, items, (rows) =>
    table(
      ['ID', 'APP', 'EVENTS', 'URL', 'CREATED'],
      rows.map((w) => [w.id, w.app_id ?? '*', eventsText(w.events), w.url, w.created_at]),
    ),
  );
}

export async function webhookRemove(
  io: CliIo,
  id: string,
  _options: unknown,
  command: Command,
): Promise<void> {
  const ctx = contextOf(io, command);
  await (await ctx.api()).delete(`/webhooks/${idArgument(id)}`);
  emit(io, ctx.json, { removed: Number(id) }, () => `Removed webhook ${id}`);
}

export async function webhookDeliveries(
  io: CliIo,
  id: string,
  options: { limit: string },
  command: Command,
): Promise<void> {
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
}

export async function webhookTest(io: CliIo, id: string, _options: unknown, command: Command): Promise<void> {
  const ctx = contextOf(io, command);
  const delivery = await (await ctx.api()).post<WebhookDeliveryJson>(`/webhooks/${idArgument(id)}/test`);
  emit(
    io,
    ctx.json,
    delivery,
    (d) => `Queued test delivery ${d.id}; see \`overair webhook deliveries ${id}\``,
  );
}
