/**
 * release_devices (migration 0027): each device's part in each bundle's releases on each channel,
 * kept as the events are written, so release health and a release's installs count rows instead of
 * distinct devices among the events. On each project's database, a simulated fleet's events (every
 * kind, out of order, over several writes) give the same answers from the rows as from the events
 * themselves, for windows that straddle a device's events; the migration makes the rows from the
 * events already kept; the retention's pruning leaves the rows the events kept would make.
 */
import { sql, type Kysely } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { Repos } from '../src/db/index.js';
import { migrateTo } from '../src/db/migrations.js';
import type { Database } from '../src/db/schema.js';
import type { NewDeviceEvent } from '../src/db/devices.js';
import { categoryOf, INSTALL_FAILURE_ACTIONS } from '../src/domain/device-events.js';
import { TRIED_ACTIONS } from '../src/domain/safety.js';
import { TEST_BACKEND } from './helpers/backends.js';
import { emptyDatabase as newEmptyDatabase } from './helpers/empty-database.js';
import { RELEASE_DEVICE_TIMES } from './helpers/release-devices.js';
import { prng } from './helpers/prng.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** An empty database of this project's backend, not migrated, dropped after the test. */
const emptyDatabase = () => newEmptyDatabase(cleanups);

const APP = 'com.example.rows';
const HOUR = 3_600_000;
const T0 = Date.parse('2026-03-01T00:00:00.000Z');
const VERSIONS = ['1.0.0', '1.1.0', '1.2.0'];
const CHANNELS = ['production', 'beta'];
const ACTIONS = [
  'download_complete',
  'set',
  'set',
  'update_fail',
  'app_launch_timeout',
  'download_fail',
  'checksum_required',
  'insufficient_disk_space',
  'download_40',
  'delete',
];

/**
 * A fleet's events over ten days, in no order: each device does a few bursts (a bundle tried, failed,
 * installed, on a channel, sometimes none), so most devices have events of a bundle before and after
 * a window with none in it.
 */
function fleetEvents(seed: number, devices = 80): NewDeviceEvent[] {
  const random = prng(seed);
  const pick = <T>(items: readonly T[]) => items[Math.floor(random() * items.length)]!;
  const events: NewDeviceEvent[] = [];
  for (let n = 0; n < devices; n++) {
    const device = `device-${n}`;
    for (let burst = Math.floor(random() * 5); burst > 0; burst--) {
      const version = pick(VERSIONS);
      const channel = random() < 0.1 ? '' : pick(CHANNELS);
      const at = T0 + Math.floor(random() * 240) * HOUR + Math.floor(random() * HOUR);
      for (let step = Math.floor(random() * 4) + 1; step > 0; step--)
        events.push({
          app_id: APP,
          device_id: device,
          action: pick(ACTIONS),
          version_name: version,
          old_version_name: pick(['', ...VERSIONS]),
          platform: 'android',
          plugin_version: '8.0.0',
          channel,
          at: new Date(at + step * 1000).toISOString(),
        });
    }
  }
  for (let n = events.length - 1; n > 0; n--) {
    const m = Math.floor(random() * (n + 1));
    [events[n], events[m]] = [events[m]!, events[n]!];
  }
  return events;
}

async function migratedWithApp(upTo?: string): Promise<Kysely<Database>> {
  const db = await emptyDatabase();
  await migrateTo(db, TEST_BACKEND, upTo);
  await db
    .insertInto('apps')
    .values({ id: APP, name: APP, created_at: new Date(T0).toISOString() })
    .execute();
  return db;
}

/** The rows release_devices must hold: made here, in plain code, from every event kept. */
async function expectedRows(db: Kysely<Database>) {
  const events = await db.selectFrom('device_events').selectAll().where('app_id', '=', APP).execute();
  const rows = new Map<string, Record<string, string | null>>();
  const min = (a: string | null | undefined, b: string) => (a == null || b < a ? b : a);
  const max = (a: string | null | undefined, b: string) => (a == null || b > a ? b : a);
  for (const event of events) {
    const category = categoryOf(event.action);
    const failed = category === 'install_failure' || category === 'download_failure';
    const tried = TRIED_ACTIONS.includes(event.action);
    if (!event.channel || (!failed && !tried)) continue;
    const key = `${event.channel}|${event.version_name}|${event.device_id}`;
    const row = rows.get(key) ?? {
      channel: event.channel,
      version_name: event.version_name,
      device_id: event.device_id,
      first_at: null,
      last_at: null,
      first_failed_at: null,
      last_failed_at: null,
      last_tried_at: null,
      last_start_failed_at: null,
      first_install_at: null,
      last_install_at: null,
    };
    row.first_at = min(row.first_at, event.at);
    row.last_at = max(row.last_at, event.at);
    if (failed) {
      row.first_failed_at = min(row.first_failed_at, event.at);
      row.last_failed_at = max(row.last_failed_at, event.at);
    }
    if (tried) row.last_tried_at = max(row.last_tried_at, event.at);
    if (INSTALL_FAILURE_ACTIONS.includes(event.action))
      row.last_start_failed_at = max(row.last_start_failed_at, event.at);
    if (event.action === 'set') {
      row.first_install_at = min(row.first_install_at, event.at);
      row.last_install_at = max(row.last_install_at, event.at);
    }
    rows.set(key, row);
  }
  return [...rows.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([, row]) => row);
}

