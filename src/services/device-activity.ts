import type { Logger } from 'pino';
import type { DeviceReport, NewDeviceEvent } from '../db/devices.js';
import type { Repos } from '../db/index.js';
import { now } from '../db/time.js';
import { isWriteConflict } from '../db/conflict.js';
import { isDatabaseUnavailable } from '../db/unavailable.js';
import { deviceColumns, type DeviceInfo } from './device-info.js';
import { DeviceMemory } from './device-memory.js';

export interface DeviceEvent {
  action: string;
  version_name: string;
  old_version_name: string;
}

/** Runs after a flush wrote events (inside the flush: `flush()` resolves after it). */
export type EventsWrittenListener = (events: readonly NewDeviceEvent[]) => Promise<void>;

/** The tuning of DeviceActivity (its defaults in parentheses); tests shorten or bound them. */
export interface DeviceActivityOptions {
  /** How long reports wait to be written (250 ms). */
  intervalMs?: number;
  /** Reports and event groups queued that make a flush start at once (2000). */
  maxQueued?: number;
  /** Rows per chunk, each its own transaction (100). */
  chunkRows?: number;
  /** Reports kept while the database cannot be reached (100 000). */
  maxBuffered?: number;
  /** How long events wait to be committed together (10 ms). */
  commitDelayMs?: number;
  /** An unchanged device is written again once its row is this old (15 minutes). */
  seenPrecisionMs?: number;
  /** Devices whose written state is remembered (1 000 000: about 50 MB once full, see DeviceMemory). */
  maxRemembered?: number;
}

/**
 * What devices report, written in batches. Two kinds, with different promises:
 *
 * - Reports (last seen, version, channel) are write-behind: update checks must not wait for a
 *   database write, so they are queued (the newest per device wins) and flushed every `intervalMs`,
 *   or sooner when the queue is long. While the database cannot be reached they stay queued (merged
 *   with newer ones) and are retried with a growing delay (RETRY_MIN_MS to RETRY_MAX_MS); the queue
 *   is bounded by `maxBuffered` reports, past which the oldest are dropped and the loss is logged.
 * - Events (the plugin's stats) are group-committed: `recordEvents` resolves only once its events
 *   are committed, so a 200 to the plugin means they are durable, and rejects when they could not
 *   be written, so the plugin keeps them and sends them again. One call's events are written in one
 *   transaction (never half), and those that arrive while a flush runs go together in the next one,
 *   within `commitDelayMs`. A failed group is not kept: its sender retries it.
 *
 * A flush writes in chunks of about `chunkRows`, each its own short transaction, and lets requests
 * run between chunks, so a large batch never stalls the event loop for long. Timestamps of reports
 * are taken at flush time: a last_seen written is exact to within the interval. `close()` flushes
 * what is left. Listeners (the automatic safety) run after each flush that wrote events, off the
 * request path, after the events' senders were answered.
 *
 * The steady state writes nothing: a device that reports the same state again (the columns its
 * report sets, the served channel included) within `seenPrecisionMs` of the last write of its row is
 * not queued at all, so last_seen lags by up to that much. What was written is remembered, as hashes
 * (DeviceMemory, about 50 bytes a device), for at most `maxRemembered` devices; past that, devices not
 * seen lately (about the least recently seen: the CLOCK rule) are forgotten and sent to the database
 * again, whose upsert leaves unchanged rows alone: a device forgotten costs a statement, not a write,
 * and nothing depends on this memory being complete. A fleet larger than the memory, checking at
 * random, sends most of its checks to the database.
 */
export class DeviceActivity {
  private reports = new Map<string, QueuedReport>();
  private events: EventGroup[] = [];
  private timer: NodeJS.Timeout | undefined;
  /** The delay `timer` was set with. */
  private timerDelay = Infinity;
  private flushing: Promise<void> = Promise.resolve();
  /** Reports taken by flushes whose write has not ended yet. */
  private writing = 0;
  private readonly listeners: EventsWrittenListener[] = [];
  /** The wait before the next write while the database is unreachable; 0 when it is not. */
  private retryMs = 0;
  private closed = false;
  /** The state last written (or being written) per device, and when. */
  private readonly written: DeviceMemory;
  /** Device rows inserted or updated and events inserted so far (the benchmarks' writes per check). */
  rowsWritten = 0;
  /** Device reports sent to the database so far, whether the upsert changed their row or not. */
  reportsSent = 0;
  /** Chunks rolled back by a write conflict (a deadlock with another instance's flush) and run again. */
  conflicts = 0;

