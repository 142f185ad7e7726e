import type { Kysely } from 'kysely';
import type { Database } from './schema.js';

/** A watched device: an app id and a device id. */
export interface WatchedDevice {
  app_id: string;
  device_id: string;
}

/** The devices instances watch live, and SQLite's bus of live events (services/live-watch.ts). */
export class LiveRepo {
  constructor(private readonly db: Kysely<Database>) {}

  /**
   * Renews this instance's watches until `expiresAt`, forgets those it no longer holds, and deletes
   * every watch expired at `at` (those of an instance that died).
   */
  async renew(
    instanceId: string,
    devices: readonly WatchedDevice[],
    at: string,
    expiresAt: string,
  ): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      // This instance's old rows, and any instance's expired ones (an instance that died).
      await trx
        .deleteFrom('live_watches')
        .where((eb) => eb.or([eb('instance_id', '=', instanceId), eb('expires_at', '<=', at)]))
        .execute();
      if (devices.length === 0) return;
      await trx
        .insertInto('live_watches')
        .values(
          devices.map((device) => ({
            instance_id: instanceId,
            app_id: device.app_id,
            device_id: device.device_id,
            expires_at: expiresAt,
          })),
        )
        .execute();
    });
  }

  /** Every device some instance watches at `at`, with the instance watching it. */
  active(at: string): Promise<(WatchedDevice & { instance_id: string })[]> {
    return this.db
      .selectFrom('live_watches')
      .select(['instance_id', 'app_id', 'device_id'])
      .where('expires_at', '>', at)
      .execute();
  }

  async publish(events: readonly { origin: string; payload: string }[], at: string): Promise<void> {
    if (events.length === 0) return;
    await this.db
      .insertInto('live_events')
      .values(events.map((event) => ({ origin: event.origin, payload: event.payload, at })))
      .execute();
  }

  /** Events after `afterId`, oldest first, at most `limit`. */
  eventsAfter(afterId: number, limit: number) {
    return this.db
      .selectFrom('live_events')
      .select(['id', 'origin', 'payload'])
      .where('id', '>', afterId)
      .orderBy('id')
      .limit(limit)
      .execute();
  }

  /** The newest event's id (0 when none): a new reader starts after it. */
  async lastEventId(): Promise<number> {
    const row = await this.db
      .selectFrom('live_events')
      .select((eb) => eb.fn.max('id').as('id'))
      .executeTakeFirst();
    return Number(row?.id ?? 0);
  }

  async pruneEvents(before: string): Promise<void> {
    await this.db.deleteFrom('live_events').where('at', '<', before).execute();
  }
}
