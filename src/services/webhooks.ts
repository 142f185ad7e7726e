import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { newWebhookSecret } from '../crypto/webhooks.js';
import type { Repos } from '../db/index.js';
import { now } from '../db/time.js';
import type { DeliveryRow, WebhookRow } from '../db/webhooks.js';
import { WebhookTargetPolicy } from '../domain/webhook-targets.js';
import { errors } from '../errors.js';
import { RELEASE_EVENTS, type EventSink, type ReleaseEvent } from './events.js';
import { requireApp } from './require.js';
import { WebhookDispatcher, type WebhookDeliveryOptions } from './webhook-dispatcher.js';
import type { Metrics } from '../metrics/registry.js';

/** What a webhook can be sent: the release events, and the test event sent on request. */
type WebhookEvent = ReleaseEvent | 'webhook.test';

/** A webhook as shown after creation: never with its secret. */
export type PublicWebhook = Omit<WebhookRow, 'secret'>;

export interface NewWebhook {
  url: string;
  /** '*' for every event, or some of RELEASE_EVENTS. */
  events: '*' | string[];
  /** The app whose events it gets; null or absent for every app. */
  appId?: string | null;
}

const publicWebhook = ({ secret: _secret, ...webhook }: WebhookRow): PublicWebhook => webhook;

/** Whether a webhook's event list (`*` or a comma list) includes an event. */
function subscribes(events: string, event: string): boolean {
  return events === '*' || events.split(',').includes(event);
}

/**
 * Webhooks: their configuration, and the sink of release events. `emit` records one delivery per
 * matching webhook in the database and wakes the dispatcher, which sends it (signed) with retries.
 * Emitting never throws and never makes the caller wait.
 */
export class WebhookService implements EventSink {
  readonly dispatcher: WebhookDispatcher;
  private readonly recording = new Set<Promise<void>>();

  constructor(
    private readonly repos: Repos,
    private readonly log: Logger,
    private readonly targets: WebhookTargetPolicy = new WebhookTargetPolicy(),
    options: WebhookDeliveryOptions = {},
    metrics?: Metrics,
  ) {
    this.dispatcher = new WebhookDispatcher(repos.webhooks, log, targets, options, metrics);
  }

  emit(appId: string, event: ReleaseEvent, data: Record<string, unknown>): void {
    try {
      const task: Promise<void> = this.record(appId, event, data)
        .catch((error: unknown) => this.log.error({ err: error, event, appId }, 'webhook event not recorded'))
        .finally(() => this.recording.delete(task));
      this.recording.add(task);
    } catch (error) {
      this.log.error({ err: error, event, appId }, 'webhook event not recorded');
    }
  }

  /** Sends what is pending, from earlier runs included. */
  start(): void {
    this.dispatcher.start();
  }

  /** Waits for events being recorded, then stops the dispatcher (aborted attempts stay pending). */
  async close(): Promise<void> {
    while (this.recording.size > 0) await Promise.all([...this.recording]);
    await this.dispatcher.stop();
  }

  async list(appId?: string): Promise<PublicWebhook[]> {
    return (await this.repos.webhooks.list(appId)).map(publicWebhook);
  }

  async get(id: number): Promise<PublicWebhook> {
    return publicWebhook(await this.find(id));
  }

  /** Creates a webhook; its secret is returned this once and never shown again. */
  async create(input: NewWebhook, actor: string): Promise<{ webhook: PublicWebhook; secret: string }> {
    const url = this.checkUrl(input.url);
    const events = checkEvents(input.events);
    const secret = newWebhookSecret();
    const webhook = await this.repos.transaction(async (repos) => {
      if (input.appId) await requireApp(repos, input.appId);
      const webhook = await repos.webhooks.insert({ app_id: input.appId ?? null, url, secret, events });
      await repos.audit.record({
        actor,
        action: 'webhook.create',
        appId: webhook.app_id,
        target: String(webhook.id),
        detail: { url: new URL(url).origin, events },
      });
      return webhook;
    });
    return { webhook: publicWebhook(webhook), secret };
  }

