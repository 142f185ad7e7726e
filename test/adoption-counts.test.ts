/**
 * Adoption's counts (migration 0029): devices per channel and bundle, and arrivals per channel, hour
 * and first bundle, kept by triggers on devices. Whatever writes the devices (reports, pins, channel
 * and version moves, deletions, an app's deletion, the retention), the counts equal a count over the
 * devices; on PostgreSQL, two instances flushing crossing moves at once lose nothing and count
 * nothing twice. On each project's database, opened as the server opens it.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { sql, type Kysely } from 'kysely';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { openPostgres, openSqlite, type DatabaseHandle } from '../src/db/connect.js';
import type { DeviceReport } from '../src/db/devices.js';
import { Repos } from '../src/db/index.js';
import { migrateTo } from '../src/db/migrations.js';
import type { Database } from '../src/db/schema.js';
import { DeviceActivity } from '../src/services/device-activity.js';
import { backendForServer, TEST_BACKEND } from './helpers/backends.js';
import { deviceInfo } from './helpers/device-info.js';
import { emptyDatabase } from './helpers/empty-database.js';
import { prng } from './helpers/prng.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A new database of this project's backend, opened (and migrated) as the server opens it. */
async function openDatabase(): Promise<DatabaseHandle & { url?: string }> {
  let handle: DatabaseHandle & { url?: string };
  if (TEST_BACKEND === 'postgres') {
    const backend = await backendForServer();
    cleanups.push(() => backend.cleanup());
    const url = backend.env.OVERAIR_DATABASE_URL!;
    handle = { ...(await openPostgres(url, { max: 4 })), url };
  } else {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'overair-counts-'));
    cleanups.push(() => fs.rm(dir, { recursive: true, force: true }));
    handle = await openSqlite(path.join(dir, 'overair.db'));
  }
  cleanups.push(() => handle.close());
  return handle;
}

type Row = Record<string, string | number>;
const byKey = (rows: Row[]) =>
  rows
    .map((row) => ({ ...row, devices: Number(row.devices) }))
    .sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));

/** What the devices say, counted now, and what the counts say (left out: counts at 0). */
async function counted(db: Kysely<Database>, fromHour = '') {
  const running = await sql<Row>`select app_id, channel, version_name, count(*) as devices from devices
    where channel <> '' and version_name <> '' group by app_id, channel, version_name`.execute(db);
  const arrivals = await sql<Row>`select app_id, channel, substr(first_seen, 1, 13) as hour,
      case when first_version <> '' then first_version else version_name end as version_name, count(*) as devices
    from devices where channel <> '' and version_name <> '' and substr(first_seen, 1, 13) >= ${fromHour}
    group by app_id, channel, substr(first_seen, 1, 13),
      case when first_version <> '' then first_version else version_name end`.execute(db);
  const keptRunning = await sql<Row>`select app_id, channel, version_name, devices from channel_bundle_devices
    where devices <> 0`.execute(db);
  const keptArrivals =
    await sql<Row>`select app_id, channel, hour, version_name, devices from channel_arrivals_hourly
    where devices <> 0 and hour >= ${fromHour}`.execute(db);
  const negative = await sql<{ n: number | string }>`select
      (select count(*) from channel_bundle_devices where devices < 0)
      + (select count(*) from channel_arrivals_hourly where devices < 0) as n`.execute(db);
  return {
    devices: { running: byKey(running.rows), arrivals: byKey(arrivals.rows), negative: 0 },
    counts: {
      running: byKey(keptRunning.rows),
      arrivals: byKey(keptArrivals.rows),
      negative: Number(negative.rows[0]!.n),
    },
  };
}

async function expectExact(db: Kysely<Database>, fromHour = ''): Promise<void> {
  const { devices, counts } = await counted(db, fromHour);
  expect(counts).toEqual(devices);
}

const APP = 'com.example.counts';
const OTHER = 'com.example.other';
const HOUR = 3_600_000;
const START = Date.parse('2026-03-01T00:00:00.000Z');
const VERSIONS = ['1.0.0', '1.1.0', '1.2.0'];
const CHANNELS = ['production', 'beta'];

function report(
  appId: string,
  deviceId: string,
  at: number,
  state: { version: string; channel?: string; keepVersion?: boolean },
): DeviceReport {
  return {
    app_id: appId,
    device_id: deviceId,
    platform: 'android',
    version_name: state.version,
    version_build: '1.0',
    version_code: '1',
    version_os: '14',
    plugin_version: '8.51.23',
    custom_id: '',
    requested_channel: '',
    is_emulator: 0,
    is_prod: 1,
    last_seen: new Date(at).toISOString(),
    ...(state.channel !== undefined && { channel: state.channel }),
    ...(state.keepVersion && { keepVersion: true }),
  };
}

