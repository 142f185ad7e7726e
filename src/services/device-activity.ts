import type { Logger } from 'pino';
import type { DeviceReport, NewDeviceEvent } from '../db/devices.js';
import type { Repos } from '../db/index.js';
import { now } from '../db/time.js';
import type { DeviceInfo } from './device-info.js';

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
 */
export class DeviceActivity {
  private reports = new Map<string, QueuedReport>();
  private events: NewDeviceEvent[] = [];
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> = Promise.resolve();
  private readonly listeners: EventsWrittenListener[] = [];

  constructor(
    private readonly repos: Repos,
    private readonly log: Logger,
    private readonly intervalMs = 250,
    private readonly maxQueued = 2000,
    private readonly chunkRows = 100,
  ) {}

  /**
   * `channel`: the channel it was served from (update checks only). `keepVersion`: the report does
   * not say which bundle the device runs (stats events name the bundle they are about). What a
   * queued report of the same device knows and this one does not is kept.
   */
  recordDevice(info: DeviceInfo, channel?: string, keepVersion = false): void {
    const key = `${info.app_id}\u0000${info.device_id}`;
    const queued = this.reports.get(key);
    this.reports.set(key, {
      info: keepVersion && queued ? { ...info, version_name: queued.info.version_name } : info,
      channel: channel ?? queued?.channel,
      keepVersion: keepVersion && (queued?.keepVersion ?? true),
    });
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

  /** Writes everything queued so far; resolves once it is in the database. */
  flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    const seen = now();
    const reports = [...this.reports.values()].map((queued) => toReport(queued, seen));
    const events = this.events;
    this.reports = new Map();
    this.events = [];
    this.flushing = this.flushing.then(async () => {
      await this.write(reports, events);
      if (events.length > 0) await this.notify(events);
    });
    return this.flushing;
  }

  async close(): Promise<void> {
    await this.flush();
  }

  private schedule(): void {
    if (this.reports.size + this.events.length >= this.maxQueued) {
      void this.flush();
    } else if (!this.timer) {
      this.timer = setTimeout(() => void this.flush(), this.intervalMs);
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

  private async write(reports: DeviceReport[], events: NewDeviceEvent[]): Promise<void> {
    for (let start = 0; start < Math.max(reports.length, events.length); start += this.chunkRows) {
      if (start > 0) await new Promise((resolve) => setImmediate(resolve));
      await this.writeChunk(
        reports.slice(start, start + this.chunkRows),
        events.slice(start, start + this.chunkRows),
      );
    }
  }

  private async writeChunk(reports: DeviceReport[], events: NewDeviceEvent[]): Promise<void> {
    try {
      await this.repos.transaction(async (repos) => {
        await repos.devices.upsertReports(reports);
        await repos.devices.insertEvents(events);
      });
    } catch (error) {
      // Most likely an app deleted while its devices were queued; keep what can still be written.
      this.log.warn({ err: error }, 'device batch failed, retrying row by row');
      for (const report of reports) await this.repos.devices.upsertReports([report]).catch(() => undefined);
      for (const event of events) await this.repos.devices.insertEvents([event]).catch(() => undefined);
    }
  }
}

interface QueuedReport {
  info: DeviceInfo;
  channel: string | undefined;
  keepVersion: boolean;
}

function toReport({ info, channel, keepVersion }: QueuedReport, seen: string): DeviceReport {
  return {
    app_id: info.app_id,
    device_id: info.device_id,
    platform: info.platform,
    version_name: info.version_name,
    version_build: info.version_build,
    version_code: info.version_code,
    version_os: info.version_os,
    plugin_version: info.plugin_version,
    custom_id: info.custom_id,
    default_channel: info.defaultChannel,
    is_emulator: info.is_emulator ? 1 : 0,
    is_prod: info.is_prod ? 1 : 0,
    last_seen: seen,
    ...(channel !== undefined && { channel }),
    ...(keepVersion && { keepVersion }),
  };
}
