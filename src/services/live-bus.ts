import { sql, type Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { LiveRepo } from '../db/live.js';
import type { NoticeSubscriber } from '../db/release-notifications.js';
import type { Database } from '../db/schema.js';
import { atMostEvery } from '../log.js';
import type { LiveBus } from './live-watch.js';

/** Events waiting to be sent, at most: past it (the database is slow or down) new ones are dropped. */
const MAX_PENDING = 1000;

/** The PostgreSQL channel of live events; payload `ORIGIN\nEVENT-JSON`, or `ORIGIN\n*` for "watches changed". */
const LIVE_CHANNEL = 'overair_live';
/** NOTIFY refuses payloads of 8000 bytes or more. */
const MAX_NOTIFY_BYTES = 7999;

/** Where the notify bus listens: the instance's one listening connection (ReleaseNotifications). */
interface Listener {
  subscribe(channel: string, subscriber: NoticeSubscriber): void;
}

/**
 * Live events between instances on PostgreSQL: NOTIFY through the pool, received on the instance's
 * listening connection (reconnected after a PostgreSQL restart; the watch list is then read again,
 * and events sent meanwhile are lost, which a live view can afford).
 */
export class NotifyBus implements LiveBus {
  private sending: Promise<void> = Promise.resolve();
  private pending = 0;
  private readonly warn: (error: unknown) => void;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly listener: Listener,
    log: Logger,
  ) {
    this.warn = atMostEvery(10_000, (error: unknown) =>
      log.warn({ err: error }, 'could not send a live event to other instances'),
    );
  }

  async start(receive: (origin: string, json: string) => void, watchesChanged: () => void): Promise<void> {
    this.listener.subscribe(LIVE_CHANNEL, {
      receive(payload) {
        const newline = payload.indexOf('\n');
        if (newline < 0) return;
        const body = payload.slice(newline + 1);
        if (body === '*') watchesChanged();
        else receive(payload.slice(0, newline), body);
      },
      resumed: watchesChanged,
    });
  }

  send(origin: string, json: string): void {
    const payload = `${origin}\n${json}`;
    // eventJson keeps events well below the limit; a payload that still does not fit is not sent.
    if (Buffer.byteLength(payload) > MAX_NOTIFY_BYTES) return;
    this.notify(payload);
  }

  announceWatches(origin: string): void {
    this.notify(`${origin}\n*`);
  }

  setActive(): void {}

  async close(): Promise<void> {
    await this.sending;
  }

  private notify(payload: string): void {
    if (this.pending >= MAX_PENDING) return;
    this.pending++;
    this.sending = this.sending
      .then(() => sql`select pg_notify(${LIVE_CHANNEL}, ${payload})`.execute(this.db))
      .then(
        () => undefined,
        (error: unknown) => this.warn(error),
      )
      .finally(() => this.pending--);
  }
}

/** How often an instance holding streams reads the table (ms), and how long events are kept. */
const POLL_MS = 200;
const KEEP_MS = 30_000;
const PRUNE_EVERY_MS = 10_000;
const READ_BATCH = 500;

/**
 * Live events between instances through the database itself (SQLite, where there is no NOTIFY): an
 * instance that sends writes its events to `live_events` in batches; instances holding streams read
 * what is newer than what they read last every POLL_MS; the writer deletes what is older than
 * KEEP_MS. Nothing is written unless another instance watches the device (LiveWatch decides).
 */
export class TableBus implements LiveBus {
  private queue: { origin: string; payload: string }[] = [];
  private writing: Promise<void> = Promise.resolve();
  private writeScheduled = false;
  private lastId: number | undefined;
  private poller: NodeJS.Timeout | undefined;
  private polling = false;
  private lastPrune = 0;
  private receive: (origin: string, json: string) => void = () => undefined;
  private readonly warn: (error: unknown) => void;

  constructor(
    private readonly repo: LiveRepo,
    log: Logger,
  ) {
    this.warn = atMostEvery(10_000, (error: unknown) =>
      log.warn({ err: error }, 'live events: the database bus failed; retrying'),
    );
  }

  async start(receive: (origin: string, json: string) => void): Promise<void> {
    this.receive = receive;
  }

  send(origin: string, json: string): void {
    if (this.queue.length >= MAX_PENDING) return;
    this.queue.push({ origin, payload: json });
    if (this.writeScheduled) return;
    this.writeScheduled = true;
    setImmediate(() => {
      this.writeScheduled = false;
      const batch = this.queue;
      this.queue = [];
      this.writing = this.writing.then(() => this.write(batch));
    });
  }

  /** Other instances read the watch list every second: nothing to announce. */
  announceWatches(): void {}

  setActive(active: boolean): void {
    if (active && !this.poller) {
      this.poller = setInterval(() => void this.poll(), POLL_MS);
      this.poller.unref();
      void this.poll();
    } else if (!active && this.poller) {
      clearInterval(this.poller);
      this.poller = undefined;
    }
  }

  async close(): Promise<void> {
    this.setActive(false);
    await new Promise((resolve) => setImmediate(resolve));
    await this.writing;
  }

  private async write(batch: { origin: string; payload: string }[]): Promise<void> {
    try {
      const now = Date.now();
      await this.repo.publish(batch, new Date(now).toISOString());
      if (now - this.lastPrune >= PRUNE_EVERY_MS) {
        this.lastPrune = now;
        await this.repo.pruneEvents(new Date(now - KEEP_MS).toISOString());
      }
    } catch (error) {
      this.warn(error);
    }
  }

  private async poll(): Promise<void> {
    if (this.polling) return;
    this.polling = true;
    try {
      // Started from the newest event when streams first open: older ones are nobody's now.
      this.lastId ??= await this.repo.lastEventId();
      for (;;) {
        const rows = await this.repo.eventsAfter(this.lastId, READ_BATCH);
        for (const row of rows) {
          this.lastId = row.id;
          this.receive(row.origin, row.payload);
        }
        if (rows.length < READ_BATCH) break;
      }
    } catch (error) {
      this.warn(error);
    } finally {
      this.polling = false;
    }
  }
}
