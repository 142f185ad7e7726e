/**
 * `npm run bench` (after bench/delta.ts): the update check at fleet scale (issue #16). BENCH_APPS apps
 * (default 1000) and BENCH_DEVICES_TOTAL devices (default 1 000 000) in the database, on SQLite (a)
 * and on PostgreSQL (b), devices checking again with the state their row already holds, 20% of them
 * outdated (they get the update), each next to a bare node:http baseline (bench/baseline-server.ts)
 * measured in the same run, with the same pinning, in turns with it.
 *
 * Seeding, once per database: the apps through the admin API (create, upload the same bundle zip under
 * the app's own version 2.0.N, which the content-addressed store keeps once, and put it live on the
 * production channel); the devices straight into the devices table through Kysely, in multi-row
 * INSERTs (1000 rows each, 20 000 a transaction), each row exactly what the server's own report would
 * write (deviceColumns of the info object the device sends, the channel it is served from), last seen
 * within the minute: the devices checked in just before the run, and a check that says the same again
 * within OVERAIR_DEVICE_SEEN_PRECISION (15 minutes) has nothing to write. Devices are spread evenly over
 * the apps (device i belongs to app i mod BENCH_APPS); their ids are random UUIDs; BENCH_OUTDATED_PERCENT
 * of them (default 20) run 1.0.0 and get the update, the others run their app's live version;
 * BENCH_OVERRIDE_PERCENT (default 1) carry an admin channel override (to production, so the answer
 * stays the same) and so sit in every app's cached assignment map. Everything is drawn from a fixed
 * seed: every run seeds the same fleet.
 *
 * Load: wrk (bench/wrk.ts), pinned to one core with the server on the other; PostgreSQL is not pinned
 * and takes its CPU from both (its CPU time is reported). Each run sends a fresh sample of
 * BENCH_SCALE_BODIES device bodies (default 200 000, in turn): more than a run sends at the rates seen
 * here, so no device comes back within a run by the file starting over; all 1 000 000 would be a 330 MB
 * file that wrk holds twice (its main and its thread's Lua states) and reads for seconds before each
 * run. Per database, three phases:
 *   - first check since start: devices in a fixed random order, each checked once, none remembered by
 *     the server (so every check is sent to the database, which finds its row unchanged): what a
 *     restart costs, and what every check costs when the fleet is larger than the server's memory of
 *     devices (OVERAIR_DEVICE_MEMORY);
 *   - the rest of the fleet the same way, not measured (the server now knows every device, as a
 *     server that has run for a while does);
 *   - steady state: devices drawn at random from the whole fleet, checking again unchanged. With the
 *     default memory (a million devices) nothing goes to the database; BENCH_SERVER_ENV=
 *     "OVERAIR_DEVICE_MEMORY=100000" shows a fleet ten times the memory (nine checks in ten sent).
 * The first and the last are each measured BENCH_RUNS times (default 3) in turns with the baseline
 * (the baseline on random devices too), after a warm-up of both, and the median run by req/s is kept;
 * each steady-state run of Overair comes after a second of checks, not measured, as its release cache
 * expired while the baseline ran.
 * A run's figures end once the server has written what the run queued (the drain), so the CPU per
 * check includes the writes it causes, and the next run starts on an idle server.
 *
 * Answers: wrk cannot tell which request an answer belongs to (and autocannon, which could, saturates
 * on these cores before the server does), so answers are checked outside the runs: each app's answer
 * for each version, fetched before the runs and checked in full, then a random sample of devices after
 * them, byte for byte against their app's and version's. wrk counts answers with a status >= 400.
 * After the runs, no row may have been added, and the rows written since seeding are counted (0 in the
 * steady state, unless the run outlasted the precision).
 *
 * Per scenario: req/s, latency p50/p99/max, the ratio to the bare baseline, the server's event-loop
 * delay (p99, max) and peak RSS (bench/server-metrics.ts), device reports sent to the database and rows
 * written per 1,000 checks, how long the drain took, the server's and PostgreSQL's CPU per check, and
 * PostgreSQL's WAL bytes per check (an upsert that changes nothing still locks the row it finds, and
 * the lock is logged).
 * Then the server's RSS, live heap (after a full collection: the servers run with --expose-gc) and
 * typed arrays (the device memory) after seeding, once the release cache holds every app, and after
 * the runs, with the number of devices it remembers.
 *
 * Not measured any more: two instances on one PostgreSQL (the old scenario c). On a 2-core machine,
 * two servers, PostgreSQL and the load generator share two cores, and the figure measured contention,
 * not what a second host adds; it also needs a load generator splitting one stream over two servers,
 * which wrk does not do.
 *
 * Exits non-zero only on wrong answers, errors or answers >= 400, or device rows added; never because
 * of a goal (printed, informational).
 *
 * Knobs (environment): BENCH_APPS (1000), BENCH_DEVICES_TOTAL (1000000), BENCH_SCALE_DURATION (s per
 * measured run, 5), BENCH_SCALE_WARMUP (s, 2), BENCH_RUNS (3), BENCH_CONNECTIONS (32),
 * BENCH_SCALE_BODIES (200000), BENCH_OUTDATED_PERCENT (20), BENCH_OVERRIDE_PERCENT (1), BENCH_LOG_LEVEL
 * (the servers' OVERAIR_LOG_LEVEL, "warn"; their warnings are reported), BENCH_SCALE_SCENARIOS (a
 * subset of "a,b"), BENCH_SERVER_NODE_ARGS (extra node flags for the Overair processes, e.g.
 * "--cpu-prof --cpu-prof-dir=DIR"), BENCH_SERVER_ENV (extra OVERAIR_* settings for them, e.g.
 * "OVERAIR_DEVICE_MEMORY=100000"), BENCH_PROFILE_DIR (a CPU profile of the server over each measured run
 * alone, bench/server-metrics.ts).
 *
 * On PostgreSQL it also prints, per run, the CPU of each kind of PostgreSQL process (connections,
 * autovacuum, checkpointer...): what the "pg µs/chk" column is made of.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { sql, type Insertable, type Kysely } from 'kysely';
import { openPostgres, openSqlite, type DatabaseHandle } from '../src/db/connect.js';
import type { Database, DevicesTable } from '../src/db/schema.js';
import { deviceColumns } from '../src/services/device-info.js';
import { startPostgres, type PostgresServer } from '../test/helpers/postgres.js';
import {
  describeServerSetup,
  ROOT,
  admin,
  atCleanup,
  call,
  deviceInfo,
  makeTempDir,
  printTable,
  readMemory,
  readMetrics,
  resetMetrics,
  runBench,
  startChild,
  startOverair,
  stopChild,
  uploadReady,
  type Started,
} from './harness.js';
import type { ServerMemory, ServerMetrics } from './server-metrics.js';
import {
  describePinning,
  ensureWrk,
  medianRun,
  pinServer,
  runWrk,
  wrkProblems,
  type WrkResult,
} from './wrk.js';
import { prng } from '../test/helpers/prng.js';

const BUNDLE_ZIP = path.resolve(ROOT, 'test/fixtures/capgo-cli-8.68/bundle.zip');
/** What the download URLs start with. */
const PUBLIC_URL = 'http://updates.overair.test';
const OLD_VERSION = '1.0.0';

