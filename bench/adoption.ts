/**
 * `tsx bench/adoption.ts`: how long release insight's queries take at fleet scale (issue #19), on
 * SQLite and PostgreSQL. Not part of `npm run bench`'s ratios: these are absolute query times, on
 * whatever machine runs it (say which, and how loaded, when quoting them).
 *
 * Seeding, straight into the tables (no server): one app whose channel "production" holds all
 * BENCH_ADOPTION_DEVICES devices (default 1 000 000: the worst case, every device on one channel)
 * and BENCH_ADOPTION_EVENTS events (default 10 000 000) over the last BENCH_ADOPTION_DAYS days (30).
 * Five releases went live at days -28, -21, -14, -7 and -3 (channel history says when), and a rollout
 * of a sixth to 20% began a day ago. Each device, first seen at a random time over 90 days, installs
 * each release that went live after it appeared with probability 0.8, a random time within three days
 * of the release (download_complete then set, and progress events to make up the event count); 2% of
 * installs fail to start (set, update_fail, app_launch_timeout: rolled back) and 1% of downloads fail.
 * Devices end on what they installed last, seen within the last two days. Everything is drawn from a
 * fixed seed. What the server keeps as it writes events is made from the events at the end, one
 * statement each: the hourly counts of installs (install_moves_hourly) and each device's part in each
 * bundle's releases (release_devices, migration 0027); adoption's counts of devices (migration 0029)
 * are kept by the triggers on devices as the devices go in, each with the built-in bundle as the one
 * it arrived with. SQLite rows go in through better-sqlite3's
 * prepared statements, PostgreSQL's through INSERT ... SELECT FROM unnest(...) (10 000 rows a
 * statement); then VACUUM ANALYZE on PostgreSQL, as its autovacuum leaves tables after a bulk of
 * inserts (without it, every index-only scan reads the table too: release health took 2.8 s instead
 * of well under 0.1 s), and ANALYZE on SQLite (its server never analyzes).
 *
 * Measured, BENCH_ADOPTION_RUNS times each (default 3; the first is also shown, as a cold cache), with
 * the longest the event loop was held meanwhile (perf_hooks.monitorEventLoopDelay, 1 ms resolution:
 * on SQLite every statement runs on the loop, so this is what an update check could wait):
 *   - adoption per day over 30 days, and per hour over 7 days (GET .../adoption);
 *   - the release health of the channel during the rollout (GET .../health: the rollout, its control
 *     group, the release it replaced, the threshold rule);
 *   - the evidence judgement alone: what SafetyService runs after a write-behind flush with failures;
 *   - then what adoption's count triggers cost a device flush: BENCH_ADOPTION_FLUSH_DEVICES (10 000)
 *     devices' reports upserted, moving to another bundle or the same state again, with the triggers
 *     and without them (dropped in a transaction rolled back), BENCH_ADOPTION_FLUSH_RUNS (5) times.
 *
 * Knobs: BENCH_ADOPTION_DEVICES, BENCH_ADOPTION_EVENTS, BENCH_ADOPTION_DAYS, BENCH_ADOPTION_RUNS,
 * BENCH_ADOPTION_DATABASES (a subset of "sqlite,postgres"), BENCH_ADOPTION_SQLITE_DIR (SQLite's
 * database seeded there once and measured again next time; one seeded by an older version is
 * migrated first, and the time that took printed: 0027's backfill at that size). 1/10 size:
 * `BENCH_ADOPTION_DEVICES=100000 BENCH_ADOPTION_EVENTS=1000000 npx tsx bench/adoption.ts`.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import SQLite from 'better-sqlite3';
import { sql } from 'kysely';
import pg from 'pg';
import pino from 'pino';
import { openPostgres, openSqlite, type DatabaseHandle } from '../src/db/connect.js';
import { DevicesRepo, type DeviceReport } from '../src/db/devices.js';
import { Repos } from '../src/db/index.js';
import { DeviceActivity } from '../src/services/device-activity.js';
import { InsightService } from '../src/services/insight.js';
import { startPostgres } from '../test/helpers/postgres.js';
import { atCleanup, makeTempDir, printTable, runBench } from './harness.js';
import { prng } from '../test/helpers/prng.js';

function envNumber(name: string, fallback: number): number {
  const value = Number(process.env[name] ?? fallback);
  if (!Number.isInteger(value) || value < 1) throw new Error(`${name}: expected a positive integer`);
  return value;
}

const DEVICES = envNumber('BENCH_ADOPTION_DEVICES', 1_000_000);
const EVENTS = envNumber('BENCH_ADOPTION_EVENTS', 10_000_000);
const DAYS = envNumber('BENCH_ADOPTION_DAYS', 30);
const RUNS = envNumber('BENCH_ADOPTION_RUNS', 3);
const FLUSH_DEVICES = envNumber('BENCH_ADOPTION_FLUSH_DEVICES', 10_000);
const FLUSH_RUNS = envNumber('BENCH_ADOPTION_FLUSH_RUNS', 5);
const DATABASES = new Set((process.env.BENCH_ADOPTION_DATABASES ?? 'sqlite,postgres').split(','));

const APP = 'com.bench.adoption';
const CHANNEL = 'production';
const DAY = 86_400_000;
/** BENCH_ADOPTION_NOW (ms since the epoch): the same data and answers in two runs (to compare versions). */
const NOW = process.env.BENCH_ADOPTION_NOW ? Number(process.env.BENCH_ADOPTION_NOW) : Date.now();
/** Releases: version and the day (before now) it went live; the last is rolled out to 20%. */
const RELEASES = [
  { version: '1.0.0', day: 28 },
  { version: '1.1.0', day: 21 },
  { version: '1.2.0', day: 14 },
  { version: '1.3.0', day: 7 },
  { version: '1.4.0', day: 3 },
];
const ROLLOUT = { version: '1.5.0', day: 1, percent: 20 };
const BUILTIN = '0.9.0';

