/**
 * `npm run bench` (after bench/delta.ts): update checks per second at scale, with BENCH_APPS apps
 * (default 100) and BENCH_DEVICES_TOTAL devices (default 100 000) in the database, on SQLite and on
 * PostgreSQL, one instance and two instances sharing one database, each next to a bare node:http
 * baseline (bench/baseline-server.ts) measured in the same run, right before it:
 *   (a) SQLite, one instance, after a baseline of one bare node:http process;
 *   (b) PostgreSQL, one instance, after a baseline of one bare node:http process;
 *   (c) PostgreSQL, two instances on the same database, the load split between them, after a baseline
 *       of two bare node:http processes with the load split the same way.
 *
 * Seeding, once per database: the apps through the admin API (create, upload the same bundle zip under
 * the app's own version 2.0.N, which the content-addressed store keeps once, and put it live on the
 * production channel); the devices straight into the devices table through Kysely, in multi-row
 * INSERTs (1000 rows each, 20 000 a transaction), with the columns the server's own upsert writes (src/db/devices.ts).
 * Devices are spread evenly over the apps (device i belongs to app i mod BENCH_APPS); their ids are
 * random UUIDs; BENCH_OUTDATED_PERCENT of them (default 20) run 1.0.0 and get the update, the others
 * run their app's live version and are up to date; BENCH_OVERRIDE_PERCENT (default 1) carry an admin
 * channel override (to production, so the answer stays the same) and so sit in every app's cached
 * assignment map. Everything is drawn from a fixed seed: every run seeds the same fleet.
 *
 * Load: autocannon (programmatic, in this process) on POST /updates, each request the info object of a
 * seeded device drawn at random across all apps, reporting what its row says. With two servers the
 * connections alternate between them (autocannon with two URLs): one latency histogram, summed req/s.
 * Every answer is compared byte for byte with the one expected for its device's app and version,
 * sampled (and checked in full) before the run; the instances share OVERAIR_PUBLIC_URL, as behind a
 * load balancer, so the download URLs are the same whichever instance answers. After each Overair
 * scenario, every device that got an answer must have had its row's last_seen written (the server's
 * write-behind), and no row may have been added.
 *
 * CPU: the table shows the CPU time of the server processes, of PostgreSQL (postmaster and backends) and
 * of this process (the load generator) over the measured seconds, in % of one core, the rest of the
 * machine's (other people's work skews the figures), and the checks per CPU-second of the servers and of
 * PostgreSQL (the cost of a check, less sensitive to other load than req/s). On a machine with
 * few cores these compete: with two instances, PostgreSQL and the load generator on 2 cores, (c)
 * measures contention, not what two instances on hosts of their own would serve. The output says so.
 *
 * Exits non-zero only on wrong answers, non-2xx answers, connection errors or timeouts, or device rows
 * not written; never because of a ratio.
 *
 * Knobs (environment): BENCH_APPS (100), BENCH_DEVICES_TOTAL (100000), BENCH_SCALE_DURATION (s measured
 * per scenario, 5), BENCH_SCALE_WARMUP (s, 1), BENCH_CONNECTIONS (10, in all, split over the servers),
 * BENCH_OUTDATED_PERCENT (20), BENCH_OVERRIDE_PERCENT (1), BENCH_LOG_LEVEL (the servers'
 * OVERAIR_LOG_LEVEL, "warn"; their warnings are reported), BENCH_SCALE_SCENARIOS (a subset of "a,b,c"),
 * BENCH_SERVER_NODE_ARGS (extra node flags for the Overair processes, e.g. "--cpu-prof --cpu-prof-dir=DIR").
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import autocannon from 'autocannon';
import { sql, type Insertable, type Kysely } from 'kysely';
import { openPostgres, openSqlite, type DatabaseHandle } from '../src/db/connect.js';
import type { Database, DevicesTable } from '../src/db/schema.js';
import { deviceColumns } from '../src/services/device-info.js';
import { startPostgres, type PostgresServer } from '../test/helpers/postgres.js';
import {
  ROOT,
  admin,
  atCleanup,
  call,
  deviceInfo,
  makeTempDir,
  printTable,
  runBench,
  startChild,
  startOverair,
  stopChild,
  uploadZip,
  type Started,
} from './harness.js';

const BUNDLE_ZIP = path.resolve(ROOT, 'test/fixtures/capgo-cli-8.68/bundle.zip');
/** What the download URLs start with, the same for every instance (as behind a load balancer). */
const PUBLIC_URL = 'http://updates.overair.test';
const OLD_VERSION = '1.0.0';