  private readonly intervalMs: number;
  private readonly maxQueued: number;
  private readonly chunkRows: number;
  private readonly maxBuffered: number;
  private readonly commitDelayMs: number;
  private readonly seenPrecisionMs: number;

  constructor(
    private readonly repos: Repos,
    private readonly log: Logger,
    options: DeviceActivityOptions = {},
  ) {
    this.intervalMs = options.intervalMs ?? 250;
    this.maxQueued = options.maxQueued ?? 2000;
    this.chunkRows = options.chunkRows ?? 100;
    this.maxBuffered = options.maxBuffered ?? 100_000;
    this.commitDelayMs = options.commitDelayMs ?? 10;
    this.seenPrecisionMs = options.seenPrecisionMs ?? 15 * 60_000;
    this.written = new DeviceMemory(options.maxRemembered ?? 1_000_000);
  }

  /**
   * `channel`: the channel it was served from (update checks only). `keepVersion`: the report does
   * not say which bundle the device runs (stats events name the bundle they are about). What a
   * queued report of the same device knows and this one does not is kept.
   */
  recordDevice(info: DeviceInfo, channel?: string, keepVersion = false): void {
    const report = { info, channel, keepVersion };
    // In the steady state nothing is queued: no key to build (a string of both ids, hashed) per check.
    const key = this.reports.size === 0 ? undefined : reportKey(info);
    const queued = key === undefined ? undefined : this.reports.get(key);
    // A queued report may say something else: this one must then replace it.
    if (!queued && this.unchanged(report)) return;
    this.reports.set(key ?? reportKey(info), merged(queued, report));
    this.schedule();
  }

  /** Whether the report says nothing new, and the device's row was written within the precision. */
  private unchanged(report: QueuedReport): boolean {
    const remembered = this.written.get(report.info.app_id, report.info.device_id);
    if (!remembered || Date.now() - remembered.at >= this.seenPrecisionMs) return false;
    const state = this.stateOf(report);
    // What the report does not say cannot have changed; what the memory does not know may have.
    return (
      state.rest === remembered.rest &&
      (state.version === undefined || state.version === remembered.version) &&
      (state.channel === undefined || state.channel === remembered.channel)
    );
  }

  /** Remembers the reports as written, from when they were seen; the caller forgets failures. */
  private remember(reports: PendingReport[]): void {
    for (const { queued } of reports) {
      const { app_id: appId, device_id: deviceId } = queued.info;
      const state = this.stateOf(queued);
      let { version, channel } = state;
      if (version === undefined || channel === undefined) {
        // What the report does not say stays as remembered (or unknown).
        const before = this.written.get(appId, deviceId);
        version ??= before?.version;
        channel ??= before?.channel;
      }
      this.written.set(appId, deviceId, { rest: state.rest, version, channel, at: Date.parse(queued.seen) });
    }
  }

  /**
   * The hashes of the columns a report sets (the served channel included); undefined for the
   * version of a report that does not say which bundle the device runs, and for the channel of one
   * that was not an update check.
   */
  private stateOf({ info, channel, keepVersion }: QueuedReport) {
    const columns = deviceColumns(info);
    return {
      rest: this.written.hash(
        columns.platform,
        columns.version_build,
        columns.version_code,
        columns.version_os,
        columns.plugin_version,
        columns.custom_id,
        columns.requested_channel,
        String(columns.is_emulator),
        String(columns.is_prod),
      ),
      version: keepVersion ? undefined : this.written.hash(columns.version_name),
      channel: channel === undefined ? undefined : this.written.hash(channel),
    };
  }

  /**
   * Writes events, all of them in one transaction with whatever else is queued, within
   * `commitDelayMs`. Resolves once they are committed; rejects, and keeps nothing, when they could
   * not be (the database is unreachable, or the activity is closed).
   */
  recordEvents(
    events: ReadonlyArray<{ info: DeviceInfo; event: DeviceEvent; channel?: string }>,
  ): Promise<void> {
    if (events.length === 0) return Promise.resolve();
    if (this.closed) return Promise.reject(new Error('device activity is closed'));
    const at = now();
    return new Promise<void>((resolve, reject) => {
      this.events.push({
        rows: events.map(({ info, event, channel = '' }) => ({
          app_id: info.app_id,
          device_id: info.device_id,
          action: event.action,
          version_name: event.version_name,
          old_version_name: event.old_version_name,
          platform: info.platform,
          plugin_version: info.plugin_version,
          channel,
          at,
        })),
        resolve,
        reject,
      });
      this.schedule();
    });
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
    // Remembered before the write, so a report arriving meanwhile is compared with what is being
    // written; a report that fails is requeued (and so never skipped) or forgotten.
    this.remember(reports);
    // A failed flush must not stop the ones after it.
    this.writing += reports.length;
    this.flushing = this.flushing
      .catch(() => undefined)
      .then(() => this.write(reports, events))
      .finally(() => {
        this.writing -= reports.length;
      });
    return this.flushing;
  }