const iso = (ms: number) => new Date(ms).toISOString();

type EventRow = [device: string, action: string, version: string, old: string, at: string];
type DeviceRow = { id: string; version: string; firstSeen: string; lastSeen: string };

/**
 * The fleet, device by device: its row and its events, handed to `sink` in chunks. The filler
 * progress events per install are sized so the events add up to about EVENTS.
 */
async function generate(sink: {
  devices(rows: DeviceRow[]): Promise<void>;
  events(rows: EventRow[]): Promise<void>;
}): Promise<{ devices: number; events: number }> {
  const random = prng(19);
  const releases = [...RELEASES, ROLLOUT].map((release) => ({ ...release, at: NOW - release.day * DAY }));
  // Installs per device on average, to size the filler events.
  const installs = DEVICES * (RELEASES.length * 0.8 * 0.8 + 0.2 * 0.8);
  const filler = Math.max(0, Math.round(EVENTS / installs) - 2);
  const progress = [
    'download_10',
    'download_20',
    'download_30',
    'download_40',
    'download_50',
    'download_60',
    'download_70',
    'download_80',
    'download_90',
  ];
  let devices: DeviceRow[] = [];
  let events: EventRow[] = [];
  let total = 0;
  const windowStart = NOW - DAYS * DAY;
  for (let index = 0; index < DEVICES; index++) {
    const id = `device-${index.toString(36).padStart(5, '0')}`;
    const firstSeen = NOW - random() * 90 * DAY;
    let version = BUILTIN;
    let lastAt = firstSeen;
    const inRollout = random() < ROLLOUT.percent / 100;
    for (const release of releases) {
      if (release === releases.at(-1) && !inRollout) continue;
      if (release.at < firstSeen || random() >= 0.8) continue;
      const at = Math.min(NOW - 1000, release.at + random() * 3 * DAY);
      if (at < windowStart) {
        // Before the period: no event kept (retention), only the result.
        version = release.version;
        lastAt = at;
        continue;
      }
      let t = at;
      const event = (action: string) => events.push([id, action, release.version, version, iso((t += 1000))]);
      for (let n = 0; n < filler; n++) event(progress[n % progress.length]!);
      if (random() < 0.01) {
        event('download_fail');
      } else {
        event('download_complete');
        event('set');
        if (random() < 0.02) {
          event('update_fail');
          event('app_launch_timeout');
        } else version = release.version;
      }
      lastAt = t;
    }
    const lastSeen = Math.max(lastAt, NOW - random() * 2 * DAY);
    devices.push({ id, version, firstSeen: iso(firstSeen), lastSeen: iso(lastSeen) });
    if (devices.length >= 10_000) {
      await sink.devices(devices);
      devices = [];
    }
    if (events.length >= 10_000) {
      total += events.length;
      await sink.events(events);
      events = [];
    }
  }
  if (devices.length) await sink.devices(devices);
  total += events.length;
  if (events.length) await sink.events(events);
  return { devices: DEVICES, events: total };
}