function envNumber(name: string, fallback: number, { min = 1, max = Infinity } = {}): number {
  const value = Number(process.env[name] ?? fallback);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new Error(`${name} must be a whole number from ${min}${max === Infinity ? '' : ` to ${max}`}`);
  }
  return value;
}
const APPS = envNumber('BENCH_APPS', 100, { max: 1000 });
const DEVICES_TOTAL = envNumber('BENCH_DEVICES_TOTAL', 100_000);
const DURATION = envNumber('BENCH_SCALE_DURATION', 5);
const WARMUP = envNumber('BENCH_SCALE_WARMUP', 1, { min: 0 });
const CONNECTIONS = envNumber('BENCH_CONNECTIONS', 10, { min: 2 });
const OUTDATED_PERCENT = envNumber('BENCH_OUTDATED_PERCENT', 20, { min: 0, max: 100 });
const OVERRIDE_PERCENT = envNumber('BENCH_OVERRIDE_PERCENT', 1, { min: 0, max: 100 });
const LOG_LEVEL = process.env.BENCH_LOG_LEVEL ?? 'warn';
/** Extra node flags for the Overair server processes only, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof". */
const SERVER_NODE_ARGS = (process.env.BENCH_SERVER_NODE_ARGS ?? '').split(/\s+/).filter(Boolean);
const SCENARIOS = new Set((process.env.BENCH_SCALE_SCENARIOS ?? 'a,b,c').split(',').map((s) => s.trim()));
for (const s of SCENARIOS) if (!['a', 'b', 'c'].includes(s)) throw new Error(`unknown scenario "${s}"`);

const appIdOf = (app: number) => `com.example.scale.app${String(app).padStart(3, '0')}`;
const liveVersionOf = (app: number) => `2.0.${app}`;

// ---------------------------------------------------------------------------------------------
// The fleet: every device's row, and the body of its update check.

/** mulberry32: a small deterministic PRNG, so every run seeds the same fleet. */
function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Fleet {
  rows: Insertable<DevicesTable>[];
  /** Each device's update-check body (JSON). */
  bodies: string[];
  /** Each device's expected-answer key: app * 2 + (outdated ? 1 : 0). */
  keys: Int32Array;
}

function makeFleet(): Fleet {
  const random = prng(20_240_601);
  const hex = (digits: number) =>
    Array.from({ length: digits }, () => Math.floor(random() * 16).toString(16)).join('');
  const seededAt = Date.now();
  const rows: Insertable<DevicesTable>[] = [];
  const bodies: string[] = [];
  const keys = new Int32Array(DEVICES_TOTAL);
  for (let i = 0; i < DEVICES_TOTAL; i++) {
    const app = i % APPS;
    const ios = random() < 0.4;
    const uuid = `${hex(8)}-${hex(4)}-4${hex(3)}-${'89ab'[Math.floor(random() * 4)]}${hex(3)}-${hex(12)}`;
    const outdated = random() * 100 < OUTDATED_PERCENT;
    const override = random() * 100 < OVERRIDE_PERCENT;
    // Seen at some time in the last 30 days, before the run: a row written during a scenario is newer.
    const lastSeen = new Date(seededAt - 60_000 - Math.floor(random() * 30 * 86_400_000));
    const firstSeen = new Date(lastSeen.getTime() - Math.floor(random() * 90 * 86_400_000));
    const info = deviceInfo(appIdOf(app), {
      device_id: ios ? uuid.toUpperCase() : uuid,
      platform: ios ? 'ios' : 'android',
      version_name: outdated ? OLD_VERSION : liveVersionOf(app),
      version_os: ios ? '17.5' : '14',
      install_source: ios ? 'app_store' : 'google_play',
    });
    bodies.push(JSON.stringify(info));
    keys[i] = app * 2 + (outdated ? 1 : 0);
    rows.push({
      // The columns the server's own upsert writes for this info object.
      ...deviceColumns(info),
      channel: 'production',
      channel_override: override ? 'production' : null,
      self_assigned_channel: null,
      first_seen: firstSeen.toISOString(),
      last_seen: lastSeen.toISOString(),
    });
  }
  return { rows, bodies, keys };
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
    const upload = await uploadZip(base, appId, { version: liveVersionOf(app) }, zip);
    if (upload.status !== 201)
      throw new Error(`${appId} upload: HTTP ${upload.status} ${await upload.text()}`);
    await admin(base, 'PUT', `/apps/${appId}/channels/production/bundle`, { version: liveVersionOf(app) });
  });
  return (performance.now() - started) / 1000;
}

