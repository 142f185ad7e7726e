import type { Insertable, Kysely, Selectable } from 'kysely';
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

export class WebhooksRepo {
  constructor(private readonly db: Kysely<Database>) {}

  insert(webhook: Omit<Insertable<WebhooksTable>, 'id' | 'created_at'>): Promise<WebhookRow> {
    return this.db
      .insertInto('webhooks')
      .values({ ...webhook, created_at: now() })
      .returningAll()
      .executeTakeFirstOrThrow();
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

  /** Pending deliveries whose time has come, oldest first. */
  due(at: string, limit: number): Promise<DueDelivery[]> {
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