describe('adoption counts kept by triggers on devices', () => {
  it('equal a count over the devices through a fleet’s reports, pins, moves, deletions and retention', async () => {
    const { db } = await openDatabase();
    const repos = new Repos(db);
    for (const id of [APP, OTHER]) await repos.apps.insert(id, id);
    const random = prng(29);
    const pick = <T>(items: readonly T[]) => items[Math.floor(random() * items.length)]!;
    const ids = (appId: string, count: number) =>
      Array.from({ length: count }, (_, n) => ({ appId, id: `${appId}-${n.toString().padStart(4, '0')}` }));
    const fleet = [...ids(APP, 300), ...ids(OTHER, 100)];
    const flush = (reports: DeviceReport[], staleBefore?: string) =>
      repos.transaction((trx) => trx.devices.upsertReports(reports, staleBefore));

    // First checks, spread over 12 hours, on both channels; the pinned ones before theirs.
    const pinned = fleet.filter((_, n) => n % 25 === 0);
    for (const device of pinned)
      await repos.devices.setChannelColumn(device.appId, device.id, 'channel_override', 'beta');
    await expectExact(db);
    for (let hour = 0; hour < 12; hour++) {
      const arriving = fleet.filter((_, n) => n % 12 === hour);
      await flush(
        arriving.map((device) =>
          report(device.appId, device.id, START + hour * HOUR + 60_000, {
            version: pick(VERSIONS.slice(0, 2)),
            channel: pick(CHANNELS),
          }),
        ),
      );
    }
    await expectExact(db);
    // A device first seen through a stats event (no channel yet: not counted until its first check).
    await flush([report(APP, 'stats-first', START, { version: '1.0.0', keepVersion: true })]);
    await expectExact(db);

    // Rounds of reports: bundle moves, channel moves, the same state again (written or skipped as
    // stale), reports that do not say the bundle or the channel, pins of devices already seen.
    for (let round = 0; round < 12; round++) {
      const at = START + (12 + round) * HOUR;
      const reports = fleet
        .filter(() => random() < 0.3)
        .map((device) => {
          const kind = random();
          if (kind < 0.4)
            return report(device.appId, device.id, at, { version: pick(VERSIONS), channel: pick(CHANNELS) });
          if (kind < 0.6)
            return report(device.appId, device.id, at, { version: pick(VERSIONS), keepVersion: true });
          if (kind < 0.8) return report(device.appId, device.id, at, { version: pick(VERSIONS) });
          return report(device.appId, device.id, at, { version: '1.0.0', channel: 'production' });
        });
      await flush(reports, round % 2 === 0 ? new Date(at - HOUR).toISOString() : undefined);
      const repinned = fleet[Math.floor(random() * fleet.length)]!;
      await repos.devices.setChannelColumn(repinned.appId, repinned.id, 'channel_override', 'production');
      await expectExact(db);
    }
    await repos.devices.forgetChannel(APP, 'beta');
    // Devices deleted, and first sightings moved back (as tests do to make hours pass).
    await db
      .deleteFrom('devices')
      .where('app_id', '=', APP)
      .where(
        'device_id',
        'in',
        ids(APP, 300)
          .slice(0, 300)
          .filter((_, n) => n % 17 === 0)
          .map((d) => d.id),
      )
      .execute();
    await expectExact(db);
    await db
      .updateTable('devices')
      .set({ first_seen: new Date(START - 48 * HOUR).toISOString() })
      .where('app_id', '=', APP)
      .where('first_seen', '<', new Date(START + 2 * HOUR).toISOString())
      .execute();
    await expectExact(db);
    const before = await repos.insight.runningNow(APP, 'production');
    expect(before.reduce((sum, row) => sum + row.devices, 0)).toBeGreaterThan(0);

    // The other app deleted: its devices and its counts go (the cascade), this app's stay exact.
    expect(await repos.apps.delete(OTHER)).toBe(true);
    await expectExact(db);
    expect(
      await db.selectFrom('channel_bundle_devices').select('app_id').where('app_id', '=', OTHER).execute(),
    ).toEqual([]);
    expect(await repos.insight.runningNow(APP, 'production')).toEqual(before);

    // The statistics retention forgets arrivals before its cutoff; devices of those hours that
    // move or go afterwards leave no negative count, and the hours kept stay exact.
    const cutoff = new Date(START + 6 * HOUR).toISOString();
    expect(await repos.insight.deleteArrivalsBefore(APP, cutoff)).toBeGreaterThan(0);
    const old = await db
      .selectFrom('devices')
      .select(['device_id', 'channel'])
      .where('app_id', '=', APP)
      .where('first_seen', '<', cutoff)
      .where('version_name', '<>', '')
      .where('channel', '<>', '')
      .execute();
    expect(old.length).toBeGreaterThan(4);
    await flush(
      old.slice(0, 4).map((device) =>
        report(APP, device.device_id, START + 40 * HOUR, {
          version: '1.2.0',
          channel: device.channel === 'beta' ? 'production' : 'beta',
        }),
      ),
    );
    await db
      .deleteFrom('devices')
      .where('app_id', '=', APP)
      .where('device_id', '=', old[4]!.device_id)
      .execute();
    await expectExact(db, cutoff.slice(0, 13));
    expect((await counted(db, cutoff.slice(0, 13))).devices.running).toEqual(
      (await counted(db)).counts.running,
    );

    // Deleting the last app: nothing left, nothing negative.
    expect(await repos.apps.delete(APP)).toBe(true);
    expect(await counted(db)).toEqual({
      devices: { running: [], arrivals: [], negative: 0 },
      counts: { running: [], arrivals: [], negative: 0 },
    });
  });

  it('counts a device that checks and installs within one flush as arriving with its first bundle', async () => {
    const { db } = await openDatabase();
    const repos = new Repos(db);
    await repos.apps.insert(APP, APP);
    const activity = new DeviceActivity(repos, pino({ level: 'silent' }), { intervalMs: 60_000 });
    const info = (version: string) => deviceInfo({ app_id: APP, device_id: 'quick', version_name: version });
    // Its first check (on 1.0.0), then the check after it applied 1.1.0, before any flush.
    activity.recordDevice(info('1.0.0'), 'production');
    activity.recordDevice(info('1.1.0'), 'production');
    await activity.flush();
    const hour = new Date().toISOString().slice(0, 13);
    expect(await repos.insight.runningNow(APP, 'production')).toEqual([{ version: '1.1.0', devices: 1 }]);
    expect(await repos.insight.newDevices(APP, 'production', `${hour}:00:00.000Z`, 'hour')).toEqual([
      { bucket: hour, version: '1.0.0', devices: 1 },
    ]);
    await activity.close();
  });
});