/**
 * Inserts the fleet's rows straight into the devices table, 1000 rows a statement and 20 000 a
 * transaction (short enough that the running server's own writes never wait out SQLite's 5 s
 * busy timeout); seconds taken.
 */
async function seedDevices(handle: DatabaseHandle, fleet: Fleet): Promise<number> {
  const started = performance.now();
  // 17 values a row: 1000 rows stay under SQLite's 32766 and PostgreSQL's 65535 bound parameters.
  const batch = 1000;
  const perTransaction = 20_000;
  for (let first = 0; first < fleet.rows.length; first += perTransaction) {
    await handle.db.transaction().execute(async (trx) => {
      const end = Math.min(first + perTransaction, fleet.rows.length);
      for (let start = first; start < end; start += batch) {
        await trx
          .insertInto('devices')
          .values(fleet.rows.slice(start, Math.min(start + batch, end)))
          .execute();
        // better-sqlite3 runs each statement synchronously: without a turn of the event loop now and
        // then, this process would not see the server closing idle keep-alive sockets, and reuse one.
        await new Promise((resolve) => setImmediate(resolve));
      }
    });
  }
  // What autovacuum would do on its own shortly after such an insert; SQLite's server never ANALYZEs.
  if (handle.dialect === 'postgres') await sql`analyze devices`.execute(handle.db);
  return (performance.now() - started) / 1000;
}

async function countDevices(db: Kysely<Database>, seenSince?: string): Promise<number> {
  let query = db.selectFrom('devices').select((eb) => eb.fn.countAll<number>().as('n'));
  if (seenSince) query = query.where('last_seen', '>=', seenSince);
  const row = await query.executeTakeFirstOrThrow();
  return Number(row.n);
}

// ---------------------------------------------------------------------------------------------
// Expected answers.

function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Error(message);
}

/** A seeded device with this expected-answer key, or -1. */
function deviceWithKey(fleet: Fleet, key: number): number {
  for (let i = Math.floor(key / 2); i < fleet.keys.length; i += APPS) if (fleet.keys[i] === key) return i;
  return -1;
}

/**
 * Each key's expected answer, fetched from `bases[0]` and checked in full; every other base must give
 * the same bytes. Throws when an answer is wrong.
 */
async function expectedAnswers(fleet: Fleet, bases: string[], baseline: boolean): Promise<(string | null)[]> {
  const expected: (string | null)[] = Array.from({ length: APPS * 2 }, () => null);
  if (baseline) {
    const answer = await call(bases[0]!, 'POST', '/updates', JSON.parse(fleet.bodies[0]!));
    assert(answer.status === 200 && (answer.json as { kind?: string }).kind === 'up_to_date', 'baseline');
    return expected.fill(answer.text);
  }
  await forEach(APPS * 2, 4, async (key) => {
    const device = deviceWithKey(fleet, key);
    if (device < 0) return;
    const app = Math.floor(key / 2);
    const outdated = key % 2 === 1;
    for (const [n, base] of bases.entries()) {
      const answer = await call(base, 'POST', '/updates', JSON.parse(fleet.bodies[device]!));
      const what = `${appIdOf(app)} ${outdated ? OLD_VERSION : liveVersionOf(app)} via ${base}`;
      const got = `HTTP ${answer.status} ${answer.text.slice(0, 200)}`;
      if (n > 0) {
        assert(answer.text === expected[key], `${what}: ${got}, not what ${bases[0]} answered`);
        continue;
      }
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
    }
  });
  return expected;
}