/** The app, its bundles, the channel (with its rollout and settings) and the history of releases. */
async function seedRelease(handle: DatabaseHandle): Promise<void> {
  const db = handle.db;
  const created = iso(NOW - 40 * DAY);
  await db.insertInto('apps').values({ id: APP, name: APP, created_at: created }).execute();
  const ids = new Map<string, number>();
  for (const { version } of [...RELEASES, ROLLOUT]) {
    const row = await db
      .insertInto('bundles')
      .values({
        app_id: APP,
        version,
        sha256: version.padEnd(64, '0'),
        size: 1,
        location: 'blob',
        external_url: null,
        checksum: 'x',
        session_key: null,
        key_id: null,
        min_native_version: null,
        notes: null,
        signature: null,
        created_at: created,
        created_by: null,
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    ids.set(version, row.id);
  }
  const live = RELEASES.at(-1)!.version;
  const channel = await db
    .insertInto('channels')
    .values({
      app_id: APP,
      name: CHANNEL,
      bundle_id: ids.get(live)!,
      is_default: 1,
      allow_self_assign: 0,
      created_at: created,
      updated_at: iso(NOW),
      rollout_bundle_id: ids.get(ROLLOUT.version)!,
      rollout_percent: ROLLOUT.percent,
      failure_threshold: 0.2,
      failure_min_devices: 100,
      halt_on_evidence: 1,
      evidence_min_devices: 1000,
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  let previous: string | null = null;
  for (const release of [...RELEASES, ROLLOUT]) {
    await db
      .insertInto('channel_history')
      .values({
        app_id: APP,
        channel_id: channel.id,
        channel_name: CHANNEL,
        action: release === ROLLOUT ? 'rollout' : 'set',
        bundle_id: ids.get(release.version)!,
        version: release.version,
        previous_version: release === ROLLOUT ? live : previous,
        reason: null,
        at: iso(NOW - release.day * DAY),
        actor: 'bench',
      })
      .execute();
    previous = release.version;
  }
}

const deviceValues = (row: DeviceRow) => [
  APP,
  row.id,
  'android',
  row.version,
  '1.0.0',
  '1',
  '14',
  '8.51.23',
  '',
  '',
  CHANNEL,
  0,
  1,
  row.firstSeen,
  row.lastSeen,
  // Every device first reported the built-in bundle (it installs releases after it appears).
  BUILTIN,
];
const DEVICE_COLUMNS =
  'app_id, device_id, platform, version_name, version_build, version_code, version_os, plugin_version, ' +
  'custom_id, requested_channel, channel, is_emulator, is_prod, first_seen, last_seen, first_version';
/** What the server counts per hour as it writes the events (db/devices.ts insertEvents), at once. */
const COUNT_MOVES = `insert into install_moves_hourly (app_id, channel, hour, from_version, to_version, devices)
  select app_id, channel, hour, from_version, to_version, count(*) from (
    select app_id, channel, substr(at, 1, 13) as hour,
      case when action = 'set' then old_version_name else version_name end as from_version,
      case when action = 'set' then version_name else old_version_name end as to_version
    from device_events
    where action in ('set', 'update_fail') and channel != ''
      and old_version_name != version_name and old_version_name != ''
  ) as moves
  group by app_id, channel, hour, from_version, to_version`;
/** Each device's part in each bundle's releases (release_devices), as db/devices.ts insertEvents keeps it. */
const FAILED = `(action like '%\\_fail' escape '\\' or action in
  ('update_fail', 'app_launch_timeout', 'checksum_required', 'session_key_required', 'insufficient_disk_space'))`;
const TRIED = `action in ('set', 'update_fail', 'app_launch_timeout', 'download_complete')`;
const COUNT_RELEASE_DEVICES = `insert into release_devices (app_id, channel, version_name, device_id, first_at, last_at,
    first_failed_at, last_failed_at, last_tried_at, last_start_failed_at, first_install_at, last_install_at)
  select app_id, channel, version_name, device_id, min(at), max(at),
    min(case when ${FAILED} then at end), max(case when ${FAILED} then at end),
    max(case when ${TRIED} then at end),
    max(case when action in ('update_fail', 'app_launch_timeout') then at end),
    min(case when action = 'set' then at end), max(case when action = 'set' then at end)
  from device_events
  where channel != '' and (${TRIED} or ${FAILED})
  group by app_id, channel, version_name, device_id`;
const EVENT_COLUMNS =
  'app_id, device_id, action, version_name, old_version_name, platform, plugin_version, channel, at';

async function seedSqlite(file: string): Promise<{ devices: number; events: number }> {
  const raw = new SQLite(file);
  raw.pragma('journal_mode = WAL');
  raw.pragma('synchronous = OFF');
  const insertDevice = raw.prepare(
    `insert into devices (${DEVICE_COLUMNS}) values (${DEVICE_COLUMNS.split(',')
      .map(() => '?')
      .join(', ')})`,
  );
  const insertEvent = raw.prepare(
    `insert into device_events (${EVENT_COLUMNS}) values (?, ?, ?, ?, ?, 'android', '8.51.23', '${CHANNEL}', ?)`,
  );
  const devices = raw.transaction((rows: DeviceRow[]) => {
    for (const row of rows) insertDevice.run(...deviceValues(row));
  });
  const events = raw.transaction((rows: EventRow[]) => {
    for (const [device, action, version, old, at] of rows)
      insertEvent.run(APP, device, action, version, old, at);
  });
  const counts = await generate({
    devices: async (rows) => devices(rows),
    events: async (rows) => events(rows),
  });
  raw.exec(COUNT_MOVES);
  raw.exec(COUNT_RELEASE_DEVICES);
  raw.exec('analyze');
  raw.close();
  return counts;
}

async function seedPostgres(url: string): Promise<{ devices: number; events: number }> {
  const pool = new pg.Pool({ connectionString: url, max: 1 });
  try {
    const counts = await generate({
      async devices(rows) {
        const columns = DEVICE_COLUMNS.split(', ');
        const values = columns.map((_, column) => rows.map((row) => deviceValues(row)[column]));
        const types = columns.map((name) =>
          name === 'is_emulator' || name === 'is_prod' ? 'int[]' : 'text[]',
        );
        await pool.query(
          `insert into devices (${DEVICE_COLUMNS}) select * from unnest(${types.map((type, n) => `$${n + 1}::${type}`).join(', ')})`,
          values,
        );
      },
      async events(rows) {
        const column = (n: number) => rows.map((row) => row[n]);
        await pool.query(
          `insert into device_events (${EVENT_COLUMNS}) select '${APP}', d, a, v, o, 'android', '8.51.23', '${CHANNEL}', t
           from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[]) as e(d, a, v, o, t)`,
          [column(0), column(1), column(2), column(3), column(4)],
        );
      },
    });
    await pool.query(COUNT_MOVES);
    await pool.query(COUNT_RELEASE_DEVICES);
    await pool.query('vacuum analyze');
    return counts;
  } finally {
    await pool.end();
  }
}

/** A short digest of an answer: the same data answered the same by two versions of the code. */
const digest = (points: { at: string; devices: Record<string, number> }[]) =>
  createHash('sha256')
    .update(JSON.stringify(points.map(({ at, devices }) => [at, Object.entries(devices).sort()])))
    .digest('hex')
    .slice(0, 12);

/**
 * The query's time, and how long it held the event loop: the longest delay of a 1 ms timer while it
 * ran (perf_hooks.monitorEventLoopDelay; SQLite's statements run on the loop, PostgreSQL's do not).
 */
async function time(work: () => Promise<unknown>): Promise<{ first: number; median: number; loop: number }> {
  const times: number[] = [];
  let loop = 0;
  for (let run = 0; run < RUNS; run++) {
    const delay = monitorEventLoopDelay({ resolution: 1 });
    delay.enable();
    // Its timer starts on the loop's next turn: a query run before would go unseen.
    await new Promise((resolve) => setTimeout(resolve, 5));
    const started = performance.now();
    await work();
    times.push(performance.now() - started);
    // Let the timer see the last statement's delay before it stops.
    await new Promise((resolve) => setTimeout(resolve, 5));
    delay.disable();
    loop = Math.max(loop, delay.max / 1e6);
  }
  const sorted = [...times].sort((a, b) => a - b);
  return { first: times[0]!, median: sorted[Math.floor(sorted.length / 2)]!, loop };
}

async function measure(
  label: string,
  handle: DatabaseHandle,
  seeded: { devices: number; events: number; seconds: number },
) {
  const repos = new Repos(handle.db);
  const log = pino({ level: 'silent' });
  const insight = new InsightService(repos, new DeviceActivity(repos, log), 0);
  const channel = (await repos.channels.find(APP, CHANNEL))!;
  const results: { name: string; first: number; median: number; loop: number; note: string }[] = [];
  const add = async (name: string, work: () => Promise<string>) => {
    let note = '';
    const timing = await time(async () => (note = await work()));
    results.push({ name, ...timing, note });
  };
  await add('adoption, per day, 30 days', async () => {
    const answer = await insight.adoption(APP, CHANNEL, { bucket: 'day', since: `${DAYS}d` }, new Date(NOW));
    const last = answer.points.at(-1)!.devices;
    return `${answer.points.length} points (${digest(answer.points)}); now ${Object.values(last).reduce((a, b) => a + b, 0)} devices; ${answer.release?.installs} installs of ${answer.release?.version}`;
  });
  await add('adoption, per hour, 7 days', async () => {
    const answer = await insight.adoption(APP, CHANNEL, { bucket: 'hour', since: '7d' }, new Date(NOW));
    return `${answer.points.length} points (${digest(answer.points)})`;
  });
  await add('release health (rollout)', async () => {
    const health = await insight.releaseHealth(APP, CHANNEL);
    return `${health.verdict}: ${health.release?.failed}/${health.release?.devices} vs control ${health.control?.failed}/${health.control?.devices}`;
  });
  await add('evidence judgement (after a flush)', async () => {
    const evidence = await insight.evidence(channel);
    return evidence?.verdict ?? 'none';
  });
  console.log(
    `\n${label}: ${seeded.devices.toLocaleString('en')} devices, ${seeded.events.toLocaleString('en')} events, seeded in ${seeded.seconds.toFixed(0)} s`,
  );
  printTable([
    ['query', `first ms`, `median of ${RUNS} ms`, 'loop held ms', 'answer'],
    ...results.map((r) => [r.name, r.first.toFixed(0), r.median.toFixed(0), r.loop.toFixed(0), r.note]),
  ]);
  await measureFlushes(handle);
  if (handle.dialect === 'sqlite') {
    const plan = await sql<{ detail: string }>`explain query plan select count(*) from release_devices
      where app_id = ${APP} and channel = ${CHANNEL} and version_name = ${ROLLOUT.version} and last_at >= ${iso(NOW - DAY)}`.execute(
      handle.db,
    );
    console.log(`plan of a release's group: ${plan.rows.map((row) => row.detail).join('; ')}`);
  }
}

/** The triggers that keep adoption's counts (migration 0029), per dialect. */
const COUNT_TRIGGERS = {
  sqlite: ['devices_count_insert', 'devices_count_running', 'devices_count_arrival', 'devices_count_delete'],
  postgres: ['devices_count_insert', 'devices_count_update', 'devices_count_delete'],
};

/**
 * What the count triggers cost a device flush: FLUSH_DEVICES devices' reports upserted as the
 * device writer does (statements of 100 rows), once moving every one of them to another bundle and
 * once with the same state again (last_seen only, the common write), with the triggers and with
 * them dropped, alternately, FLUSH_RUNS times each; every run in a transaction rolled back, so each
 * starts from the seeded rows and the database is left as it was.
 */
async function measureFlushes(handle: DatabaseHandle): Promise<void> {
  const devices = Math.min(FLUSH_DEVICES, DEVICES);
  const { rows } = await sql<{ device_id: string; version_name: string }>`
    select device_id, version_name from devices where app_id = ${APP} order by device_id limit ${devices}`.execute(
    handle.db,
  );
  const at = iso(NOW);
  const reports = (moved: boolean): DeviceReport[] =>
    rows.map((row) => ({
      app_id: APP,
      device_id: row.device_id,
      platform: 'android',
      version_name: moved ? `${row.version_name}-moved` : row.version_name,
      version_build: '1.0.0',
      version_code: '1',
      version_os: '14',
      plugin_version: '8.51.23',
      custom_id: '',
      requested_channel: '',
      channel: CHANNEL,
      is_emulator: 0,
      is_prod: 1,
      last_seen: at,
    }));
  const dropTriggers = COUNT_TRIGGERS[handle.dialect].map((name) =>
    handle.dialect === 'postgres' ? `drop trigger ${name} on devices` : `drop trigger ${name}`,
  );
  const timed: Record<string, number[]> = {};
  for (let run = 0; run < FLUSH_RUNS; run++) {
    for (const moved of [true, false]) {
      for (const triggers of [true, false]) {
        const key = `${moved ? 'bundle changed' : 'same state'}, ${triggers ? 'with' : 'without'} triggers`;
        let ms = 0;
        await handle.db
          .transaction()
          .execute(async (trx) => {
            if (!triggers) for (const statement of dropTriggers) await sql.raw(statement).execute(trx);
            const started = performance.now();
            await new DevicesRepo(trx).upsertReports(reports(moved));
            ms = performance.now() - started;
            throw ROLLBACK;
          })
          .catch((error: unknown) => {
            if (error !== ROLLBACK) throw error;
          });
        (timed[key] ??= []).push(ms);
      }
    }
  }
  const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
  console.log(
    `\nupsertReports of ${rows.length.toLocaleString('en')} devices (statements of 100), median of ${FLUSH_RUNS}:`,
  );
  printTable([
    ['reports', 'ms', 'µs per device'],
    ...Object.entries(timed).map(([key, values]) => [
      key,
      median(values).toFixed(0),
      ((median(values) * 1000) / rows.length).toFixed(1),
    ]),
  ]);
}
const ROLLBACK = new Error('rolled back');

await runBench('bench/adoption.ts', 'the databases', async () => {
  console.log(
    `Release insight at ${DEVICES.toLocaleString('en')} devices and about ${EVENTS.toLocaleString('en')} events over ${DAYS} days; ${RUNS} runs per query`,
  );
  if (DATABASES.has('sqlite')) {
    // BENCH_ADOPTION_SQLITE_DIR: seed into that folder once and measure again there next time.
    const kept = process.env.BENCH_ADOPTION_SQLITE_DIR;
    const dir = kept ?? (await makeTempDir('overair-adoption-'));
    const file = path.join(dir, 'overair.db');
    const reuse = kept !== undefined && fs.existsSync(file);
    const started = performance.now();
    let counts = { devices: DEVICES, events: EVENTS };
    if (!reuse) {
      const migrated = await openSqlite(file);
      await seedRelease(migrated);
      await migrated.close();
      counts = await seedSqlite(file);
    }
    const opening = performance.now();
    const handle = await openSqlite(file);
    // A folder seeded by an older version: this is its migrations' time (0027's backfill, at that size).
    if (reuse) console.log(`opened (and migrated) in ${((performance.now() - opening) / 1000).toFixed(1)} s`);
    try {
      await measure('SQLite', handle, { ...counts, seconds: (performance.now() - started) / 1000 });
    } finally {
      await handle.close();
    }
  }
  if (DATABASES.has('postgres')) {
    const postgres = await startPostgres();
    atCleanup(() => postgres.destroy());
    const url = postgres.urlOf(await postgres.createDatabase());
    const handle = await openPostgres(url, { max: 4 });
    try {
      await seedRelease(handle);
      const started = performance.now();
      const counts = await seedPostgres(url);
      await measure('PostgreSQL 15', handle, { ...counts, seconds: (performance.now() - started) / 1000 });
    } finally {
      await handle.close();
    }
  }
  return 0;
});
