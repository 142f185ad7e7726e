import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { LiveRepo } from '../db/live.js';
import { eventJson, type LiveEvent } from '../domain/live-events.js';
import { atMostEvery } from '../log.js';

/** One open stream of a device's live events (http/live-routes.ts). */
export interface LiveSubscriber {
  /** An event: its SSE id and its JSON. Must not throw nor block: it queues. */
  deliver(id: string, json: string): void;
  /** Events may have been missed (a reconnection that cannot be replayed): `count` when known. */
  gap(count: number | null): void;
  /** The server is shutting down: end the stream (a client reconnects to another instance). */
  end(): void;
}

/** How events reach other instances' streams: NOTIFY on PostgreSQL, a table on SQLite (live-bus.ts). */
export interface LiveBus {
  /** Starts receiving; `receive` is called with each event another instance sent. */
  start(receive: (origin: string, json: string) => void, watchesChanged: () => void): Promise<void>;
  send(origin: string, json: string): void;
  /** Tells other instances to read the watch list now rather than at their next refresh. */
  announceWatches(origin: string): void;
  /** This instance holds streams (the table bus polls only then). */
  setActive(active: boolean): void;
  close(): Promise<void>;
}

export interface LiveWatchOptions {
  /** How often the watch list is read and this instance's watches renewed (1 s). */
  refreshMs?: number;
}

/** A watch expires unless renewed within this (an instance that died stops being sent events). */
const WATCH_TTL_MS = 10_000;
/** A device's watch outlives its last stream this long, buffering, for a reconnection to resume. */
const LINGER_MS = 30_000;
/** Events kept per watched device for a reconnection (Last-Event-ID) to replay. */
const RECENT_EVENTS = 100;

interface Watch {
  appId: string;
  deviceId: string;
  /** This watch's part of every event id: a Last-Event-ID of another (an older watch, another instance) cannot be replayed. */
  prefix: string;
  seq: number;
  recent: { seq: number; json: string }[];
  subscribers: Set<LiveSubscriber>;
  /** When the watch ends once it has no subscriber. */
  lingerUntil: number;
}

/**
 * Which devices are watched live, over every instance, and the events of those devices.
 *
 * The update check asks `watching(app, device)`: a lookup in a map of the watched devices (two
 * lookups for an app with some), nothing else for a device nobody watches; only a watched device's
 * check builds an event. The map is rebuilt every `refreshMs` from `live_watches`, where each
 * instance renews the devices it holds streams for (expiring after WATCH_TTL_MS, so a dead instance's
 * watches go), and at once when an instance announces a new watch (NOTIFY on PostgreSQL).
 *
 * An event goes to this instance's streams at once, and through the bus to other instances only when
 * one of them watches the device too.
 */
export class LiveWatch {
  readonly instanceId = randomUUID();
  /** App id to device id to "another instance watches it too". Read on the hot path. */
  private watched = new Map<string, Map<string, boolean>>();
  /** This instance's watches, by `app\0device`. */
  private readonly local = new Map<string, Watch>();
  private readonly refreshMs: number;
  private timer: NodeJS.Timeout | undefined;
  private refreshing: Promise<void> | undefined;
  private refreshAgain = false;
  /** The last renewal wrote watches: the next must write (or clear) them again. */
  private renewed = false;
  private watchCount = 0;
  private closed = false;
  private readonly warn: (error: unknown) => void;
  private bus: LiveBus | undefined;

  constructor(
    private readonly repo: LiveRepo,
    log: Logger,
    options: LiveWatchOptions = {},
  ) {
    this.refreshMs = options.refreshMs ?? 1000;
    this.warn = atMostEvery(10_000, (error: unknown) =>
      log.warn({ err: error }, 'cannot read or renew the live watches; retrying'),
    );
  }

  /** Starts refreshing the watch list, and receiving other instances' events through `bus`. */
  async start(bus: LiveBus): Promise<void> {
    this.bus = bus;
    await bus.start(
      (origin, json) => this.receive(origin, json),
      () => void this.refresh(),
    );
    this.timer = setInterval(() => void this.refresh(), this.refreshMs);
    this.timer.unref();
    await this.refresh();
  }

  /** Whether some instance watches this device: the only cost the update check pays for this feature. */
  watching(appId: string, deviceId: string): boolean {
    // Nothing watched anywhere (nearly always): not even the app id is hashed.
    if (this.watched.size === 0) return false;
    const devices = this.watched.get(appId);
    return devices !== undefined && devices.has(deviceId);
  }

  /** Streams open on this instance. */
  get streams(): number {
    let count = 0;
    for (const watch of this.local.values()) count += watch.subscribers.size;
    return count;
  }

  /** An event of a watched device: to this instance's streams, and to other instances watching it. */
  publish(event: LiveEvent): void {
    const json = eventJson(event);
    this.deliver(event.app_id, event.device_id, json);
    if (this.watched.get(event.app_id)?.get(event.device_id) === true) this.bus?.send(this.instanceId, json);
  }