function envNumber(name: string, fallback: number, { min = 1, max = Infinity } = {}): number {
  const value = Number(process.env[name] ?? fallback);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new Error(`${name} must be a whole number from ${min}${max === Infinity ? '' : ` to ${max}`}`);
  }
  return value;
}
const APPS = envNumber('BENCH_APPS', 1000, { max: 1000 });
const DEVICES_TOTAL = envNumber('BENCH_DEVICES_TOTAL', 1_000_000, { min: 2 });
const DURATION = envNumber('BENCH_SCALE_DURATION', 5);
const WARMUP = envNumber('BENCH_SCALE_WARMUP', 2);
const RUNS = envNumber('BENCH_RUNS', 3);
const CONNECTIONS = envNumber('BENCH_CONNECTIONS', 32);
const BODIES = envNumber('BENCH_SCALE_BODIES', 200_000, { min: 100 });
const OUTDATED_PERCENT = envNumber('BENCH_OUTDATED_PERCENT', 20, { min: 0, max: 100 });
const OVERRIDE_PERCENT = envNumber('BENCH_OVERRIDE_PERCENT', 1, { min: 0, max: 100 });
const LOG_LEVEL = process.env.BENCH_LOG_LEVEL ?? 'warn';
/** Extra node flags for the Overair server processes only, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof". */
const SERVER_NODE_ARGS = (process.env.BENCH_SERVER_NODE_ARGS ?? '').split(/\s+/).filter(Boolean);
/** Extra OVERAIR_* settings for the Overair server processes, "NAME=value" separated by spaces. */
const SERVER_ENV = Object.fromEntries(
  (process.env.BENCH_SERVER_ENV ?? '')
    .split(/\s+/)
    .filter(Boolean)
    .map((pair) => {
      const [name, ...value] = pair.split('=');
      if (!name?.startsWith('OVERAIR_') || value.length === 0) {
        throw new Error(`BENCH_SERVER_ENV: expected OVERAIR_NAME=value, got "${pair}"`);
      }
      return [name, value.join('=')];
    }),
);
const SCENARIOS = new Set((process.env.BENCH_SCALE_SCENARIOS ?? 'a,b').split(',').map((s) => s.trim()));
for (const s of SCENARIOS) if (!['a', 'b'].includes(s)) throw new Error(`unknown scenario "${s}"`);
/** How long the server waits before writing a device again unchanged (its default). */
const SEEN_PRECISION_MS = 15 * 60_000;

const appIdOf = (app: number) => `com.example.scale.app${String(app).padStart(3, '0')}`;
const liveVersionOf = (app: number) => `2.0.${app}`;

// ---------------------------------------------------------------------------------------------
// The fleet: every device's id and kind; its info object, row and request body made on demand.

const IOS = 1;
const OUTDATED = 2;
const OVERRIDE = 4;

interface Fleet {
  /** The device ids, as the devices send them. */
  ids: string[];
  /** IOS | OUTDATED | OVERRIDE bits per device. */
  kinds: Uint8Array;
  /** A fixed random order of all devices (the first checks since start go through it). */
  order: Int32Array;
}