// ---------------------------------------------------------------------------------------------
// CPU time from /proc (Linux), in seconds.

const CLOCK_TICKS = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

interface ProcStat {
  pid: number;
  ppid: number;
  /** utime + stime. */
  own: number;
  /** cutime + cstime: children that exited and were reaped. */
  reaped: number;
}

function procStat(pid: number): ProcStat | undefined {
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

/** CPU seconds so far of the postmaster, its reaped children and its live children (the backends). */
function postgresCpu(postmaster: number | undefined): number {
  if (postmaster === undefined) return NaN;
  let total = 0;
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = procStat(Number(entry));
    if (stat?.pid === postmaster) total += stat.own + stat.reaped;
    else if (stat?.ppid === postmaster) total += stat.own;
  }
  return total;
}

function cpuOf(pids: number[]): number {
  return pids.reduce((sum, pid) => sum + (procStat(pid)?.own ?? NaN), 0);
}

/** CPU seconds the whole machine has been busy (all cores; /proc/stat less idle and iowait). */
function machineBusy(): number {
  try {
    const fields = fs
      .readFileSync('/proc/stat', 'utf8')
      .split('\n')[0]!
      .trim()
      .split(/\s+/)
      .slice(1)
      .map(Number);
    const all = fields.slice(0, 8).reduce((sum, value) => sum + value, 0);
    return (all - fields[3]! - fields[4]!) / CLOCK_TICKS;
  } catch {
    return NaN;
  }
}

function selfCpu(): number {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1e6;
}

// ---------------------------------------------------------------------------------------------
// Load.

interface Target {
  name: string;
  /** What it is compared with: the name of a baseline outcome, or null for a baseline. */
  against: string | null;
  servers: Started[];
  baseline: boolean;
  /** The database, to check the device rows afterwards (Overair scenarios only). */
  db?: Kysely<Database>;
  postmaster?: number;
}

interface Outcome {
  name: string;
  against: string | null;
  reqPerSec: number;
  p50: number;
  p99: number;
  max: number;
  total: number;
  non2xx: number;
  errors: number;
  wrong: number;
  /** % of one core over the measured seconds. */
  cpu: { servers: number; postgres: number; loadGen: number; other: number };
  devicesNote: string;
  problems: string[];
}