  /**
   * Opens a stream of a device's events. With the id of the last event a dropped stream got, the
   * events since are replayed when this instance still has them, else the subscriber hears of a gap.
   * Resolves once the watch is recorded, so other instances send its events from then on.
   */
  async open(
    appId: string,
    deviceId: string,
    subscriber: LiveSubscriber,
    lastEventId?: string,
  ): Promise<() => void> {
    const key = `${appId}\u0000${deviceId}`;
    let watch = this.local.get(key);
    const isNew = watch === undefined;
    if (!watch) {
      watch = {
        appId,
        deviceId,
        prefix: `${this.instanceId.slice(0, 8)}-${++this.watchCount}`,
        seq: 0,
        recent: [],
        subscribers: new Set(),
        lingerUntil: Infinity,
      };
      this.local.set(key, watch);
      this.markWatched(appId, deviceId);
    }
    watch.subscribers.add(subscriber);
    watch.lingerUntil = Infinity;
    if (lastEventId) this.replay(watch, subscriber, lastEventId);
    if (isNew) {
      this.bus?.setActive(true);
      await this.refresh();
      this.bus?.announceWatches(this.instanceId);
    }
    return () => {
      if (!watch.subscribers.delete(subscriber) || watch.subscribers.size > 0) return;
      watch.lingerUntil = Date.now() + LINGER_MS;
    };
  }

  /** Ends every stream (at shutdown, before requests in flight are waited for). */
  endStreams(): void {
    for (const watch of this.local.values()) {
      for (const subscriber of watch.subscribers) subscriber.end();
    }
  }

  async close(): Promise<void> {
    this.endStreams();
    this.closed = true;
    clearInterval(this.timer);
    await this.refreshing;
    this.local.clear();
    // Other instances stop sending at once rather than when the watches expire (only if there were
    // some: a shutdown that watched nothing writes nothing).
    if (this.renewed) {
      const at = new Date().toISOString();
      await this.repo.renew(this.instanceId, [], at, at).catch(() => undefined);
    }
    await this.bus?.close();
  }

  private replay(watch: Watch, subscriber: LiveSubscriber, lastEventId: string): void {
    const match = /^(.+)\.(\d+)$/.exec(lastEventId);
    if (!match || match[1] !== watch.prefix) {
      subscriber.gap(null);
      return;
    }
    const last = Number(match[2]);
    const first = watch.recent[0]?.seq ?? watch.seq + 1;
    if (first > last + 1) subscriber.gap(first - last - 1);
    for (const event of watch.recent) {
      if (event.seq > last) subscriber.deliver(`${watch.prefix}.${event.seq}`, event.json);
    }
  }

  private receive(origin: string, json: string): void {
    if (origin === this.instanceId) return;
    let parsed: { app_id?: unknown; device_id?: unknown };
    try {
      parsed = JSON.parse(json) as typeof parsed;
    } catch {
      return;
    }
    if (typeof parsed.app_id === 'string' && typeof parsed.device_id === 'string') {
      this.deliver(parsed.app_id, parsed.device_id, json);
    }
  }

  private deliver(appId: string, deviceId: string, json: string): void {
    const watch = this.local.get(`${appId}\u0000${deviceId}`);
    if (!watch) return;
    const seq = ++watch.seq;
    watch.recent.push({ seq, json });
    if (watch.recent.length > RECENT_EVENTS) watch.recent.shift();
    const id = `${watch.prefix}.${seq}`;
    for (const subscriber of watch.subscribers) subscriber.deliver(id, json);
  }

  private markWatched(appId: string, deviceId: string, elsewhere = false): void {
    let devices = this.watched.get(appId);
    if (!devices) this.watched.set(appId, (devices = new Map()));
    devices.set(deviceId, elsewhere || devices.get(deviceId) === true);
  }

  /** Renews this instance's watches and reads everyone's; one at a time, a call during one runs after it. */
  private refresh(): Promise<void> {
    if (this.refreshing) {
      this.refreshAgain = true;
      return this.refreshing;
    }
    this.refreshing = this.refreshOnce()
      .catch((error: unknown) => this.warn(error))
      .finally(() => {
        this.refreshing = undefined;
        if (this.refreshAgain && !this.closed) {
          this.refreshAgain = false;
          void this.refresh();
        }
      });
    return this.refreshing;
  }

  private async refreshOnce(): Promise<void> {
    if (this.closed) return;
    const now = Date.now();
    for (const [key, watch] of this.local) {
      if (watch.subscribers.size === 0 && watch.lingerUntil <= now) this.local.delete(key);
    }
    this.bus?.setActive(this.local.size > 0);
    const mine = [...this.local.values()].map((watch) => ({
      app_id: watch.appId,
      device_id: watch.deviceId,
    }));
    if (mine.length > 0 || this.renewed) {
      await this.repo.renew(
        this.instanceId,
        mine,
        new Date(now).toISOString(),
        new Date(now + WATCH_TTL_MS).toISOString(),
      );
      this.renewed = mine.length > 0;
    }
    const rows = await this.repo.active(new Date().toISOString());
    if (this.closed) return;
    const watched = new Map<string, Map<string, boolean>>();
    this.watched = watched;
    for (const watch of this.local.values()) this.markWatched(watch.appId, watch.deviceId);
    for (const row of rows) {
      if (row.instance_id !== this.instanceId) this.markWatched(row.app_id, row.device_id, true);
    }
  }
}