function makeFleet(): Fleet {
  const random = prng(20_240_601);
  const hex = (digits: number) =>
    Math.floor(random() * 16 ** digits)
      .toString(16)
      .padStart(digits, '0');
  const ids: string[] = [];
  const kinds = new Uint8Array(DEVICES_TOTAL);
  for (let i = 0; i < DEVICES_TOTAL; i++) {
    const ios = random() < 0.4;
    const uuid = `${hex(8)}-${hex(4)}-4${hex(3)}-${'89ab'[Math.floor(random() * 4)]}${hex(3)}-${hex(6)}${hex(6)}`;
    ids.push(ios ? uuid.toUpperCase() : uuid);
    kinds[i] =
      (ios ? IOS : 0) |
      (random() * 100 < OUTDATED_PERCENT ? OUTDATED : 0) |
      (random() * 100 < OVERRIDE_PERCENT ? OVERRIDE : 0);
  }
  const order = Int32Array.from({ length: DEVICES_TOTAL }, (_, i) => i);
  for (let i = DEVICES_TOTAL - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  return { ids, kinds, order };
}

function infoOf(fleet: Fleet, device: number) {
  const app = device % APPS;
  const kind = fleet.kinds[device]!;
  const ios = (kind & IOS) !== 0;
  return deviceInfo(appIdOf(app), {
    device_id: fleet.ids[device],
    platform: ios ? 'ios' : 'android',
    version_name: kind & OUTDATED ? OLD_VERSION : liveVersionOf(app),
    version_os: ios ? '17.5' : '14',
    install_source: ios ? 'app_store' : 'google_play',
  });
}

const bodyOf = (fleet: Fleet, device: number) => JSON.stringify(infoOf(fleet, device));

/** The device's expected-answer key: app * 2 + (outdated ? 1 : 0). */
const keyOf = (fleet: Fleet, device: number) =>
  (device % APPS) * 2 + ((fleet.kinds[device]! & OUTDATED) !== 0 ? 1 : 0);

/** What the server itself would write for the device's check, seen at `lastSeen`. */
function rowOf(fleet: Fleet, device: number, lastSeen: Date, firstSeen: Date): Insertable<DevicesTable> {
  return {
    ...deviceColumns(infoOf(fleet, device)),
    channel: 'production',
    channel_override: fleet.kinds[device]! & OVERRIDE ? 'production' : null,
    self_assigned_channel: null,
    first_seen: firstSeen.toISOString(),
    last_seen: lastSeen.toISOString(),
  };
}

/** What wrk sends in a run: bodies in turn, and what to do with the number of requests answered. */
interface Feed {
  bodies(): string[];
  sent(requests: number): void;
}

/** Devices drawn at random (with replacement) from the whole fleet; a fresh sample for every run. */
function randomFeed(fleet: Fleet, seed: number): Feed {
  const random = prng(seed);
  return {
    bodies: () => Array.from({ length: BODIES }, () => bodyOf(fleet, Math.floor(random() * DEVICES_TOTAL))),
    sent: () => undefined,
  };
}

/**
 * Devices in the fleet's fixed random order, each sent once: every run continues where the last one
 * stopped. A run that sends more than it was given starts its file over: those checks are `repeats`.
 */
class FirstChecks implements Feed {
  next = 0;
  repeats = 0;
  private given = 0;
  constructor(private readonly fleet: Fleet) {}

  get left(): number {
    return DEVICES_TOTAL - this.next;
  }

  bodies(limit = BODIES): string[] {
    if (this.left === 0) {
      // Every device has been checked: from the start again, all repeats (and reported as such).
      this.given = 0;
      return Array.from(this.fleet.order.subarray(0, limit), (device) => bodyOf(this.fleet, device));
    }
    const end = Math.min(DEVICES_TOTAL, this.next + limit);
    this.given = end - this.next;
    return Array.from(this.fleet.order.subarray(this.next, end), (device) => bodyOf(this.fleet, device));
  }

  sent(requests: number): void {
    this.repeats += Math.max(0, requests - this.given);
    // Requests still in flight when wrk stopped (up to one a connection) are sent again next time:
    // a few repeats, so that every device is checked by the end of the pass.
    this.next += Math.min(this.given, requests);
  }
}

// ---------------------------------------------------------------------------------------------
// Seeding.

/** Runs `work` for 0..count-1, `parallel` at a time. */
async function forEach(count: number, parallel: number, work: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (next < count) await work(next++);
    }),
  );
}

/** Creates the apps with their live bundle on production, through the admin API; seconds taken. */
async function seedApps(base: string): Promise<number> {
  const started = performance.now();
  const zip = new Uint8Array(await fsp.readFile(BUNDLE_ZIP));
  await forEach(APPS, 4, async (app) => {
    const appId = appIdOf(app);
    await admin(base, 'POST', '/apps', { id: appId });
    // Its files ready before the answers are fetched to check against: they carry its manifest then.
    await uploadReady(base, appId, { version: liveVersionOf(app) }, zip);
    await admin(base, 'PUT', `/apps/${appId}/channels/production/bundle`, { version: liveVersionOf(app) });
  });
  return (performance.now() - started) / 1000;
}

/**
 * Inserts the fleet's rows straight into the devices table, 1000 rows a statement and 20 000 a
 * transaction (short enough that the running server's own writes never wait out SQLite's 5 s busy
 * timeout), each last seen within the minute before its statement; seconds taken, and when it ended.
 */