async function storedRows(db: Kysely<Database>) {
  const rows = await db
    .selectFrom('release_devices')
    .select(['channel', 'version_name', 'device_id', ...RELEASE_DEVICE_TIMES])
    .where('app_id', '=', APP)
    .execute();
  return rows.sort((a, b) => {
    const [ka, kb] = [a, b].map((row) => `${row.channel}|${row.version_name}|${row.device_id}`);
    return ka! < kb! ? -1 : 1;
  });
}

// The answers from the events themselves: the queries as they were before release_devices.
const FAILED = sql`(action like ${'%\\_fail'} escape ${'\\'} or action in ('update_fail', 'app_launch_timeout', 'checksum_required', 'session_key_required', 'insufficient_disk_space'))`;
const EXPOSED = sql`(action in (${sql.join(TRIED_ACTIONS)}) or ${FAILED})`;

async function groupFromEvents(
  db: Kysely<Database>,
  window: { channel: string; version: string; since: string; until?: string },
) {
  const until = window.until === undefined ? sql`` : sql`and at < ${window.until}`;
  const { rows } = await sql<{ devices: number | string; failed: number | string }>`
    select count(distinct device_id) as devices, count(distinct case when ${FAILED} then device_id end) as failed
    from device_events
    where app_id = ${APP} and channel = ${window.channel} and version_name = ${window.version}
      and at >= ${window.since} ${until} and ${EXPOSED}`.execute(db);
  return { devices: Number(rows[0]!.devices), failed: Number(rows[0]!.failed) };
}

async function installsFromEvents(
  db: Kysely<Database>,
  channel: string,
  version: string,
  since: string,
  length: number,
) {
  const { rows } = await sql<{ bucket: string; devices: number | string }>`
    select substr(first_at, 1, ${sql.lit(length)}) as bucket, count(*) as devices from (
      select device_id, min(at) as first_at from device_events
      where app_id = ${APP} and channel = ${channel} and action = 'set' and at >= ${since} and version_name = ${version}
      group by device_id
    ) as installs
    group by substr(first_at, 1, ${sql.lit(length)}) order by bucket`.execute(db);
  return rows.map((row) => ({ bucket: row.bucket, devices: Number(row.devices) }));
}

async function thresholdFromEvents(db: Kysely<Database>, channel: string, version: string, since?: string) {
  let query = db
    .selectFrom('device_events')
    .select([
      sql<number>`count(distinct device_id)`.as('tried'),
      sql<number>`count(distinct case when action in (${sql.join(INSTALL_FAILURE_ACTIONS)}) then device_id end)`.as(
        'failed',
      ),
    ])
    .where('app_id', '=', APP)
    .where('channel', '=', channel)
    .where('version_name', '=', version)
    .where('action', 'in', TRIED_ACTIONS);
  if (since !== undefined) query = query.where('at', '>=', since);
  const row = await query.executeTakeFirstOrThrow();
  return { tried: Number(row.tried), failed: Number(row.failed) };
}

/**
 * Every answer read from release_devices against the events' own, for every channel, bundle and
 * window between times of the ten days: resolves to how many were compared, and how many windows
 * had devices whose events straddle them, and devices that installed the bundle before and since.
 */