  async delete(id: number, actor: string): Promise<void> {
    await this.repos.transaction(async (repos) => {
      const webhook = await repos.webhooks.find(id);
      if (!webhook) throw webhookNotFound(id);
      await repos.webhooks.delete(id);
      await repos.audit.record({
        actor,
        action: 'webhook.delete',
        appId: webhook.app_id,
        target: String(id),
        detail: { url: new URL(webhook.url).origin },
      });
    });
  }

  /** A webhook's deliveries, newest first. */
  async deliveries(id: number, limit: number, beforeId?: number): Promise<DeliveryRow[]> {
    await this.find(id);
    return this.repos.webhooks.deliveries(id, limit, beforeId);
  }

  /** Sends a `webhook.test` event to this webhook alone, whatever its event filter. */
  async test(id: number, actor: string): Promise<DeliveryRow> {
    const delivery = await this.repos.transaction(async (repos) => {
      const webhook = await repos.webhooks.find(id);
      if (!webhook) throw webhookNotFound(id);
      const [delivery] = await repos.webhooks.insertDeliveries([
        {
          webhook_id: id,
          event: 'webhook.test',
          payload: payloadOf('webhook.test', webhook.app_id, { webhook_id: id, actor }),
        },
      ]);
      await repos.audit.record({ actor, action: 'webhook.test', appId: webhook.app_id, target: String(id) });
      return delivery!;
    });
    this.dispatcher.wake();
    return delivery;
  }

  private async record(appId: string, event: ReleaseEvent, data: Record<string, unknown>): Promise<void> {
    const webhooks = (await this.repos.webhooks.forApp(appId)).filter((webhook) =>
      subscribes(webhook.events, event),
    );
    if (webhooks.length === 0) return;
    const payload = payloadOf(event, appId, data);
    await this.repos.webhooks.insertDeliveries(
      webhooks.map((webhook) => ({ webhook_id: webhook.id, event, payload })),
    );
    this.dispatcher.wake();
  }

  /**
   * The stored form of a webhook URL, refused (400) when it could only reach inside the network: a
   * literal internal address or an obviously internal name. A name is checked again at each delivery,
   * against what it then resolves to.
   */
  private checkUrl(value: string): string {
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      throw errors.invalidRequest({ problem: 'url: not a URL' });
    }
    const problem = this.targets.urlProblem(url);
    if (problem?.code === errors.webhookTargetRefused.code)
      throw errors.webhookTargetRefused({ problem: problem.message });
    if (problem) throw errors.invalidRequest({ problem: problem.message });
    return url.href;
  }

  private async find(id: number): Promise<WebhookRow> {
    const webhook = await this.repos.webhooks.find(id);
    if (!webhook) throw webhookNotFound(id);
    return webhook;
  }
}

/**
 * The JSON body every webhook of one event receives: the event's id (the same for every webhook, to
 * recognise a repeat), its name, app, time and data.
 */
function payloadOf(event: WebhookEvent, appId: string | null, data: Record<string, unknown>): string {
  return JSON.stringify({ id: `evt_${randomUUID()}`, event, app_id: appId, created_at: now(), data });
}

const webhookNotFound = (id: number) => errors.webhookNotFound({ id });

/** The stored form of an event list: '*', or the known event names, comma-separated. */
function checkEvents(events: '*' | string[]): string {
  if (events === '*') return '*';
  const unique = [...new Set(events)];
  if (unique.includes('*')) return '*';
  if (unique.length === 0)
    throw errors.invalidRequest({ problem: 'events: give at least one event, or "*"' });
  const unknown = unique.filter((event) => !(RELEASE_EVENTS as readonly string[]).includes(event));
  if (unknown.length > 0) {
    throw errors.invalidRequest({
      problem: `events: unknown event ${unknown.map((e) => `"${e}"`).join(', ')}; known: ${RELEASE_EVENTS.join(', ')}`,
    });
  }
  return unique.join(',');
}
