import type { Insertable, Kysely, Selectable } from 'kysely';
import type { SecretBox } from '../crypto/secret-box.js';
import type { Database, WebhookDeliveriesTable, WebhooksTable } from './schema.js';
import { now } from './time.js';

export type WebhookRow = Selectable<WebhooksTable>;
export type DeliveryRow = Selectable<WebhookDeliveriesTable>;
export type NewDelivery = Omit<
  Insertable<WebhookDeliveriesTable>,
  'status' | 'created_at' | 'next_attempt_at'
>;

/** A delivery due to be sent, with what sending it needs from its webhook. */
export interface DueDelivery {
  id: number;
  webhook_id: number;
  event: string;
  payload: string;
  attempts: number;
  next_attempt_at: string;
  url: string;
  secret: string;
}

/** Outcome of one attempt, written back to the delivery row. */
export interface AttemptResult {
  status: 'pending' | 'delivered' | 'failed';
  attempts: number;
  response_status: number | null;
  last_error: string | null;
  next_attempt_at: string | null;
  delivered_at: string | null;
}

/** The associated data of a sealed webhook secret (src/crypto/secret-box.ts). */
export const WEBHOOK_SECRET_PURPOSE = 'webhook-secret';

/** Rows deleted per statement by retention: short enough for requests to run in between. */
const DELETE_BATCH = 1000;

export class WebhooksRepo {
  /** `secrets`: with OVERAIR_SECRET_KEY, signing secrets are stored sealed and opened to sign. */
  constructor(
    private readonly db: Kysely<Database>,
    private readonly secrets: SecretBox | null = null,
  ) {}

  insert(webhook: Omit<Insertable<WebhooksTable>, 'id' | 'created_at'>): Promise<WebhookRow> {
    const secret = this.secrets ? this.secrets.seal(webhook.secret, WEBHOOK_SECRET_PURPOSE) : webhook.secret;
    return this.db
      .insertInto('webhooks')
      .values({ ...webhook, secret, created_at: now() })
      .returningAll()
      .executeTakeFirstOrThrow();
  }

  /** Every webhook's id and stored secret (sealed or plain): what start-up checks and seals. */
  storedSecrets(): Promise<{ id: number; secret: string }[]> {
    return this.db.selectFrom('webhooks').select(['id', 'secret']).orderBy('id').execute();
  }

  /** Replaces a stored secret by its sealed form, unless another instance changed it first. */
  async replaceSecret(id: number, stored: string, sealed: string): Promise<void> {
    await this.db
      .updateTable('webhooks')
      .set({ secret: sealed })
      .where('id', '=', id)
      .where('secret', '=', stored)
      .execute();
  }

  /**
   * Deletes settled deliveries (not pending) created before `cutoff`, oldest first in batches of
   * `batch`, by the primary key (deliveries are created in the order of their time); `between` runs
   * after each batch and stops it by answering false. Resolves to the number deleted.
   */
  async deleteDeliveriesBefore(
    cutoff: string,
    between?: () => Promise<boolean>,
    batch = DELETE_BATCH,
  ): Promise<number> {
    let total = 0;
    let after = 0;
    for (;;) {
      const rows = await this.db
        .selectFrom('webhook_deliveries')
        .select(['id', 'created_at', 'status'])
        .where('id', '>', after)
        .orderBy('id')
        .limit(batch)
        .execute();
      const old = rows.filter((row) => row.created_at < cutoff);
      if (old.length === 0) return total;
      const last = old[old.length - 1]!.id;
      const result = await this.db
        .deleteFrom('webhook_deliveries')
        .where('id', '>', after)
        .where('id', '<=', last)
        .where('created_at', '<', cutoff)
        .where('status', '!=', 'pending')
        .executeTakeFirst();
      total += Number(result.numDeletedRows);
      after = last;
      if (old.length < rows.length || rows.length < batch || (between && !(await between()))) return total;
    }
  }

  find(id: number): Promise<WebhookRow | undefined> {
    return this.db.selectFrom('webhooks').selectAll().where('id', '=', id).executeTakeFirst();
  }

  list(appId?: string): Promise<WebhookRow[]> {
    let query = this.db.selectFrom('webhooks').selectAll();
    if (appId !== undefined) query = query.where('app_id', '=', appId);
    return query.orderBy('id').execute();
  }