async function seedDevices(handle: DatabaseHandle, fleet: Fleet): Promise<{ seconds: number; end: string }> {
  const started = performance.now();
  const random = prng(4_242);
  // 17 values a row: 1000 rows stay under SQLite's 32766 and PostgreSQL's 65535 bound parameters.
  const batch = 1000;
  const perTransaction = 20_000;
  for (let first = 0; first < DEVICES_TOTAL; first += perTransaction) {
    await handle.db.transaction().execute(async (trx) => {
      const end = Math.min(first + perTransaction, DEVICES_TOTAL);
      for (let start = first; start < end; start += batch) {
        const now = Date.now();
        const rows = [];
        for (let device = start; device < Math.min(start + batch, end); device++) {
          const lastSeen = new Date(now - Math.floor(random() * 60_000));
          const firstSeen = new Date(lastSeen.getTime() - Math.floor(random() * 90 * 86_400_000));
          rows.push(rowOf(fleet, device, lastSeen, firstSeen));
        }
        await trx.insertInto('devices').values(rows).execute();
        // better-sqlite3 runs each statement synchronously: without a turn of the event loop now and
        // then, this process would not see the server closing idle keep-alive sockets, and reuse one.
        await new Promise((resolve) => setImmediate(resolve));
      }
    });
  }
  // What autovacuum would do on its own shortly after such an insert; SQLite's server never ANALYZEs.
  if (handle.dialect === 'postgres') await sql`analyze devices`.execute(handle.db);
  return { seconds: (performance.now() - started) / 1000, end: new Date().toISOString() };
}

async function countDevices(db: Kysely<Database>, seenAfter?: string): Promise<number> {
  let query = db.selectFrom('devices').select((eb) => eb.fn.countAll<number>().as('n'));
  if (seenAfter) query = query.where('last_seen', '>', seenAfter);
  const row = await query.executeTakeFirstOrThrow();
  return Number(row.n);
}

// ---------------------------------------------------------------------------------------------
// Expected answers.

function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Error(message);
}

/** A device of the fleet with this expected-answer key, or -1. */
function deviceWithKey(fleet: Fleet, key: number): number {
  for (let i = Math.floor(key / 2); i < DEVICES_TOTAL; i += APPS) if (keyOf(fleet, i) === key) return i;
  return -1;
}

/** Each key's answer, fetched from `base` and checked in full; throws when one is wrong. */
async function expectedAnswers(fleet: Fleet, base: string): Promise<(string | null)[]> {
  const expected: (string | null)[] = Array.from({ length: APPS * 2 }, () => null);
  await forEach(APPS * 2, 4, async (key) => {
    const device = deviceWithKey(fleet, key);
    if (device < 0) return;
    const app = Math.floor(key / 2);
    const outdated = key % 2 === 1;
    const answer = await call(base, 'POST', '/updates', infoOf(fleet, device));
    const what = `${appIdOf(app)} ${outdated ? OLD_VERSION : liveVersionOf(app)}`;
    const got = `HTTP ${answer.status} ${answer.text.slice(0, 200)}`;
    const body = answer.json as { kind?: string; version?: string; url?: string; checksum?: string };
    assert(answer.status === 200, `${what}: ${got}`);
    if (outdated) {
      assert(body.kind === undefined && body.version === liveVersionOf(app), `${what}: ${got}`);
      assert(body.url?.startsWith(`${PUBLIC_URL}/download/`), `${what}: download url in ${got}`);
      assert(typeof body.checksum === 'string' && body.checksum.length > 0, `${what}: checksum in ${got}`);
    } else {
      assert(body.kind === 'up_to_date' && body.url === undefined, `${what}: ${got}`);
    }
    expected[key] = answer.text;
  });
  return expected;
}

/** How many of `count` random devices got an answer other than their app's and version's. */
async function sampleAnswers(fleet: Fleet, base: string, expected: (string | null)[], count: number) {
  const random = prng(99);
  let wrong = 0;
  let first = '';
  await forEach(count, 4, async () => {
    const device = Math.floor(random() * DEVICES_TOTAL);
    const answer = await call(base, 'POST', '/updates', infoOf(fleet, device));
    if (answer.status === 200 && answer.text === expected[keyOf(fleet, device)]) return;
    wrong++;
    first ||= `device ${device}: HTTP ${answer.status} ${answer.text.slice(0, 200)}`;
  });
  return { wrong, first };
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL's CPU time (from /proc, Linux) and WAL position.

const CLOCK_TICKS = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** utime + stime (own) and cutime + cstime (reaped children) of a process, in seconds. */
function procStat(pid: number): { pid: number; ppid: number; own: number; reaped: number } | undefined {
  try {
    const text = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    const n = (i: number) => Number(fields[i]) / CLOCK_TICKS;
    return { pid, ppid: Number(fields[1]), own: n(11) + n(12), reaped: n(13) + n(14) };
  } catch {
    return undefined;
  }
}

/** The postmaster of the PostgreSQL server on `port`. */
function findPostmaster(port: number): number | undefined {
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const args = fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      if (args[0]?.endsWith('/postgres') && args.join(' ').includes(`-p ${port} `)) return Number(entry);
    } catch {
      // gone
    }
  }
  return undefined;
}