describe.runIf(TEST_BACKEND === 'postgres')('adoption counts under concurrent flushes (PostgreSQL)', () => {
  it('two instances flushing crossing moves at once: no error reaches them, the counts are exact', async () => {
    const handle = await openDatabase();
    // A deadlock is found after deadlock_timeout (1 s by default): shorter, so the rounds run fast.
    await sql
      .raw(`alter database ${new URL(handle.url!).pathname.slice(1)} set deadlock_timeout = '20ms'`)
      .execute(handle.db);
    const second = await openPostgres(handle.url!, { max: 4 });
    cleanups.push(() => second.close());
    const first = { db: handle.db };
    const setupRepos = new Repos(handle.db);
    await setupRepos.apps.insert(APP, APP);
    // Each instance's devices: 100 on one channel, then 100 on the other (in device order, so that
    // each flush writes them in two statements, one channel each), in crossing channel orders.
    const instances = [first, second].map((database, n) => {
      const channels = n === 0 ? ['production', 'beta'] : ['beta', 'production'];
      const devices = channels.flatMap((channel, part) =>
        Array.from({ length: 100 }, (_, k) => ({
          id: `i${n}-${part}-${k.toString().padStart(3, '0')}`,
          channel,
        })),
      );
      const activity = new DeviceActivity(new Repos(database.db), pino({ level: 'silent' }), {
        intervalMs: 60_000,
        maxQueued: 1_000_000,
        chunkRows: 200,
      });
      return { devices, activity, n };
    });
    const ROUNDS = 30;
    for (let round = 0; round < ROUNDS; round++) {
      for (const { devices, activity, n } of instances) {
        // One instance moves its devices from A to B while the other moves its own from B to A.
        const version = (round + n) % 2 === 0 ? 'A' : 'B';
        for (const device of devices)
          activity.recordDevice(
            deviceInfo({ app_id: APP, device_id: device.id, version_name: version }),
            device.channel,
          );
      }
      await Promise.all(instances.map(({ activity }) => activity.flush()));
      await expectExact(handle.db);
    }
    const last = (n: number) => ((ROUNDS - 1 + n) % 2 === 0 ? 'A' : 'B');
    expect(
      (await new Repos(handle.db).insight.runningNow(APP, 'production')).sort((a, b) =>
        a.version.localeCompare(b.version),
      ),
    ).toEqual(
      last(0) === last(1)
        ? [{ version: last(0), devices: 200 }]
        : [
            { version: 'A', devices: 100 },
            { version: 'B', devices: 100 },
          ],
    );
    const conflicts = instances.reduce((sum, { activity }) => sum + activity.conflicts, 0);
    console.log(`adoption counts: ${conflicts} deadlocks retried in ${ROUNDS} rounds of crossing flushes`);
    expect(conflicts).toBeGreaterThan(0);
    for (const { activity } of instances) await activity.close();
  });
});