  /** Number of reports and event groups waiting to be written. */
  get queued(): number {
    return this.reports.size + this.events.length;
  }

  /**
   * Number of reports queued or being written: more than a flush's worth when the database writes
   * slower than devices report (the flushes then wait for each other).
   */
  get backlog(): number {
    return this.reports.size + this.writing;
  }

  /** Number of devices whose written state is remembered. */
  get remembered(): number {
    return this.written.size;
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
    // Senders of events wait for their commit: the next flush comes within the commit delay (the
    // retry delay during an outage), so it gathers everything that arrived meanwhile.
    const delay = this.retryMs || (this.events.length > 0 ? this.commitDelayMs : this.intervalMs);
    // During an outage only the retry timer writes: a full queue must not hammer the database.
    if (this.retryMs === 0 && this.queued >= this.maxQueued) {
      this.flushSoon();
    } else if (!this.timer || (delay < this.timerDelay && this.retryMs === 0)) {
      clearTimeout(this.timer);
      this.timerDelay = delay;
      this.timer = setTimeout(() => this.flushSoon(), delay);
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
   * Writes in chunks, answers each event group's sender as its chunk commits, then tells the
   * listeners about the events written. When the database cannot be reached, queues the unwritten
   * reports again, fails the unwritten event groups, plans a retry and rethrows.
   */
  private async write(reports: PendingReport[], groups: EventGroup[]): Promise<void> {
    const written: NewDeviceEvent[] = [];
    const eventChunks = chunkGroups(groups, this.chunkRows);
    try {
      const chunks = Math.max(Math.ceil(reports.length / this.chunkRows), eventChunks.length);
      for (let index = 0; index < chunks; index++) {
        if (index > 0) await new Promise((resolve) => setImmediate(resolve));
        const start = index * this.chunkRows;
        const chunkGroups = eventChunks[index] ?? [];
        const rows = chunkGroups.flatMap((group) => group.rows);
        try {
          await this.writeChunk(reports.slice(start, start + this.chunkRows), rows);
        } catch (error) {
          if (!(error instanceof Unwritten)) throw error;
          this.requeue([...error.reports, ...reports.slice(start + this.chunkRows)]);
          for (const group of eventChunks.slice(index).flat()) group.reject(error.cause);
          this.planRetry(error.cause);
          throw error.cause;
        }
        for (const group of chunkGroups) group.resolve();
        written.push(...rows);
      }
      this.retryMs = 0;
    } catch (error) {
      // Forgotten, so written again when next reported (those requeued are not skipped anyway).
      for (const { queued } of reports) this.written.delete(queued.info.app_id, queued.info.device_id);
      // Not an outage (a bug): nobody may wait forever. Senders that were answered are not again.
      for (const group of groups) group.reject(error);
      throw error;
    } finally {
      if (written.length > 0) await this.notify(written);
    }
  }

  /** Throws Unwritten, with the reports not written, when the database cannot be reached. */
  private async writeChunk(reports: PendingReport[], events: NewDeviceEvent[]): Promise<void> {
    // Rows written within the precision are only rewritten by a report that changes them.
    const staleBefore = new Date(Date.now() - this.seenPrecisionMs).toISOString();
    this.reportsSent += reports.length;
    for (let attempt = 1; ; attempt++) {
      try {
        const devices = await this.repos.transaction(async (repos) => {
          const upserted = await repos.devices.upsertReports(reports.map(toReport), staleBefore);
          await repos.devices.insertEvents(events);
          return upserted;
        });
        this.rowsWritten += devices + events.length;
        return;
      } catch (error) {
        if (isDatabaseUnavailable(error)) throw new Unwritten(reports, error);
        if (isWriteConflict(error)) {
          // Another instance's flush locked the same counts in the other order (PostgreSQL's
          // statement triggers on devices, migration 0029), and this transaction was rolled back
          // whole: run it again. Still losing after a few tries, it waits like an outage (the
          // reports queued again, the events' senders told to resend): row by row, a conflict would
          // drop what it refused.
          this.conflicts++;
          if (attempt < CONFLICT_ATTEMPTS) {
            await new Promise((resolve) => setTimeout(resolve, Math.random() * CONFLICT_DELAY_MS * attempt));
            continue;
          }
          throw new Unwritten(reports, error);
        }
        // Most likely an app deleted while its devices were queued; keep what can still be written.
        this.log.warn({ err: error }, 'device batch failed, retrying row by row');
        break;
      }
    }
    for (const [index, report] of reports.entries()) {
      this.rowsWritten += await this.repos.devices
        .upsertReports([toReport(report)], staleBefore)
        .catch((error: unknown) => {
          if (isDatabaseUnavailable(error) || isWriteConflict(error))
            throw new Unwritten(reports.slice(index), error);
          this.written.delete(report.queued.info.app_id, report.queued.info.device_id);
          return 0;
        });
    }
    // Row by row, events could be half written: their senders get a failure and resend them all.
    // An event the database refuses for a reason of its own (its app was deleted) is dropped.
    for (const event of events) {
      await this.repos.devices.insertEvents([event]).catch((error: unknown) => {
        if (isDatabaseUnavailable(error) || isWriteConflict(error)) throw new Unwritten([], error);
      });
    }
  }

  /** Puts reports back in the queue, under newer reports of the same device. */
  private requeue(reports: PendingReport[]): void {
    for (const { key, queued } of reports) {
      const newer = this.reports.get(key);
      this.reports.set(key, newer ? merged(queued, newer) : queued);
    }
    const excess = this.reports.size - this.maxBuffered;
    if (excess <= 0) return;
    let droppedReports = 0;
    for (const key of this.reports.keys()) {
      if (droppedReports >= excess) break;
      this.reports.delete(key);
      droppedReports++;
    }
    this.log.error(
      { droppedReports, maxBuffered: this.maxBuffered },
      'device activity queue full while the database cannot be reached: the oldest reports were dropped',
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

/** Tries of a chunk that a write conflict rolled back, and the most the first retry waits (more each time). */
const CONFLICT_ATTEMPTS = 5;
const CONFLICT_DELAY_MS = 20;

/** The shortest and longest wait between two writes while the database cannot be reached. */
const RETRY_MIN_MS = 500;
const RETRY_MAX_MS = 5_000;

/** Reports of a chunk that could not be written because the database cannot be reached. */
class Unwritten {
  constructor(
    readonly reports: PendingReport[],
    readonly cause: unknown,
  ) {}
}

/** The events of one sender (one stats request): committed together, answered together. */
interface EventGroup {
  rows: NewDeviceEvent[];
  resolve(): void;
  reject(error: unknown): void;
}

/** Groups in order, cut into chunks of about `rows` events; a group is never split. */
function chunkGroups(groups: EventGroup[], rows: number): EventGroup[][] {
  const chunks: EventGroup[][] = [];
  let current: EventGroup[] = [];
  let size = 0;
  for (const group of groups) {
    if (size > 0 && size + group.rows.length > rows) {
      chunks.push(current);
      current = [];
      size = 0;
    }
    current.push(group);
    size += group.rows.length;
  }
  if (current.length > 0) chunks.push(current);
  return chunks;
}

interface QueuedReport {
  info: DeviceInfo;
  channel: string | undefined;
  keepVersion: boolean;
  /**
   * The bundle the first of the reports merged into this one said (undefined: this is the first):
   * a device new to the server that checks and installs an update within one flush is written
   * once, and arrived with the bundle it first reported (devices.first_version), not the one it
   * ends the flush on.
   */
  firstVersion?: string;
  /** When it was first flushed (set from then on, so a retried report keeps its time). */
  seen?: string;
}

/** A report being written, with its queue key to put it back under. */
interface PendingReport {
  key: string;
  queued: QueuedReport & { seen: string };
}

/** A device's key among the queued reports. */
function reportKey(info: DeviceInfo): string {
  return `${info.app_id}\u0000${info.device_id}`;
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
    firstVersion: older.firstVersion ?? older.info.version_name,
  };
}

function toReport({
  queued: { info, channel, keepVersion, seen, firstVersion },
}: PendingReport): DeviceReport {
  const columns = deviceColumns(info);
  return {
    ...columns,
    first_version: firstVersion ?? columns.version_name,
    last_seen: seen,
    ...(channel !== undefined && { channel }),
    ...(keepVersion && { keepVersion }),
  };
}
