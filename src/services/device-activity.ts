import type { Logger } from 'pino';
import type { DeviceReport, NewDeviceEvent } from '../db/devices.js';
import type { Repos } from '../db/index.js';
import { now } from '../db/time.js';
import { isDatabaseUnavailable } from '../db/unavailable.js';
import { deviceColumns, type DeviceInfo } from './device-info.js';

export interface DeviceEvent {
  action: string;
  version_name: string;
  old_version_name: string;
}

/** Runs after a flush wrote events (inside the flush: `flush()` resolves after it). */
export type EventsWrittenListener = (events: readonly NewDeviceEvent[]) => Promise<void>;

/**
 * Write-behind recording of what devices report. Update checks must not wait for a database write,
 * so reports are queued (the newest per device wins) and flushed every `intervalMs`, or sooner when
 * the queue is long. A flush writes in chunks of `chunkRows`, each its own short transaction, and
 * lets requests run between chunks, so a large batch never stalls the event loop for long.
 * Timestamps are taken at flush time: last_seen is exact to within the interval. `close()` flushes
 * what is left. Listeners (the automatic safety) run after each flush that wrote events, off the
 * request path.
 *
 * While the database cannot be reached, what could not be written stays queued (merged with newer
 * reports, events kept in order) and is retried with a growing delay (RETRY_MIN_MS to RETRY_MAX_MS),
 * so a short outage loses nothing. The queue is bounded by `maxBuffered` rows: past it the oldest
 * events, then the oldest reports, are dropped, and the loss is logged.
 */
export class DeviceActivity {
  private reports = new Map<string, QueuedReport>();
  private events: NewDeviceEvent[] = [];
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> = Promise.resolve();
  private readonly listeners: EventsWrittenListener[] = [];
  /** The wait before the next write while the database is unreachable; 0 when it is not. */
  private retryMs = 0;
  private closed = false;

  constructor(
    private readonly repos: Repos,
    private readonly log: Logger,
    private readonly intervalMs = 250,
    private readonly maxQueued = 2000,
    private readonly chunkRows = 100,
    private readonly maxBuffered = 100_000,
  ) {}

  /**
   * `channel`: the channel it was served from (update checks only). `keepVersion`: the report does
   * not say which bundle the device runs (stats events name the bundle they are about). What a
   * queued report of the same device knows and this one does not is kept.
   */
  recordDevice(info: DeviceInfo, channel?: string, keepVersion = false): void {
    const key = `${info.app_id}\u0000${info.device_id}`;
    this.reports.set(key, merged(this.reports.get(key), { info, channel, keepVersion }));
    this.schedule();
  }

  /** `channel`: the channel the device is on, '' when unknown. */
  recordEvent(info: DeviceInfo, event: DeviceEvent, channel = ''): void {
    this.events.push({
      app_id: info.app_id,
      device_id: info.device_id,
      action: event.action,
      version_name: event.version_name,
      old_version_name: event.old_version_name,
      platform: info.platform,
      plugin_version: info.plugin_version,
      channel,
      at: now(),
    });
    this.schedule();
  }

  onEventsWritten(listener: EventsWrittenListener): void {
    this.listeners.push(listener);
  }