/**
 * CPU seconds so far of the postmaster, its reaped children and its live children, by kind: what
 * follows "postgres: " in a child's process title ("checkpointer", "autovacuum worker", "walwriter"),
 * "backend" for the connections' processes, "postmaster" for the rest (its own and reaped children's).
 */
function postgresCpuByKind(postmaster: number): Map<string, number> {
  const kinds = new Map<string, number>();
  const add = (kind: string, seconds: number) => kinds.set(kind, (kinds.get(kind) ?? 0) + seconds);
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = procStat(Number(entry));
    if (stat?.pid === postmaster) add('postmaster', stat.own + stat.reaped);
    else if (stat?.ppid === postmaster) add(processKind(stat.pid), stat.own);
  }
  return kinds;
}

/** PostgreSQL's own processes, by the title it gives them; any other child serves a connection. */
const POSTGRES_PROCESSES = [
  'checkpointer',
  'background writer',
  'walwriter',
  'autovacuum launcher',
  'autovacuum worker',
  'logical replication launcher',
  'parallel worker',
];

function processKind(pid: number): string {
  let title = '';
  try {
    title = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    // gone
  }
  return POSTGRES_PROCESSES.find((kind) => title.startsWith(`postgres: ${kind}`)) ?? 'backend';
}

/** The CPU seconds of all kinds together. */
function totalCpu(kinds: Map<string, number>): number {
  return [...kinds.values()].reduce((sum, seconds) => sum + seconds, 0);
}

/** The CPU ms of each kind of PostgreSQL process between two readings, largest first ("backend 812, autovacuum worker 95"). */
function cpuByKindBetween(before: Map<string, number>, after: Map<string, number>): string {
  return [...after]
    .map(([kind, seconds]) => [kind, (seconds - (before.get(kind) ?? 0)) * 1000] as const)
    .filter(([, ms]) => ms >= 1)
    .sort((a, b) => b[1] - a[1])
    .map(([kind, ms]) => `${kind} ${ms.toFixed(0)}`)
    .join(', ');
}

/** The database under an Overair server: its handle (for the WAL position) and PostgreSQL's postmaster. */
interface Probe {
  handle: DatabaseHandle;
  postmaster?: number;
}

async function walPosition(database: Probe | undefined): Promise<number> {
  if (database?.handle.dialect !== 'postgres') return NaN;
  const { rows } = await sql<{
    bytes: number;
  }>`select pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0') as bytes`.execute(database.handle.db);
  return Number(rows[0]!.bytes);
}

// ---------------------------------------------------------------------------------------------
// Load.

interface Run {
  wrk: WrkResult;
  /** The server's figures from the start of the run to the end of its writes. */
  metrics: ServerMetrics;
  /** Seconds after wrk stopped until the server had written every report of the run. */
  drainSeconds: number;
  /** PostgreSQL's CPU time and WAL bytes over the run; NaN on SQLite and for the baseline. */
  postgresCpuMs: number;
  /** The same by kind of PostgreSQL process (cpuByKindBetween); '' on SQLite and for the baseline. */
  postgresCpuByKind: string;
  walBytes: number;
}

interface Outcome {
  name: string;
  /** The baseline outcome it is compared with. */
  against?: Outcome;
  run: Run;
  problems: string[];
}

/** How long a run's last reports may wait in the server's queue before they are written (250 ms). */
const FLUSH_WAIT_MS = 500;
/** The longest wait for a server to write what a run queued. */
const DRAIN_LIMIT_MS = 10 * 60_000;

async function measureRun(server: Started, feed: Feed, seconds: number, database?: Probe): Promise<Run> {
  const bodies = feed.bodies();
  const kindsBefore = database?.postmaster === undefined ? undefined : postgresCpuByKind(database.postmaster);
  const walBefore = await walPosition(database);
  await resetMetrics(server.child);
  const wrk = await runWrk({
    url: server.url,
    path: '/updates',
    bodies,
    connections: CONNECTIONS,
    durationSeconds: seconds,
  });
  feed.sent(wrk.requests);
  // What the run queued is written before its figures are read (and before the next run starts):
  // within the flush interval, or later when the database writes slower than the checks came.
  const stopped = performance.now();
  await new Promise((resolve) => setTimeout(resolve, FLUSH_WAIT_MS));
  let metrics = await readMetrics(server.child);
  while ((metrics.backlog ?? 0) > 0 && performance.now() - stopped < DRAIN_LIMIT_MS) {
    await new Promise((resolve) => setTimeout(resolve, 250));
    metrics = await readMetrics(server.child);
  }
  const kindsAfter = kindsBefore && postgresCpuByKind(database!.postmaster!);
  return {
    wrk,
    metrics,
    drainSeconds: (performance.now() - stopped) / 1000,
    postgresCpuMs: kindsAfter ? (totalCpu(kindsAfter) - totalCpu(kindsBefore!)) * 1000 : NaN,
    postgresCpuByKind: kindsAfter ? cpuByKindBetween(kindsBefore!, kindsAfter) : '',
    walBytes: (await walPosition(database)) - walBefore,
  };
}

function problemsOf(runs: Run[]): string[] {
  const problems: string[] = [];
  for (const { wrk, metrics } of runs) {
    if ((metrics.backlog ?? 0) > 0) {
      problems.push(
        `${metrics.backlog} device reports still unwritten ${DRAIN_LIMIT_MS / 60_000} min after a run`,
      );
    }
    problems.push(...wrkProblems(wrk));
  }
  return [...new Set(problems)];
}

