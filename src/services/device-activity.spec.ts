import { describe, expect, it } from 'vitest';
import type { DeviceReport, NewDeviceEvent } from '../db/devices.js';
import type { Repos } from '../db/index.js';
import { createLogger } from '../log.js';
import { DeviceActivity } from './device-activity.js';
import type { DeviceInfo } from './device-info.js';

/** Repositories that store rows in arrays, and refuse every write (as during an outage) while `down`. */
function fakeRepos() {
  const state = { down: false, reports: [] as DeviceReport[], events: [] as NewDeviceEvent[] };
  const refuse = () => {
    if (state.down)
      throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
  };
  const repos = {
    devices: {
      async upsertReports(rows: DeviceReport[]) {
        refuse();
        state.reports.push(...rows);
      },
      async insertEvents(rows: NewDeviceEvent[]) {
        refuse();
        state.events.push(...rows);
      },
    },
    async transaction<T>(work: (inner: unknown) => Promise<T>): Promise<T> {
      refuse();
      return work(repos);
    },
  };
  return { repos: repos as unknown as Repos, state };
}

const info = (device: string, version = '1.0.0'): DeviceInfo => ({
  app_id: 'com.example.app',
  device_id: device,
  platform: 'android',
  version_name: version,
  version_build: '1.0',
  version_code: '1',
  version_os: '14',
  plugin_version: '8.0.0',
  custom_id: '',
  defaultChannel: '',
  is_emulator: false,
  is_prod: true,
});
const event = (version: string) => ({ action: 'set', version_name: version, old_version_name: '' });
/** A long interval: only the test's own flush() calls write. */
const activity = (repos: Repos, maxBuffered?: number) =>
  new DeviceActivity(repos, createLogger('silent'), 60_000, 2000, 100, maxBuffered);

describe('device activity during a database outage', () => {
  it('keeps what could not be written and writes it, in order, once the database is back', async () => {
    const { repos, state } = fakeRepos();
    const queue = activity(repos);
    state.down = true;
    queue.recordDevice(info('a', '1.0.0'), 'production');
    queue.recordEvent(info('a'), event('1.0.0'));
    await expect(queue.flush()).rejects.toThrow('ECONNREFUSED');
    expect(queue.queued).toBe(2);
    // Newer reports while down: a stats report of the same device knows no version, nor channel.
    queue.recordDevice(info('a', 'builtin'), undefined, true);
    queue.recordEvent(info('a'), event('1.0.1'));
    await expect(queue.flush()).rejects.toThrow('ECONNREFUSED');
    expect(queue.queued).toBe(3);

    state.down = false;
    await queue.flush();
    expect(queue.queued).toBe(0);
    expect(state.events.map((row) => row.version_name)).toEqual(['1.0.0', '1.0.1']);
    expect(state.reports).toHaveLength(1);
    expect(state.reports[0]).toMatchObject({ device_id: 'a', version_name: '1.0.0', channel: 'production' });
  });

  it('keeps when a device was first seen, not when the write finally succeeded', async () => {
    const { repos, state } = fakeRepos();
    const queue = activity(repos);
    state.down = true;
    queue.recordDevice(info('a'));
    await expect(queue.flush()).rejects.toThrow();
    const firstTry = new Date().toISOString();
    await new Promise((resolve) => setTimeout(resolve, 20));
    state.down = false;
    await queue.flush();
    expect(state.reports[0]!.last_seen <= firstTry).toBe(true);
  });

  it('drops the oldest events past its bound, never growing without limit', async () => {
    const { repos, state } = fakeRepos();
    const queue = activity(repos, 3);
    state.down = true;
    for (const version of ['1', '2', '3', '4', '5']) queue.recordEvent(info('a'), event(version));
    await expect(queue.flush()).rejects.toThrow();
    expect(queue.queued).toBe(3);
    state.down = false;
    await queue.flush();
    expect(state.events.map((row) => row.version_name)).toEqual(['3', '4', '5']);
  });

  it('retries by itself, and close() never throws when the database is still down', async () => {
    const { repos, state } = fakeRepos();
    const queue = new DeviceActivity(repos, createLogger('silent'), 10);
    state.down = true;
    queue.recordEvent(info('a'), event('1'));
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(queue.queued).toBe(1);
    state.down = false;
    // The first retry comes 500 ms after the first failure.
    await new Promise((resolve) => setTimeout(resolve, 700));
    expect(queue.queued).toBe(0);
    expect(state.events).toHaveLength(1);

    state.down = true;
    queue.recordEvent(info('a'), event('2'));
    await expect(queue.close()).resolves.toBeUndefined();
  });
});