async function compareAnswers(
  db: Kysely<Database>,
  seed: number,
): Promise<{ compared: number; straddling: number; reinstalled: number }> {
  const repos = new Repos(db);
  const hard = { straddling: 0, reinstalled: 0 };
  const random = prng(seed);
  const time = () => new Date(T0 + Math.floor(random() * 250 * HOUR)).toISOString();
  let compared = 0;
  for (const channel of CHANNELS)
    for (const version of VERSIONS) {
      for (let n = 0; n < 12; n++) {
        const [a, b] = [time(), time()].sort();
        const windows = [
          { channel, version, since: a! },
          { channel, version, since: a!, until: b! },
        ];
        for (const window of windows) {
          const group = await repos.insight.triedGroup({ appId: APP, ...window });
          expect(group, JSON.stringify(window)).toEqual(await groupFromEvents(db, window));
          compared++;
        }
        // Devices with events of the bundle before and after the window, none in it: the rows alone
        // would count them.
        const straddling = await db
          .selectFrom('release_devices')
          .select(sql<number | string>`count(*)`.as('devices'))
          .where('app_id', '=', APP)
          .where('channel', '=', channel)
          .where('version_name', '=', version)
          .where('first_at', '<', a!)
          .where('last_at', '>=', b!)
          .executeTakeFirstOrThrow();
        if (Number(straddling.devices) > 0) hard.straddling++;
        const reinstalled = await db
          .selectFrom('release_devices')
          .select(sql<number | string>`count(*)`.as('devices'))
          .where('app_id', '=', APP)
          .where('channel', '=', channel)
          .where('version_name', '=', version)
          .where('first_install_at', '<', a!)
          .where('last_install_at', '>=', a!)
          .executeTakeFirstOrThrow();
        if (Number(reinstalled.devices) > 0) hard.reinstalled++;
        for (const [suffix, length] of [
          [':00:00.000Z', 13],
          ['T00:00:00.000Z', 10],
        ] as const) {
          // Buckets from a time after `a` (so some installs come before them) to one before the last event.
          const buckets = [
            ...new Set([time(), time(), time(), time()].map((at) => at.slice(0, length) + suffix)),
          ].sort();
          const fromEvents = await installsFromEvents(db, channel, version, a!, length);
          const expected = [0, ...buckets.map(() => 0)];
          for (const row of fromEvents) {
            const n = buckets.filter((start) => start <= row.bucket + suffix).length;
            expected[n]! += row.devices;
          }
          expect(await repos.insight.installsPerBucket(APP, channel, version, a!, buckets)).toEqual(expected);
        }
        expect(await repos.stats.releaseHealth(APP, channel, version, a)).toEqual(
          await thresholdFromEvents(db, channel, version, a),
        );
        compared += 3;
      }
      expect(await repos.stats.releaseHealth(APP, channel, version)).toEqual(
        await thresholdFromEvents(db, channel, version),
      );
    }
  return { compared, ...hard };
}

describe('release_devices', () => {
  it('answers release health and installs as the events do, written in any order over several writes', async () => {
    const db = await migratedWithApp();
    const repos = new Repos(db);
    const events = fleetEvents(19);
    for (let start = 0; start < events.length; start += 97)
      await repos.devices.insertEvents(events.slice(start, start + 97));
    expect((await storedRows(db)).length).toBeGreaterThan(100);
    expect(await storedRows(db)).toEqual(await expectedRows(db));
    // Groups over a window that ends, with devices whose events straddle it, are among them.
    const compared = await compareAnswers(db, 7);
    expect(compared.compared).toBe(360);
    expect(compared.straddling).toBeGreaterThan(5);
    expect(compared.reinstalled).toBeGreaterThan(5);
  });

  it('is made by its migration from the events already kept', async () => {
    const db = await migratedWithApp('0026_rollout_schedules');
    const events = fleetEvents(23);
    for (let start = 0; start < events.length; start += 100)
      await db
        .insertInto('device_events')
        .values(events.slice(start, start + 100))
        .execute();
    await migrateTo(db, TEST_BACKEND);
    const rows = await storedRows(db);
    expect(rows.length).toBeGreaterThan(100);
    expect(rows).toEqual(await expectedRows(db));
    await compareAnswers(db, 11);
    // ...and kept from there as more are written.
    await new Repos(db).devices.insertEvents(fleetEvents(29, 30));
    expect(await storedRows(db)).toEqual(await expectedRows(db));
  });

  it('keeps, after the retention’s pruning, only what the events kept say', async () => {
    const db = await migratedWithApp();
    const repos = new Repos(db);
    const events = fleetEvents(31);
    for (let start = 0; start < events.length; start += 200)
      await repos.devices.insertEvents(events.slice(start, start + 200));
    const before = (await storedRows(db)).length;
    const cutoff = new Date(T0 + 120 * HOUR + 1234).toISOString();
    expect(await repos.stats.deleteEventsBefore(APP, cutoff)).toBeGreaterThan(0);
    const pruned = await repos.insight.pruneReleaseDevices(APP, cutoff);
    expect(pruned).toBeGreaterThan(0);
    expect((await storedRows(db)).length).toBe(before - pruned);
    expect(await storedRows(db)).toEqual(await expectedRows(db));
    // Windows that begin before the cutoff too.
    await compareAnswers(db, 13);
  });
});