/** Unmeasured checks before each steady-state run of Overair (see inTurns). */
const REWARM_SECONDS = 1;

/**
 * Warms up both, then measures the baseline and the Overair server in turns, RUNS times each; the
 * median run (by req/s) of each. With `rewarm`, each Overair run follows REWARM_SECONDS of checks,
 * not measured: while the baseline ran, Overair sat idle past its release cache's TTL (2 s), so
 * every app's release would be loaded again, one by one, in the run's first second, which a server
 * serving a fleet without pause never does (an app checked within each TTL stays loaded).
 */
async function inTurns(
  names: [string, string],
  baseline: { server: Started; feed: Feed },
  overair: { server: Started; feed: Feed; database: Probe },
  { rewarm = false } = {},
): Promise<[Outcome, Outcome]> {
  await measureRun(baseline.server, baseline.feed, WARMUP);
  await measureRun(overair.server, overair.feed, WARMUP, overair.database);
  const bare: Run[] = [];
  const ours: Run[] = [];
  for (let round = 0; round < RUNS; round++) {
    bare.push(await measureRun(baseline.server, baseline.feed, DURATION));
    if (rewarm) await measureRun(overair.server, overair.feed, REWARM_SECONDS, overair.database);
    ours.push(await measureRun(overair.server, overair.feed, DURATION, overair.database));
  }
  const median = (runs: Run[]) => {
    const wrk = medianRun(runs.map((run) => run.wrk));
    return runs.find((run) => run.wrk === wrk)!;
  };
  const base: Outcome = { name: names[0], run: median(bare), problems: problemsOf(bare) };
  return [base, { name: names[1], against: base, run: median(ours), problems: problemsOf(ours) }];
}

// ---------------------------------------------------------------------------------------------

/** Warning lines (pino level 40 and up) of every Overair server started, by label. */
const serverWarnings = new Map<string, string[]>();

async function overair(label: string, dataDir: string, databaseUrl: string): Promise<Started> {
  const warnings: string[] = [];
  serverWarnings.set(label, warnings);
  const started = await startOverair(dataDir, LOG_LEVEL, {
    env: { OVERAIR_DATABASE_URL: databaseUrl, OVERAIR_PUBLIC_URL: PUBLIC_URL, ...SERVER_ENV },
    label,
    // --expose-gc: the memory lines collect garbage first, to show what is live.
    nodeArgs: ['--expose-gc', ...SERVER_NODE_ARGS],
    onLine: (line) => /"level":(40|50|60)/.test(line) && warnings.push(line),
  });
  pinServer(started.child.pid);
  return started;
}

const MB = 1024 * 1024;
const seconds = (s: number) => `${s.toFixed(1)} s`;
const mb = (bytes: number) => `${(bytes / MB).toFixed(0)} MB`;

/** The server's memory at one point, for the RSS lines. */
interface MemoryPoint {
  what: string;
  memory: ServerMemory;
  remembered: number | undefined;
}

async function memoryPoint(server: Started, what: string): Promise<MemoryPoint> {
  const memory = await readMemory(server.child);
  return { what, memory, remembered: (await readMetrics(server.child)).remembered };
}

interface DatabaseResult {
  label: string;
  outcomes: Outcome[];
  memory: MemoryPoint[];
  notes: string[];
}

/**
 * One database: seeds it, checks the answers, measures the first checks since start and the steady
 * state, each in turns with the baseline, and checks the rows afterwards.
 */