async function measure(fleet: Fleet, target: Target): Promise<Outcome> {
  const bases = target.servers.map((s) => s.url);
  const problems: string[] = [];
  const expected = await expectedAnswers(fleet, bases, target.baseline).catch((error: unknown) => {
    const cause = (error as Error).cause as Error | undefined;
    problems.push(`wrong sample answer: ${(error as Error).message}${cause ? ` (${cause.message})` : ''}`);
    return null;
  });
  const startedIso = new Date().toISOString();
  const answered = new Uint8Array(DEVICES_TOTAL);
  let wrong = 0;
  let firstWrong = '';

  const run = (seconds: number) =>
    autocannon({
      url: bases.length === 1 ? bases[0]! : bases,
      connections: CONNECTIONS,
      duration: seconds,
      pipelining: 1,
      timeout: 10,
      requests: [
        {
          method: 'POST',
          path: '/updates',
          headers: { 'content-type': 'application/json' },
          setupRequest: (request, context) => {
            const device = Math.floor(Math.random() * DEVICES_TOTAL);
            context.device = device;
            return { ...request, body: fleet.bodies[device] };
          },
          onResponse: (status, body, context) => {
            const device = context.device as number;
            if (status !== 200) return; // counted by autocannon as non-2xx
            if (expected && body === expected[fleet.keys[device]!]) {
              answered[device] = 1;
            } else {
              wrong++;
              firstWrong ||= `device ${device}: ${body.slice(0, 200)}`;
            }
          },
        },
      ],
    });

  if (WARMUP > 0) await run(WARMUP);
  const serverPids = target.servers.map((s) => s.child.pid!);
  const before = {
    servers: cpuOf(serverPids),
    pg: postgresCpu(target.postmaster),
    self: selfCpu(),
    machine: machineBusy(),
  };
  const clock = performance.now();
  const result = await run(DURATION);
  const wall = (performance.now() - clock) / 1000;
  const percent = (from: number, to: number) => ((to - from) / wall) * 100;
  const cpu = {
    servers: percent(before.servers, cpuOf(serverPids)),
    postgres: target.postmaster === undefined ? NaN : percent(before.pg, postgresCpu(target.postmaster)),
    loadGen: percent(before.self, selfCpu()),
    other: 0,
  };
  // Everything else the machine did meanwhile: other people's work skews the figures.
  cpu.other = percent(before.machine, machineBusy()) - cpu.servers - (cpu.postgres || 0) - cpu.loadGen;

  const bad = (count: number, what: string) => count > 0 && problems.push(`${count} ${what}`);
  bad(result.non2xx, `non-2xx answers (${JSON.stringify(result.statusCodeStats)})`);
  bad(result.errors, 'connection errors');
  bad(result.timeouts, 'timeouts');
  bad(wrong, `answers other than the one expected for the device's app and version (first: ${firstWrong})`);
  if (result.requests.total === 0) problems.push('no request completed');

  let devicesNote = '';
  if (target.db) {
    // The write-behind flushes every 250 ms; then every device answered must have its last_seen
    // written in this scenario, and no row may have been added.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const distinct = answered.reduce((sum, hit) => sum + hit, 0);
    const written = await countDevices(target.db, startedIso);
    const total = await countDevices(target.db);
    devicesNote = `${written} device rows written, ${distinct} distinct devices answered`;
    if (written < distinct) problems.push(`only ${written} of ${distinct} answered devices recorded`);
    if (total !== DEVICES_TOTAL) problems.push(`${total} device rows, expected ${DEVICES_TOTAL}`);
  }
  return {
    name: target.name,
    against: target.against,
    reqPerSec: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    max: result.latency.max,
    total: result.requests.total,
    non2xx: result.non2xx,
    errors: result.errors + result.timeouts,
    wrong,
    cpu,
    devicesNote,
    problems,
  };
}

// ---------------------------------------------------------------------------------------------

/** Warning lines (pino level 40 and up) of every Overair server started, by label. */
const serverWarnings = new Map<string, string[]>();

function overair(label: string, dataDir: string, databaseUrl: string): Promise<Started> {
  const warnings: string[] = [];
  serverWarnings.set(label, warnings);
  return startOverair(dataDir, LOG_LEVEL, {
    env: {
      OVERAIR_DATABASE_URL: databaseUrl,
      OVERAIR_PUBLIC_URL: PUBLIC_URL,
      // Every device answered must have its last_seen written in the scenario (see measure()): with
      // the default precision (15m), a device an earlier scenario wrote would rightly not be again.
      OVERAIR_DEVICE_SEEN_PRECISION: '1s',
    },
    label,
    nodeArgs: SERVER_NODE_ARGS,
    onLine: (line) => /"level":(40|50|60)/.test(line) && warnings.push(line),
  });
}

const seconds = (s: number) => `${s.toFixed(1)} s`;

