import { randomUUID } from 'node:crypto';
import { type Kysely, sql } from 'kysely';
import pg from 'pg';
import type { Logger } from 'pino';
import type { Database } from './schema.js';

/** The PostgreSQL notification channel of release changes; the payload is a JSON `Notice`. */
const RELEASE_CHANNEL = 'overair_release';

interface Notice {
  /** The instance that made the change (it has dropped its own cache already). */
  from: string;
  app: string;
}

/** What a notice acts on: the release cache. */
export interface ReleaseCacheTarget {
  drop(appId: string): void;
  clear(): void;
}

/** Another kind of notice carried on the same listening connection (live device events). */
export interface NoticeSubscriber {
  receive(payload: string): void;
  /** The connection is back after a loss: notices sent meanwhile were missed. */
  resumed(): void;
}

export interface ReleaseNotificationOptions {
  /** Waits between reconnection attempts, the last one repeated (tests shorten them). */
  retryDelaysMs?: number[];
  /** How often the listening connection is checked (30 s by default). */
  heartbeatMs?: number;
}

const DEFAULT_RETRY_DELAYS_MS = [100, 250, 500, 1000, 2000, 5000];
/**
 * How often the listening connection is checked with a query. A connection can die without either
 * side hearing of it (a failover, a NAT forgetting it): it would then wait for notices forever.
 */
const HEARTBEAT_MS = 30_000;
/** How long the check may take before the connection is given up for dead. */
const HEARTBEAT_TIMEOUT_MS = 5_000;
/** The listening connection's application_name. */
export const LISTENER_NAME = 'overair-release-listener';

/**
 * Release changes between instances sharing one PostgreSQL database. `publish` (wired as the release
 * cache's publisher) sends a NOTIFY through the shared pool once the change is committed; each
 * instance LISTENs on a connection of its own and drops the app from its release cache, so a device
 * checking through any instance gets a release made through another within milliseconds.
 *
 * Notices are a shortcut, not the guarantee: the cache's TTL still bounds staleness when one is
 * lost. The listening connection is re-opened whenever it drops (a database restart, a network
 * failure), with growing waits; once it is back the whole cache is dropped, since notices sent
 * meanwhile were missed. Nothing here throws into the process: failures are logged.
 */
export class ReleaseNotifications {
  private readonly id = randomUUID();
  private readonly retryDelaysMs: number[];
  private readonly heartbeat: NodeJS.Timeout;
  private client: pg.Client | undefined;
  /** A heartbeat query is in flight. */
  private checking = false;
  private closed = false;
  private reconnecting: Promise<void> | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private wakeRetry: (() => void) | undefined;
  /** Apps changed since the last send: a burst of writes to one app sends one notice. */
  private readonly pending = new Set<string>();
  private sending: Promise<void> = Promise.resolve();
  private sendScheduled = false;
  /** Other channels listened to on the same connection (subscribe). */
  private readonly subscribers = new Map<string, NoticeSubscriber>();

  constructor(
    private readonly url: string,
    private readonly db: Kysely<Database>,
    private readonly target: ReleaseCacheTarget,
    private readonly log: Logger,
    options: ReleaseNotificationOptions = {},
  ) {
    this.retryDelaysMs = options.retryDelaysMs ?? DEFAULT_RETRY_DELAYS_MS;
    this.heartbeat = setInterval(() => this.check(), options.heartbeatMs ?? HEARTBEAT_MS);
    this.heartbeat.unref();
  }

  /** Whether notices from other instances are being received right now. */
  get listening(): boolean {
    return this.client !== undefined;
  }

  /** Starts listening; if the database cannot be reached, keeps trying in the background. */
  async start(): Promise<void> {
    try {
      await this.listen();
    } catch (error) {
      this.log.warn({ err: error }, 'cannot listen for release changes yet; retrying');
      this.reconnect();
    }
  }

  /**
   * Listens to `channel` too (a fixed identifier, not user input), from the next connection on:
   * call before `start`. One listening connection per instance, whatever it listens to.
   */
  subscribe(channel: string, subscriber: NoticeSubscriber): void {
    this.subscribers.set(channel, subscriber);
  }