async function runDatabase(
  label: string,
  letter: string,
  fleet: Fleet,
  baseline: Started,
  server: Started,
  database: Probe,
): Promise<DatabaseResult> {
  const notes: string[] = [];
  const memory: MemoryPoint[] = [];
  const appsSeconds = await seedApps(server.url);
  const seeded = await seedDevices(database.handle, fleet);
  console.log(
    `${label}: ${APPS} apps via the admin API in ${seconds(appsSeconds)}, ` +
      `${DEVICES_TOTAL} devices via Kysely INSERTs in ${seconds(seeded.seconds)}`,
  );
  const seededAt = Date.now();
  await resetMetrics(server.child);
  memory.push(await memoryPoint(server, 'after seeding'));

  const problems: string[] = [];
  const expected = await expectedAnswers(fleet, server.url).catch((error: unknown) => {
    problems.push(`wrong sample answer: ${(error as Error).message}`);
    return null;
  });
  await new Promise((resolve) => setTimeout(resolve, FLUSH_WAIT_MS));
  memory.push(await memoryPoint(server, `after one check per app and version (release cache: ${APPS} apps)`));

  const first = new FirstChecks(fleet);
  const [bareFirst, firstOutcome] = await inTurns(
    [`(${letter}) bare node:http`, `(${letter}) ${label}, first check since start`],
    { server: baseline, feed: randomFeed(fleet, 1) },
    { server, feed: first, database },
  );
  if (first.repeats > 0) {
    notes.push(
      `${label}: ${first.repeats} of the first checks were repeats (a run sent more than its ` +
        `${BODIES} bodies, or the fleet was too small): raise BENCH_SCALE_BODIES or BENCH_DEVICES_TOTAL`,
    );
  }

  // The rest of the fleet, each device once, at about the rate measured.
  const passStarted = performance.now();
  const passed = first.left;
  let rate = firstOutcome.run.wrk.reqPerSec || 1000;
  const rates: number[] = [];
  while (first.left > 0) {
    const left = Math.min(first.left, BODIES);
    const run = await measureRun(
      server,
      { bodies: () => first.bodies(left), sent: (requests) => first.sent(requests) },
      Math.min(120, Math.max(1, Math.ceil((left / rate) * 1.1))),
    );
    problems.push(...problemsOf([run]));
    rate = run.wrk.reqPerSec || rate;
    rates.push(rate);
  }
  const passSeconds = (performance.now() - passStarted) / 1000;
  console.log(
    `${label}: the other ${passed} devices checked once each in ${seconds(passSeconds)}, not measured ` +
      `(runs at ${rates.map((r) => r.toFixed(0)).join(', ')} checks/s)`,
  );

  const [bareSteady, steady] = await inTurns(
    [`(${letter}) bare node:http`, `(${letter}) ${label}, steady state`],
    { server: baseline, feed: randomFeed(fleet, 2) },
    { server, feed: randomFeed(fleet, 3), database },
    { rewarm: true },
  );

  await new Promise((resolve) => setTimeout(resolve, 1000));
  const total = await countDevices(database.handle.db);
  if (total !== DEVICES_TOTAL) problems.push(`${total} device rows, expected ${DEVICES_TOTAL}`);
  const written = await countDevices(database.handle.db, seeded.end);
  const minutes = (Date.now() - seededAt) / 60_000;
  notes.push(
    `${label}: ${written} of ${DEVICES_TOTAL} rows written since seeding (${minutes.toFixed(1)} min ago` +
      (minutes * 60_000 > SEEN_PRECISION_MS - 60_000
        ? `: past the 15 min precision, unchanged rows are rightly written again)`
        : ')'),
  );
  if (expected) {
    const sample = await sampleAnswers(fleet, server.url, expected, 500);
    if (sample.wrong > 0)
      problems.push(`${sample.wrong} of 500 sampled answers wrong (first: ${sample.first})`);
  }
  memory.push(await memoryPoint(server, 'after the runs'));
  firstOutcome.problems.push(...problems);
  steady.problems.push(...problems);
  return { label, outcomes: [bareFirst, firstOutcome, bareSteady, steady], memory, notes };
}