describe('migration 0029: adoption counts', () => {
  it('counts the devices already there, and gives them the first bundle the events say', async () => {
    const db = await emptyDatabase(cleanups);
    await migrateTo(db, TEST_BACKEND, '0028_bundle_files_state');
    const at = (hour: number) => new Date(START + hour * HOUR).toISOString();
    await db
      .insertInto('apps')
      .values({ id: APP, name: APP, created_at: at(0) })
      .execute();
    // The row a report writes, seen at hour 20, first seen at `firstSeen`.
    const device = (id: string, version: string, channel: string, firstSeen: string) => ({
      ...report(APP, id, START + 20 * HOUR, { version, channel }),
      first_seen: firstSeen,
    });
    await (db as Kysely<any>)
      .insertInto('devices')
      .values([
        // Installed 1.1.0 over 1.0.0, then 1.2.0: arrived with 1.0.0.
        device('installed', '1.2.0', 'production', at(1)),
        // Installed 1.1.0 and rolled back (update_fail back to 1.0.0): arrived with 1.0.0.
        device('rolled-back', '1.0.0', 'production', at(1)),
        // No install on its channel (one on another): arrived with what it runs.
        device('moved', '1.1.0', 'production', at(2)),
        device('quiet', '1.1.0', 'beta', at(2)),
        // Pinned before its first check: no bundle, not counted.
        device('pinned', '', 'beta', at(3)),
        // Never checked (no channel): not counted.
        device('stats-only', '1.0.0', '', at(3)),
      ])
      .execute();
    const event = (
      deviceId: string,
      action: string,
      version: string,
      old: string,
      hour: number,
      channel = 'production',
    ) => ({
      app_id: APP,
      device_id: deviceId,
      action,
      version_name: version,
      old_version_name: old,
      platform: 'android',
      plugin_version: '8.51.23',
      channel,
      at: at(hour),
    });
    await db
      .insertInto('device_events')
      .values([
        event('installed', 'set', '1.1.0', '1.0.0', 4),
        event('installed', 'set', '1.2.0', '1.1.0', 8),
        event('rolled-back', 'set', '1.1.0', '1.0.0', 4),
        event('rolled-back', 'update_fail', '1.1.0', '1.0.0', 5),
        event('moved', 'set', '1.1.0', '0.9.0', 1, 'beta'),
      ])
      .execute();

    await migrateTo(db, TEST_BACKEND);

    expect(
      await db.selectFrom('devices').select(['device_id', 'first_version']).orderBy('device_id').execute(),
    ).toEqual([
      { device_id: 'installed', first_version: '1.0.0' },
      { device_id: 'moved', first_version: '1.1.0' },
      { device_id: 'pinned', first_version: '' },
      { device_id: 'quiet', first_version: '1.1.0' },
      { device_id: 'rolled-back', first_version: '1.0.0' },
      { device_id: 'stats-only', first_version: '1.0.0' },
    ]);
    await expectExact(db);
    const repos = new Repos(db);
    const sorted = <T extends { version: string }>(rows: T[]) =>
      rows.sort((a, b) => a.version.localeCompare(b.version));
    expect(sorted(await repos.insight.runningNow(APP, 'production'))).toEqual([
      { version: '1.0.0', devices: 1 },
      { version: '1.1.0', devices: 1 },
      { version: '1.2.0', devices: 1 },
    ]);
    expect(sorted(await repos.insight.newDevices(APP, 'production', at(0), 'hour'))).toEqual([
      { bucket: at(1).slice(0, 13), version: '1.0.0', devices: 2 },
      { bucket: at(2).slice(0, 13), version: '1.1.0', devices: 1 },
    ]);
    // ...and the triggers keep them from then on.
    await db.updateTable('devices').set({ channel: 'production' }).where('device_id', '=', 'quiet').execute();
    await db.deleteFrom('devices').where('device_id', '=', 'installed').execute();
    await expectExact(db);
  });
});