  publish(appId: string): void {
    if (this.closed) return;
    this.pending.add(appId);
    if (this.sendScheduled) return;
    this.sendScheduled = true;
    // Changes made in the same turn of the event loop go out together, after the notices before them.
    setImmediate(() => {
      this.sendScheduled = false;
      const apps = [...this.pending];
      this.pending.clear();
      this.sending = this.sending.then(() => this.send(apps));
    });
  }

  /** Stops listening and reconnecting, after sending the notices already published. */
  async close(): Promise<void> {
    if (this.sendScheduled) await new Promise((resolve) => setImmediate(resolve));
    this.closed = true;
    clearInterval(this.heartbeat);
    await this.sending;
    clearTimeout(this.retryTimer);
    this.wakeRetry?.();
    await this.reconnecting;
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => undefined);
  }

  private async send(apps: string[]): Promise<void> {
    for (const app of apps) {
      const notice: Notice = { from: this.id, app };
      try {
        await sql`select pg_notify(${RELEASE_CHANNEL}, ${JSON.stringify(notice)})`.execute(this.db);
      } catch (error) {
        // The other instances fall back to their cache's TTL.
        this.log.warn({ err: error, app }, 'could not tell other instances about a release change');
      }
    }
  }

  private async listen(): Promise<void> {
    const client = new pg.Client({
      connectionString: this.url,
      // A server that vanished without closing the connection is noticed, not waited on forever.
      keepAlive: true,
      connectionTimeoutMillis: 5_000,
      query_timeout: HEARTBEAT_TIMEOUT_MS,
      // How a database administrator tells it from the pool's connections (pg_stat_activity).
      application_name: LISTENER_NAME,
    });
    // Without an 'error' listener, a dropped connection would crash the process.
    client.on('error', (error) => this.lost(client, error));
    client.on('end', () => this.lost(client));
    client.on('notification', (message) => {
      if (message.channel === RELEASE_CHANNEL) this.receive(message.payload);
      else this.subscribers.get(message.channel)?.receive(message.payload ?? '');
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${RELEASE_CHANNEL}`);
      for (const channel of this.subscribers.keys()) await client.query(`LISTEN ${channel}`);
    } catch (error) {
      await client.end().catch(() => undefined);
      throw error;
    }
    if (this.closed) {
      await client.end().catch(() => undefined);
      return;
    }
    this.client = client;
  }

  /** The heartbeat: a connection that cannot answer a trivial query is replaced. */
  private check(): void {
    const client = this.client;
    // One at a time: pg queues a query sent while another runs (deprecated), and a heartbeat still
    // waiting is already being timed out by query_timeout.
    if (!client || this.checking) return;
    this.checking = true;
    client
      .query('select 1')
      .catch((error: Error) => this.lost(client, error))
      .finally(() => (this.checking = false));
  }

  private receive(payload: string | undefined): void {
    let notice: Partial<Notice>;
    try {
      notice = JSON.parse(payload ?? '') as Partial<Notice>;
    } catch {
      return;
    }
    if (notice.from !== this.id && typeof notice.app === 'string') this.target.drop(notice.app);
  }

  private lost(client: pg.Client, error?: Error): void {
    if (client !== this.client) return;
    this.client = undefined;
    void client.end().catch(() => undefined);
    if (this.closed) return;
    this.log.warn({ err: error }, 'lost the release-change listener connection; reconnecting');
    this.reconnect();
  }

  private reconnect(): void {
    this.reconnecting ??= this.retry().finally(() => {
      this.reconnecting = undefined;
    });
  }

  private async retry(): Promise<void> {
    for (let attempt = 0; !this.closed; attempt++) {
      await this.wait(this.retryDelaysMs[Math.min(attempt, this.retryDelaysMs.length - 1)] ?? 1000);
      if (this.closed) return;
      try {
        await this.listen();
      } catch (error) {
        this.log.debug({ err: error, attempt }, 'release-change listener: reconnection failed');
        continue;
      }
      if (this.closed) return;
      if (!this.client) continue;
      // Notices sent while this instance was not listening are lost: start from the database again.
      this.target.clear();
      for (const subscriber of this.subscribers.values()) subscriber.resumed();
      this.log.info('listening for release changes again');
      return;
    }
  }

  private wait(ms: number): Promise<void> {
    return new Promise((resolve) => {
      this.wakeRetry = resolve;
      this.retryTimer = setTimeout(resolve, ms);
      this.retryTimer.unref();
    });
  }
}