async function main(): Promise<number> {
  ensureWrk();
  const cpus = os.cpus();
  const load = () =>
    os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(' ');
  console.log(
    `\noverair scale bench: node ${process.version}, ${cpus.length} cores (${cpus[0]?.model.trim() ?? '?'}), ` +
      `load average ${load()}`,
  );
  console.log(
    `${APPS} apps, ${DEVICES_TOTAL} devices (${OUTDATED_PERCENT}% outdated, ${OVERRIDE_PERCENT}% with a channel ` +
      `override); wrk 1 thread, ${CONNECTIONS} connections, ${WARMUP} s warm-up, then ${RUNS} runs of ` +
      `${DURATION} s in turns with the baseline (median by req/s), ${BODIES} device bodies a run`,
  );
  console.log(describePinning() + '; PostgreSQL not pinned');
  console.log(describeServerSetup());
  if (os.loadavg()[0]! > cpus.length / 2) {
    console.log(
      `NOTE: the machine is busy (load average ${load()}): other work shares the pinned cores, so req/s ` +
        `and its ratios are noisy; the CPU per check is less so.`,
    );
  }
  if (Object.keys(SERVER_ENV).length > 0) console.log(`server settings: ${JSON.stringify(SERVER_ENV)}`);

  const fleetStarted = performance.now();
  const fleet = makeFleet();
  console.log(`fleet generated in ${seconds((performance.now() - fleetStarted) / 1000)}`);

  const baseline = await startChild('baseline-server.ts', { ...process.env }, { stdout: 'ignore' });
  pinServer(baseline.child.pid);
  const results: DatabaseResult[] = [];

  if (SCENARIOS.has('a')) {
    const dataDir = await makeTempDir('overair-scale-sqlite-');
    const server = await overair('sqlite', dataDir, '');
    const handle = await openSqlite(path.join(dataDir, 'overair.db'));
    try {
      results.push(await runDatabase('SQLite', 'a', fleet, baseline, server, { handle }));
    } finally {
      await handle.close();
      await stopChild(server.child);
    }
  }

  if (SCENARIOS.has('b')) {
    const pgStarted = performance.now();
    const postgres: PostgresServer = await startPostgres();
    atCleanup(() => postgres.destroy());
    const url = postgres.urlOf(await postgres.createDatabase());
    console.log(
      `PostgreSQL 15 started on port ${postgres.port} in ${seconds((performance.now() - pgStarted) / 1000)}`,
    );
    const dataDir = await makeTempDir('overair-scale-pg-');
    const server = await overair('postgres', dataDir, url);
    const handle = await openPostgres(url, { max: 2 });
    try {
      const postmaster = findPostmaster(postgres.port);
      results.push(await runDatabase('PostgreSQL', 'b', fleet, baseline, server, { handle, postmaster }));
    } finally {
      await handle.close();
      await stopChild(server.child);
    }
  }

  const outcomes = results.flatMap((result) => result.outcomes);
  /** The baseline's CPU per check over the server's: what req/s to bare would be on an idle machine. */
  const cpuRatio = (run: Run, bare: Run) =>
    bare.metrics.cpuMs / bare.wrk.requests / (run.metrics.cpuMs / run.wrk.requests);
  const perCheck = (value: number | undefined, run: Run, digits = 0) =>
    value === undefined || Number.isNaN(value) ? '-' : (value / run.wrk.requests).toFixed(digits);
  const perThousand = (value: number | undefined, run: Run) =>
    value === undefined ? '-' : ((value / run.wrk.requests) * 1000).toFixed(value === 0 ? 0 : 1);
  printTable([
    [
      'scenario',
      'req/s',
      'to bare',
      'CPU to bare',
      'p50 ms',
      'p99 ms',
      'max ms',
      'loop p99',
      'loop max',
      'RSS MB',
      'to db/1k',
      'writes/1k',
      'drain s',
      'srv µs/chk',
      'pg µs/chk',
      'WAL B/chk',
      'check',
    ],
    ...outcomes.map(({ name, against, run, problems }) => [
      name,
      run.wrk.reqPerSec.toFixed(0),
      against ? (run.wrk.reqPerSec / against.run.wrk.reqPerSec).toFixed(2) : '',
      against ? cpuRatio(run, against.run).toFixed(2) : '',
      run.wrk.p50.toFixed(2),
      run.wrk.p99.toFixed(2),
      run.wrk.max.toFixed(1),
      run.metrics.loopDelayP99.toFixed(1),
      run.metrics.loopDelayMax.toFixed(1),
      (run.metrics.rssPeak / MB).toFixed(0),
      perThousand(run.metrics.reportsSent, run),
      perThousand(run.metrics.rowsWritten, run),
      run.metrics.backlog === undefined ? '-' : run.drainSeconds.toFixed(1),
      perCheck(run.metrics.cpuMs * 1000, run),
      perCheck(run.postgresCpuMs * 1000, run),
      perCheck(run.walBytes, run),
      problems.length === 0 ? 'ok' : 'FAILED',
    ]),
  ]);
  console.log(
    `\nto bare: req/s over the bare node:http baseline's, measured in turns with it (the row above); ` +
      `CPU to bare: the baseline's CPU time per check over the server's, the same ratio less swayed by ` +
      `other work on the machine. ` +
      `loop: the server's event-loop delay (ms); RSS: its peak over the run. to db/1k: device reports ` +
      `the server sent to the database per 1,000 checks (those it did not remember as written); ` +
      `writes/1k: device rows the database changed per 1,000 checks. drain s: seconds after the run until ` +
      `the server had written what it queued (the flush interval is 0.25 s; more means the database ` +
      `wrote slower than the checks came). µs/chk: CPU time per check, writes included, of the server ` +
      `process and of PostgreSQL (all its processes). WAL B/chk: PostgreSQL's WAL per check.`,
  );
  const byKind = outcomes.filter(({ run }) => run.postgresCpuByKind !== '');
  if (byKind.length > 0) console.log('\nPostgreSQL CPU ms over each run, by process:');
  for (const { name, run } of byKind) console.log(`  ${name}: ${run.postgresCpuByKind}`);

  for (const { label, memory } of results) {
    console.log(`\n${label} server memory:`);
    for (const { what, memory: m, remembered } of memory) {
      console.log(
        `  ${what}: RSS ${mb(m.rss)}; heap ${mb(m.heapUsed)}${m.collected ? ' live' : ''}, ` +
          `typed arrays ${mb(m.arrayBuffers)}` +
          (remembered === undefined ? '' : `; ${remembered} devices remembered`),
      );
    }
  }
  for (const { notes } of results) for (const note of notes) console.log(note);

  console.log('\ngoals (informational), at the steady state:');
  for (const {
    label,
    outcomes: [, , , steady],
  } of results) {
    const ratio = steady!.run.wrk.reqPerSec / steady!.against!.run.wrk.reqPerSec;
    const cpu = cpuRatio(steady!.run, steady!.against!.run);
    const writes = ((steady!.run.metrics.rowsWritten ?? 0) / steady!.run.wrk.requests) * 1000;
    const met = (ok: boolean) => (ok ? 'met' : 'NOT MET');
    console.log(
      `  ${label}: req/s to bare ${ratio.toFixed(2)} (goal >= 0.5) ${met(ratio >= 0.5)}; ` +
        `CPU per check to bare ${cpu.toFixed(2)}`,
    );
    console.log(`  ${label}: writes per 1,000 checks ${writes.toFixed(2)} (goal 0) ${met(writes === 0)}`);
  }
  console.log(`load average at the end: ${load()}`);

  for (const [label, warnings] of serverWarnings) {
    if (warnings.length === 0) continue;
    console.log(`\nserver ${label}: ${warnings.length} warning/error log lines`);
    for (const line of warnings.slice(0, 3)) console.log(`  ${line.slice(0, 300)}`);
  }

  const failed = outcomes.filter((o) => o.problems.length > 0);
  for (const o of failed) console.error(`\nFAILED ${o.name}:\n  ${[...new Set(o.problems)].join('\n  ')}`);
  return failed.length > 0 ? 1 : 0;
}

await runBench('scale bench', 'the servers and PostgreSQL', main);
