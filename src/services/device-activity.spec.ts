import { afterEach, describe, expect, it, vi } from 'vitest';
import type { DeviceReport, NewDeviceEvent } from '../db/devices.js';
import type { Repos } from '../db/index.js';
import { createLogger } from '../log.js';
import { DeviceActivity } from './device-activity.js';
import type { DeviceInfo } from './device-info.js';

/**
 * Repositories that store rows in arrays, and refuse every write (as during an outage) while `down`.
 * `transactions` lists the events each transaction wrote.
 */
function fakeRepos() {
  const state = {
    down: false,
    reports: [] as DeviceReport[],
    /** The `staleBefore` of each upsertReports call. */
    staleBefore: [] as (string | undefined)[],
    events: [] as NewDeviceEvent[],
    transactions: [] as string[][],
  };
  const refuse = () => {
    if (state.down)
      throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
  };
  const store = (written: { events: NewDeviceEvent[] }) => ({
    devices: {
      async upsertReports(rows: DeviceReport[], staleBefore?: string) {
        refuse();
        state.reports.push(...rows);
        state.staleBefore.push(staleBefore);
        return rows.length;
      },
      async insertEvents(rows: NewDeviceEvent[]) {
        refuse();
        written.events.push(...rows);
      },
    },
  });
  const repos = {
    ...store(state),
    async transaction<T>(work: (inner: unknown) => Promise<T>): Promise<T> {
      refuse();
      const written = { events: [] as NewDeviceEvent[] };
      const result = await work(store(written));
      refuse(); // the commit
      state.events.push(...written.events);
      state.transactions.push(written.events.map((row) => row.version_name));
      return result;
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
const events = (...versions: string[]) =>
  versions.map((version) => ({ info: info('a'), event: event(version) }));
/** A long interval and commit delay: only the test's own flush() calls write. */
const activity = (
  repos: Repos,
  options: { maxBuffered?: number; chunkRows?: number; precisionMs?: number; maxRemembered?: number } = {},
) =>
  new DeviceActivity(repos, createLogger('silent'), {
    intervalMs: 60_000,
    commitDelayMs: 60_000,
    chunkRows: options.chunkRows,
    maxBuffered: options.maxBuffered,
    seenPrecisionMs: options.precisionMs,
    maxRemembered: options.maxRemembered,
  });

describe('device reports during a database outage', () => {
  it('keeps what could not be written and writes it once the database is back', async () => {
    const { repos, state } = fakeRepos();
    const queue = activity(repos);
    state.down = true;
    queue.recordDevice(info('a', '1.0.0'), 'production');
    await expect(queue.flush()).rejects.toThrow('ECONNREFUSED');
    expect(queue.queued).toBe(1);
    // A newer report while down: a stats report of the same device knows no version, nor channel.
    queue.recordDevice(info('a', 'builtin'), undefined, true);
    await expect(queue.flush()).rejects.toThrow('ECONNREFUSED');
    expect(queue.queued).toBe(1);

    state.down = false;
    await queue.flush();
    expect(queue.queued).toBe(0);
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

  it('drops the oldest reports past its bound, never growing without limit', async () => {
    const { repos, state } = fakeRepos();
    const queue = activity(repos, { maxBuffered: 3 });
    state.down = true;
    for (const device of ['1', '2', '3', '4', '5']) queue.recordDevice(info(device));
    await expect(queue.flush()).rejects.toThrow();
    expect(queue.queued).toBe(3);
    state.down = false;
    await queue.flush();
    expect(state.reports.map((row) => row.device_id)).toEqual(['3', '4', '5']);
  });

  it('retries by itself, and close() never throws when the database is still down', async () => {
    const { repos, state } = fakeRepos();
    const queue = new DeviceActivity(repos, createLogger('silent'), { intervalMs: 10 });
    state.down = true;
    queue.recordDevice(info('a'));
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(queue.queued).toBe(1);
    state.down = false;
    // The first retry comes 500 ms after the first failure.
    await new Promise((resolve) => setTimeout(resolve, 700));
    expect(queue.queued).toBe(0);
    expect(state.reports).toHaveLength(1);

    state.down = true;
    queue.recordDevice(info('b'));
    await expect(queue.close()).resolves.toBeUndefined();
  });
});

describe('device events: answered once committed', () => {
  it('resolves only after the commit', async () => {
    const { repos, state } = fakeRepos();
    const queue = activity(repos);
    let committed = false;
    const recorded = queue.recordEvents(events('1')).then(() => (committed = true));
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(committed).toBe(false);
    await queue.flush();
    await recorded;
    expect(state.events.map((row) => row.version_name)).toEqual(['1']);
  });

  it('fails the sender when the database is down, and keeps nothing to write twice later', async () => {
    const { repos, state } = fakeRepos();
    const queue = activity(repos);
    state.down = true;
    const recorded = queue.recordEvents(events('1', '2'));
    await expect(queue.flush()).rejects.toThrow('ECONNREFUSED');
    await expect(recorded).rejects.toThrow('ECONNREFUSED');
    state.down = false;
    await queue.flush();
    // The plugin resends what it was not answered 2xx for: a kept copy would be counted twice.
    expect(state.events).toEqual([]);
  });

  it("writes one sender's events in one transaction, never split across chunks", async () => {
    const { repos, state } = fakeRepos();
    const queue = activity(repos, { chunkRows: 2 });
    const first = queue.recordEvents(events('a1'));
    const second = queue.recordEvents(events('b1', 'b2', 'b3'));
    const third = queue.recordEvents(events('c1'));
    await queue.flush();
    await Promise.all([first, second, third]);
    expect(state.transactions).toEqual([['a1'], ['b1', 'b2', 'b3'], ['c1']]);
  });

  it('gathers the events that arrive during a flush into the next one, within the commit delay', async () => {
    const { repos, state } = fakeRepos();
    const queue = new DeviceActivity(repos, createLogger('silent'), { intervalMs: 60_000, commitDelayMs: 5 });
    const batches = Array.from({ length: 20 }, (_, index) => queue.recordEvents(events(String(index))));
    await Promise.all(batches);
    expect(state.events).toHaveLength(20);
    expect(state.transactions.length).toBeLessThan(5);
  });

  it('refuses events once closed', async () => {
    const { repos } = fakeRepos();
    const queue = activity(repos);
    await queue.close();
    await expect(queue.recordEvents(events('1'))).rejects.toThrow('closed');
  });
});

describe('device reports in the steady state', () => {
  afterEach(() => vi.useRealTimers());

  /** Records, then flushes, each report in turn; returns how many rows were written. */
  async function checks(queue: DeviceActivity, state: { reports: unknown[] }, reports: Array<() => void>) {
    const before = state.reports.length;
    for (const report of reports) {
      report();
      await queue.flush();
    }
    return state.reports.length - before;
  }

  it('writes a device that checks again unchanged only once within the precision', async () => {
    const { repos, state } = fakeRepos();
    const queue = activity(repos);
    const check = () => queue.recordDevice(info('a'), 'production');
    expect(await checks(queue, state, [check, check, check, check])).toBe(1);
    expect(queue.queued).toBe(0);
    // Another device, or any column changed, is written at the next flush.
    expect(await checks(queue, state, [() => queue.recordDevice(info('b'), 'production')])).toBe(1);
    for (const change of [
      () => queue.recordDevice(info('a', '1.0.1'), 'production'),
      () => queue.recordDevice(info('a', '1.0.1'), 'beta'),
      () => queue.recordDevice({ ...info('a', '1.0.1'), custom_id: 'tester' }, 'beta'),
      () => queue.recordDevice({ ...info('a', '1.0.1'), custom_id: 'tester', is_emulator: true }, 'beta'),
      () => queue.recordDevice({ ...info('a', '1.0.1'), custom_id: 'tester', is_emulator: true }, 'beta'),
    ]) {
      await checks(queue, state, [change]);
    }
    expect(state.reports.map((row) => row.device_id)).toEqual(['a', 'b', 'a', 'a', 'a', 'a']);
    expect(state.reports.at(-1)).toMatchObject({ version_name: '1.0.1', channel: 'beta', is_emulator: 1 });
  });

  it('writes reports of stats and channel calls only when they change something', async () => {
    const { repos, state } = fakeRepos();
    const queue = activity(repos);
    await checks(queue, state, [() => queue.recordDevice(info('a', '1.0.0'), 'production')]);
    // A stats event about another bundle (keepVersion), and a channel call (no served channel).
    const stats = () => queue.recordDevice(info('a', 'builtin'), undefined, true);
    const channelCall = () => queue.recordDevice(info('a', '1.0.0'));
    expect(await checks(queue, state, [stats, channelCall, stats])).toBe(0);
    // A `set` event says the device now runs 1.0.1; a channel call with a new requested channel.
    expect(await checks(queue, state, [() => queue.recordDevice(info('a', '1.0.1'))])).toBe(1);
    const asks = { ...info('a', '1.0.1'), defaultChannel: 'beta' };
    expect(await checks(queue, state, [() => queue.recordDevice(asks)])).toBe(1);
    // What the partial reports said is remembered with what the update check said before.
    expect(await checks(queue, state, [() => queue.recordDevice(asks, 'production')])).toBe(0);
    expect(await checks(queue, state, [() => queue.recordDevice(asks, 'beta')])).toBe(1);
  });

  it('remembers nothing a stats report did not say about a device it did not know', async () => {
    const { repos, state } = fakeRepos();
    const queue = activity(repos);
    await checks(queue, state, [() => queue.recordDevice(info('a', 'builtin'), undefined, true)]);
    // The row's version and served channel are unknown: an update check writes them.
    expect(await checks(queue, state, [() => queue.recordDevice(info('a', 'builtin'), 'production')])).toBe(
      1,
    );
  });

  it('writes an unchanged device again once the precision has passed', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const { repos, state } = fakeRepos();
    const queue = activity(repos, { precisionMs: 60_000 });
    const check = () => queue.recordDevice(info('a'), 'production');
    expect(await checks(queue, state, [check])).toBe(1);
    vi.advanceTimersByTime(59_000);
    expect(await checks(queue, state, [check])).toBe(0);
    vi.advanceTimersByTime(1_000);
    expect(await checks(queue, state, [check, check])).toBe(1);
    // The upsert is told what is stale, so that it leaves rows alone that another instance wrote.
    expect(state.staleBefore.at(-1)).toBe(new Date(Date.now() - 60_000).toISOString());
  });

  it('replaces a queued report by one that goes back to the state written', async () => {
    const { repos, state } = fakeRepos();
    const queue = activity(repos);
    await checks(queue, state, [() => queue.recordDevice(info('a', '1.0.0'), 'production')]);
    queue.recordDevice(info('a', '1.0.1'), 'production');
    queue.recordDevice(info('a', '1.0.0'), 'production');
    await queue.flush();
    expect(state.reports.map((row) => row.version_name)).toEqual(['1.0.0', '1.0.0']);
  });

  it('compares with what is being written while a flush runs', async () => {
    const { repos, state } = fakeRepos();
    const queue = activity(repos);
    await checks(queue, state, [() => queue.recordDevice(info('a', '1.0.0'), 'production')]);
    queue.recordDevice(info('a', '1.0.1'), 'production');
    const writing = queue.flush();
    queue.recordDevice(info('a', '1.0.0'), 'production');
    await writing;
    await queue.flush();
    expect(state.reports.map((row) => row.version_name)).toEqual(['1.0.0', '1.0.1', '1.0.0']);
  });

  it('counts the reports queued or being written, and those sent to the database', async () => {
    const { repos } = fakeRepos();
    const queue = activity(repos);
    queue.recordDevice(info('a'), 'production');
    queue.recordDevice(info('b'), 'production');
    expect(queue.backlog).toBe(2);
    const writing = queue.flush();
    queue.recordDevice(info('c'), 'production');
    expect(queue.backlog).toBe(3);
    await writing;
    expect(queue.backlog).toBe(1);
    await queue.flush();
    expect([queue.backlog, queue.reportsSent, queue.rowsWritten, queue.remembered]).toEqual([0, 3, 3, 3]);
  });

  it('writes again what it could not write, and forgets devices past its bound', async () => {
    const { repos, state } = fakeRepos();
    const queue = activity(repos, { maxRemembered: 2 });
    state.down = true;
    queue.recordDevice(info('a'), 'production');
    await expect(queue.flush()).rejects.toThrow();
    queue.recordDevice(info('a'), 'production');
    state.down = false;
    await queue.flush();
    expect(state.reports).toHaveLength(1);
    // Two devices remembered: a third one makes the least recently seen one be written again.
    const check = (device: string) => () => queue.recordDevice(info(device), 'production');
    expect(await checks(queue, state, [check('a'), check('b')])).toBe(1);
    expect(await checks(queue, state, [check('a'), check('c'), check('a')])).toBe(1);
    expect(await checks(queue, state, [check('b'), check('c')])).toBe(2);
  });
});