async function main(): Promise<number> {
  const cpus = os.cpus();
  const cores = os.availableParallelism();
  const load = () =>
    os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(' ');
  console.log(
    `\noverair scale bench: node ${process.version}, ${cores} cores (${cpus[0]?.model.trim() ?? '?'}), ` +
      `load average ${load()}`,
  );
  console.log(
    `${APPS} apps, ${DEVICES_TOTAL} devices (${OUTDATED_PERCENT}% outdated, ${OVERRIDE_PERCENT}% with a channel ` +
      `override); autocannon ${CONNECTIONS} connections in all, ${WARMUP} s warm-up + ${DURATION} s measured ` +
      `per scenario, pipelining 1, random seeded device per request, load generator in this process`,
  );
  if (os.loadavg()[0]! > cores / 2) {
    console.log(`NOTE: the machine is busy (load average ${load()}): the figures will be lower and noisier.`);
  }
  if (cores < 4) {
    console.log(
      `NOTE: ${cores} cores for the load generator, PostgreSQL and the server(s): they compete for CPU. ` +
        `With two instances (c) there are more busy processes than cores, so (c) shows contention on ` +
        `this machine, not what two instances on hosts of their own would serve; see the CPU columns.`,
    );
  }

  const fleetStarted = performance.now();
  const fleet = makeFleet();
  console.log(`fleet generated in ${seconds((performance.now() - fleetStarted) / 1000)}`);

  const outcomes: Outcome[] = [];
  const baseline1 = await startChild('baseline-server.ts', { ...process.env }, { stdout: 'ignore' });
  /**
   * Measures the bare baseline (on `extra` more baseline processes beside the first, the load split
   * between them) right before `scenario`, which is then compared with it.
   */
  async function measurePair(fleet: Fleet, scenario: Omit<Target, 'against' | 'baseline'>, extra = 0) {
    const more = await Promise.all(
      Array.from({ length: extra }, () =>
        startChild('baseline-server.ts', { ...process.env }, { stdout: 'ignore' }),
      ),
    );
    const name = `baseline for ${scenario.name.split(' ')[0]}: ${1 + extra}x node:http`;
    try {
      outcomes.push(
        await measure(fleet, { name, against: null, servers: [baseline1, ...more], baseline: true }),
      );
    } finally {
      for (const started of more) await stopChild(started.child);
    }
    outcomes.push(await measure(fleet, { ...scenario, against: name, baseline: false }));
  }

  if (SCENARIOS.has('a')) {
    const dataDir = await makeTempDir('overair-scale-sqlite-');
    const server = await overair('sqlite', dataDir, '');
    const appsSeconds = await seedApps(server.url);
    const handle = await openSqlite(path.join(dataDir, 'overair.db'));
    try {
      const devicesSeconds = await seedDevices(handle, fleet);
      console.log(
        `SQLite: ${APPS} apps via the admin API in ${seconds(appsSeconds)}, ` +
          `${DEVICES_TOTAL} devices via Kysely INSERTs in ${seconds(devicesSeconds)}`,
      );
      await measurePair(fleet, { name: '(a) SQLite, 1 instance', servers: [server], db: handle.db });
    } finally {
      await handle.close();
      await stopChild(server.child);
    }
  }

  if (SCENARIOS.has('b') || SCENARIOS.has('c')) {
    const pgStarted = performance.now();
    const postgres: PostgresServer = await startPostgres();
    atCleanup(() => postgres.destroy());
    const url = postgres.urlOf(await postgres.createDatabase());
    const postmaster = findPostmaster(postgres.port);
    console.log(
      `PostgreSQL 15 started on port ${postgres.port} in ${seconds((performance.now() - pgStarted) / 1000)}`,
    );
    // Both instances share the data folder, as they would share a volume (or S3) for the bundles.
    const dataDir = await makeTempDir('overair-scale-pg-');
    const first = await overair('postgres-1', dataDir, url);
    const appsSeconds = await seedApps(first.url);
    const handle = await openPostgres(url, { max: 2 });
    try {
      const devicesSeconds = await seedDevices(handle, fleet);
      console.log(
        `PostgreSQL: ${APPS} apps via the admin API in ${seconds(appsSeconds)}, ` +
          `${DEVICES_TOTAL} devices via Kysely INSERTs in ${seconds(devicesSeconds)}`,
      );
      if (SCENARIOS.has('b')) {
        await measurePair(fleet, {
          name: '(b) PostgreSQL, 1 instance',
          servers: [first],
          db: handle.db,
          postmaster,
        });
      }
      if (SCENARIOS.has('c')) {
        const second = await overair('postgres-2', dataDir, url);
        await measurePair(
          fleet,
          { name: '(c) PostgreSQL, 2 instances', servers: [first, second], db: handle.db, postmaster },
          1,
        );
      }
    } finally {
      await handle.close();
    }
  }

  const byName = new Map(outcomes.map((o) => [o.name, o]));
  const pct = (value: number) => (Number.isNaN(value) ? '-' : `${value.toFixed(0)}%`);
  const perCpuSecond = (reqPerSec: number, cpuPercent: number) =>
    Number.isNaN(cpuPercent) || cpuPercent <= 0 ? '-' : ((reqPerSec * 100) / cpuPercent).toFixed(0);
  printTable([
    [
      'scenario',
      'req/s',
      'p50 ms',
      'p99 ms',
      'max ms',
      'non-2xx',
      'errors',
      'wrong',
      'req/s ratio',
      'p99 ratio',
      'CPU srv',
      'CPU pg',
      'CPU gen',
      'CPU other',
      'req/CPU-s srv',
      'req/CPU-s pg',
      'check',
    ],
    ...outcomes.map((o) => {
      const base = o.against ? byName.get(o.against) : undefined;
      return [
        o.name,
        o.reqPerSec.toFixed(0),
        o.p50.toFixed(0),
        o.p99.toFixed(0),
        o.max.toFixed(0),
        String(o.non2xx),
        String(o.errors),
        String(o.wrong),
        base ? (o.reqPerSec / base.reqPerSec).toFixed(2) : '',
        base && base.p99 > 0 ? (o.p99 / base.p99).toFixed(2) : '',
        pct(o.cpu.servers),
        pct(o.cpu.postgres),
        pct(o.cpu.loadGen),
        pct(Math.max(0, o.cpu.other)),
        perCpuSecond(o.reqPerSec, o.cpu.servers),
        perCpuSecond(o.reqPerSec, o.cpu.postgres),
        o.problems.length === 0 ? 'ok' : 'FAILED',
      ];
    }),
  ]);
  console.log(
    `\nCPU: % of one core over the measured ${DURATION} s (${cores} cores = ${cores * 100}%): ` +
      `srv = the server process(es), pg = PostgreSQL, gen = the load generator (this process), ` +
      `other = the rest of the machine (anything well above 0 skews the figures). req/CPU-s: update ` +
      `checks per CPU-second of the server process(es) and of PostgreSQL, the cost of a check, less ` +
      `sensitive to other load than req/s. Latencies are whole ms; with ${CONNECTIONS} connections ` +
      `a server stall delays only ${CONNECTIONS} requests, so it shows in "max ms" rather than in p99.`,
  );
  for (const o of outcomes) if (o.devicesNote) console.log(`${o.name}: ${o.devicesNote}`);
  const one = byName.get('(b) PostgreSQL, 1 instance');
  const two = byName.get('(c) PostgreSQL, 2 instances');
  if (one && two) {
    console.log(
      `(c) / (b): ${(two.reqPerSec / one.reqPerSec).toFixed(2)}x the req/s of one instance` +
        (cores < 4 ? ` (on ${cores} cores: contention, not scale-out capacity)` : ''),
    );
  }
  console.log(`load average at the end: ${load()}`);

  for (const [label, warnings] of serverWarnings) {
    if (warnings.length === 0) continue;
    console.log(`\nserver ${label}: ${warnings.length} warning/error log lines`);
    for (const line of warnings.slice(0, 3)) console.log(`  ${line.slice(0, 300)}`);
  }

  const failed = outcomes.filter((o) => o.problems.length > 0);
  for (const o of failed) console.error(`\nFAILED ${o.name}:\n  ${o.problems.join('\n  ')}`);
  return failed.length > 0 ? 1 : 0;
}

await runBench('scale bench', 'the servers and PostgreSQL', main);