  /**
   * Writes everything queued so far; resolves once it is in the database. Rejects when the database
   * cannot be reached, after queueing what was not written for a retry.
   */
  flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    const seen = now();
    // The first flush that tries a report dates it: a retry keeps when the device was seen.
    const reports = [...this.reports].map(([key, queued]) => ({
      key,
      queued: { ...queued, seen: queued.seen ?? seen },
    }));
    const events = this.events;
    this.reports = new Map();
    this.events = [];
    // A failed flush must not stop the ones after it.
    this.flushing = this.flushing.catch(() => undefined).then(() => this.write(reports, events));
    return this.flushing;
  }

  /** Number of reports and events waiting to be written. */
  get queued(): number {
    return this.reports.size + this.events.length;
  }

  /** Writes what is left; what the database refuses now is lost, and logged as such. */
  async close(): Promise<void> {
    this.closed = true;
    try {
      await this.flush();
    } catch (error) {
      this.log.error(
        { err: error, reports: this.reports.size, events: this.events.length },
        'device activity lost at shutdown: the database cannot be reached',
      );
    }
  }

  /** flush() from a timer: a failure is handled (queued for a retry) and logged where it happens. */
  private flushSoon(): void {
    this.flush().catch(() => undefined);
  }

  private schedule(): void {
    if (this.closed) return;
    // During an outage only the retry timer writes: a full queue must not hammer the database.
    if (this.retryMs === 0 && this.queued >= this.maxQueued) {
      this.flushSoon();
    } else if (!this.timer) {
      this.timer = setTimeout(() => this.flushSoon(), this.retryMs || this.intervalMs);
      this.timer.unref();
    }
  }

  private async notify(events: NewDeviceEvent[]): Promise<void> {
    for (const listener of this.listeners) {
      try {
        await listener(events);
      } catch (error) {
        this.log.error({ err: error }, 'device event listener failed');
      }
    }
  }

  /**
   * Writes in chunks, then tells the listeners about the events written. When the database cannot
   * be reached, queues the unwritten rest again, plans a retry and rethrows.
   */
  private async write(reports: PendingReport[], events: NewDeviceEvent[]): Promise<void> {
    const written: NewDeviceEvent[] = [];
    try {
      for (let start = 0; start < Math.max(reports.length, events.length); start += this.chunkRows) {
        if (start > 0) await new Promise((resolve) => setImmediate(resolve));
        const end = start + this.chunkRows;
        const chunkEvents = events.slice(start, end);
        try {
          await this.writeChunk(reports.slice(start, end), chunkEvents);
        } catch (error) {
          if (!(error instanceof Unwritten)) throw error;
          written.push(...chunkEvents.slice(0, chunkEvents.length - error.events.length));
          this.requeue([...error.reports, ...reports.slice(end)], [...error.events, ...events.slice(end)]);
          this.planRetry(error.cause);
          throw error.cause;
        }
        written.push(...chunkEvents);
      }
      this.retryMs = 0;
    } finally {
      if (written.length > 0) await this.notify(written);
    }
  }

  /** Throws Unwritten, with the rows not written, when the database cannot be reached. */
  private async writeChunk(reports: PendingReport[], events: NewDeviceEvent[]): Promise<void> {
    try {
      await this.repos.transaction(async (repos) => {
        await repos.devices.upsertReports(reports.map(toReport));
        await repos.devices.insertEvents(events);
      });
      return;
    } catch (error) {
      if (isDatabaseUnavailable(error)) throw new Unwritten(reports, events, error);
      // Most likely an app deleted while its devices were queued; keep what can still be written.
      this.log.warn({ err: error }, 'device batch failed, retrying row by row');
    }
    for (const [index, report] of reports.entries()) {
      await this.repos.devices.upsertReports([toReport(report)]).catch((error: unknown) => {
        if (isDatabaseUnavailable(error)) throw new Unwritten(reports.slice(index), events, error);
      });
    }
    for (const [index, event] of events.entries()) {
      await this.repos.devices.insertEvents([event]).catch((error: unknown) => {
        if (isDatabaseUnavailable(error)) throw new Unwritten([], events.slice(index), error);
      });
    }
  }

  /** Puts rows back in the queue: before newer events, under newer reports of the same device. */
  private requeue(reports: PendingReport[], events: NewDeviceEvent[]): void {
    for (const { key, queued } of reports) {
      const newer = this.reports.get(key);
      this.reports.set(key, newer ? merged(queued, newer) : queued);
    }
    this.events = events.concat(this.events);
    const excess = this.queued - this.maxBuffered;
    if (excess <= 0) return;
    const droppedEvents = this.events.splice(0, Math.min(excess, this.events.length)).length;
    let droppedReports = 0;
    for (const key of this.reports.keys()) {
      if (droppedEvents + droppedReports >= excess) break;
      this.reports.delete(key);
      droppedReports++;
    }
    this.log.error(
      { droppedEvents, droppedReports, maxBuffered: this.maxBuffered },
      'device activity queue full while the database cannot be reached: the oldest rows were dropped',
    );
  }

  private planRetry(error: unknown): void {
    this.retryMs = Math.min(Math.max(this.retryMs * 2, RETRY_MIN_MS), RETRY_MAX_MS);
    this.log.warn(
      { err: error, queued: this.queued, retryInMs: this.retryMs },
      'the database cannot be reached: device activity kept for a retry',
    );
    clearTimeout(this.timer);
    this.timer = undefined;
    this.schedule();
  }
}

/** The shortest and longest wait between two writes while the database cannot be reached. */
const RETRY_MIN_MS = 500;
const RETRY_MAX_MS = 5_000;

/** Rows of a chunk that could not be written because the database cannot be reached. */
class Unwritten {
  constructor(
    readonly reports: PendingReport[],
    readonly events: NewDeviceEvent[],
    readonly cause: unknown,
  ) {}
}

interface QueuedReport {
  info: DeviceInfo;
  channel: string | undefined;
  keepVersion: boolean;
  /** When it was first flushed (set from then on, so a retried report keeps its time). */
  seen?: string;
}

/** A report being written, with its queue key to put it back under. */
interface PendingReport {
  key: string;
  queued: QueuedReport & { seen: string };
}

/**
 * A device's newer report over its older one. What the older knows and the newer does not is kept:
 * the version of a report that does not say which bundle the device runs, and the channel.
 */
function merged(older: QueuedReport | undefined, newer: QueuedReport): QueuedReport {
  if (!older) return newer;
  return {
    info: newer.keepVersion ? { ...newer.info, version_name: older.info.version_name } : newer.info,
    channel: newer.channel ?? older.channel,
    keepVersion: newer.keepVersion && older.keepVersion,
    seen: newer.seen,
  };
}

function toReport({ queued: { info, channel, keepVersion, seen } }: PendingReport): DeviceReport {
  return {
    ...deviceColumns(info),
    last_seen: seen,
    ...(channel !== undefined && { channel }),
    ...(keepVersion && { keepVersion }),
  };
}