  /** Webhooks for one app's events: those of the app and those of every app (app_id null). */
  forApp(appId: string): Promise<WebhookRow[]> {
    return this.db
      .selectFrom('webhooks')
      .selectAll()
      .where((eb) => eb.or([eb('app_id', 'is', null), eb('app_id', '=', appId)]))
      .orderBy('id')
      .execute();
  }

  async delete(id: number): Promise<boolean> {
    const result = await this.db.deleteFrom('webhooks').where('id', '=', id).executeTakeFirst();
    return result.numDeletedRows > 0n;
  }

  /** New pending deliveries, due at once. */
  async insertDeliveries(deliveries: NewDelivery[]): Promise<DeliveryRow[]> {
    if (deliveries.length === 0) return [];
    const at = now();
    return this.db
      .insertInto('webhook_deliveries')
      .values(
        deliveries.map((delivery) => ({
          ...delivery,
          status: 'pending',
          created_at: at,
          next_attempt_at: at,
        })),
      )
      .returningAll()
      .execute();
  }

  deliveries(webhookId: number, limit: number, beforeId?: number): Promise<DeliveryRow[]> {
    let query = this.db.selectFrom('webhook_deliveries').selectAll().where('webhook_id', '=', webhookId);
    if (beforeId !== undefined) query = query.where('id', '<', beforeId);
    return query.orderBy('id', 'desc').limit(limit).execute();
  }

  findDelivery(id: number): Promise<DeliveryRow | undefined> {
    return this.db.selectFrom('webhook_deliveries').selectAll().where('id', '=', id).executeTakeFirst();
  }

  /** Pending deliveries whose time has come, oldest first, with their webhook's secret opened. */
  async due(at: string, limit: number): Promise<DueDelivery[]> {
    const rows = await this.dueRows(at, limit);
    const secrets = this.secrets;
    if (!secrets) return rows;
    return rows.map((row) => ({
      ...row,
      secret: secrets.open(
        row.secret,
        WEBHOOK_SECRET_PURPOSE,
        `webhooks.secret of webhook ${row.webhook_id}`,
      ),
    }));
  }

  private dueRows(at: string, limit: number): Promise<DueDelivery[]> {
    return this.db
      .selectFrom('webhook_deliveries as d')
      .innerJoin('webhooks as w', 'w.id', 'd.webhook_id')
      .select([
        'd.id',
        'd.webhook_id',
        'd.event',
        'd.payload',
        'd.attempts',
        'd.next_attempt_at',
        'w.url',
        'w.secret',
      ])
      .where('d.status', '=', 'pending')
      .where('d.next_attempt_at', '<=', at)
      .orderBy('d.next_attempt_at')
      .orderBy('d.id')
      .limit(limit)
      .execute() as Promise<DueDelivery[]>;
  }

  /** When the next pending delivery falls due, or undefined when none is pending. */
  async nextDue(): Promise<string | undefined> {
    const row = await this.db
      .selectFrom('webhook_deliveries')
      .select((eb) => eb.fn.min('next_attempt_at').as('at'))
      .where('status', '=', 'pending')
      .executeTakeFirst();
    return row?.at ?? undefined;
  }

  /**
   * Takes a due delivery for one attempt by moving its due time to `until` (a lease). Only one
   * caller wins, so several server instances never send the same attempt twice; if the holder dies,
   * the delivery falls due again when the lease ends.
   */
  async claim(id: number, dueAt: string, until: string): Promise<boolean> {
    const result = await this.db
      .updateTable('webhook_deliveries')
      .set({ next_attempt_at: until })
      .where('id', '=', id)
      .where('status', '=', 'pending')
      .where('next_attempt_at', '=', dueAt)
      .executeTakeFirst();
    return result.numUpdatedRows > 0n;
  }

  async recordAttempt(id: number, result: AttemptResult): Promise<void> {
    await this.db.updateTable('webhook_deliveries').set(result).where('id', '=', id).execute();
  }

  /** Hands a claimed delivery back without counting an attempt (the server is stopping). */
  async release(id: number, at: string): Promise<void> {
    await this.db
      .updateTable('webhook_deliveries')
      .set({ next_attempt_at: at })
      .where('id', '=', id)
      .where('status', '=', 'pending')
      .execute();
  }
}
