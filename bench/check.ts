/**
 * `npm run bench`: update checks per second, latency and cost of a real Overair server, in one run
 * next to two baselines on the same requests: a bare node:http server answering a constant JSON reply
 * (the ceiling of this machine) and the peer, a minimal Hono update server (bench/peer-hono-server.ts).
 *
 * Load comes from wrk (bench/wrk.ts: C, installed from Debian when missing), pinned to its own core
 * with the server on another (printed). Each scenario is measured BENCH_RUNS times (default 3), the
 * scenarios taking turns, and the median run by req/s is reported, with the server's event-loop delay
 * (p99, max), its RSS and the database rows it wrote per 1,000 checks during that run
 * (bench/server-metrics.ts). POST /updates bodies are the plugin's info object of BENCH_DEVICES
 * device ids (default 1000) in turn.
 *
 * Exits non-zero only when a scenario got wrong answers or errors, never because of a goal.
 *
 * Knobs (environment): BENCH_DURATION (s per run, default 5), BENCH_WARMUP (s, default 2),
 * BENCH_CONNECTIONS (default 32), BENCH_RUNS (default 3), BENCH_DEVICES (default 1000),
 * BENCH_LOG_LEVEL (the server's OVERAIR_LOG_LEVEL, default "warn"; at info/debug/trace its log goes to
 * /dev/null, otherwise it is read here and warnings are reported), BENCH_SERVER_NODE_ARGS (extra node
 * flags for the Overair process only, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof").
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import {
  describeServerSetup,
  ROOT,
  admin,
  call,
  deviceInfo,
  makeTempDir,
  printTable,
  readMetrics,
  resetMetrics,
  runBench,
  startChild,
  startOverair,
  uploadReady,
  type Started,
} from './harness.js';
import type { ServerMetrics } from './server-metrics.js';
import {
  describePinning,
  ensureWrk,
  medianRun,
  pinServer,
  runWrk,
  wrkProblems,
  type WrkResult,
} from './wrk.js';

const BUNDLE_ZIP = path.resolve(ROOT, 'test/fixtures/capgo-cli-8.68/bundle.zip');
const APP_ID = 'com.example.bench';
const LIVE_VERSION = '1.0.1';

const num = (name: string, fallback: number) => {
  const value = Number(process.env[name] ?? fallback);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${name} must be a positive number`);
  return value;
};
const DURATION = num('BENCH_DURATION', 5);
const WARMUP = num('BENCH_WARMUP', 2);
const CONNECTIONS = num('BENCH_CONNECTIONS', 32);
const RUNS = num('BENCH_RUNS', 3);
const DEVICES = num('BENCH_DEVICES', 1000);
const LOG_LEVEL = process.env.BENCH_LOG_LEVEL ?? 'warn';
const LOG_TO_DEV_NULL = ['info', 'debug', 'trace'].includes(LOG_LEVEL);
/** Extra node flags for the Overair server process only, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof". */
const SERVER_NODE_ARGS = (process.env.BENCH_SERVER_NODE_ARGS ?? '').split(/\s+/).filter(Boolean);

// ---------------------------------------------------------------------------------------------
// Requests.

async function seed(base: string): Promise<void> {
  await admin(base, 'POST', '/apps', { id: APP_ID });
  const zip = new Uint8Array(await fs.readFile(BUNDLE_ZIP));
  // Its files ready before any answer is measured: the update's answer carries their manifest.
  await uploadReady(base, APP_ID, { version: LIVE_VERSION }, zip);
  await admin(base, 'PUT', `/apps/${APP_ID}/channels/production/bundle`, { version: LIVE_VERSION });
}

/** Every device id the admin API lists for the app, with the version it last reported. */
async function listDevices(base: string): Promise<Map<string, string>> {
  const seen = new Map<string, string>();
  let cursor: string | null = null;
  do {
    const query: string = `limit=500${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
    const page = (await admin(base, 'GET', `/apps/${APP_ID}/devices?${query}`)) as {
      items: { device_id: string; version_name: string }[];
      next_cursor: string | null;
    };
    for (const item of page.items) seen.set(item.device_id, item.version_name);
    cursor = page.next_cursor;
  } while (cursor);
  return seen;
}

// ---------------------------------------------------------------------------------------------
// Load.

interface Scenario {
  name: string;
  server: Started;
  /** One JSON body per device id, sent in turn. */
  bodies: string[];
  /** Checks one answer, fetched before the runs; throws with the reason when it is wrong. */
  verifySample(status: number, body: unknown): void;
}

interface Run {
  wrk: WrkResult;
  metrics: ServerMetrics;
}

interface Outcome {
  name: string;
  run: Run;
  /** Requests over all runs. */
  total: number;
  problems: string[];
}

async function verify(scenario: Scenario): Promise<string[]> {
  const sample = await call(scenario.server.url, 'POST', '/updates', JSON.parse(scenario.bodies[0]!));
  try {
    scenario.verifySample(sample.status, sample.json);
    return [];
  } catch (error) {
    return [
      `wrong sample answer (HTTP ${sample.status} ${sample.text.slice(0, 200)}): ${(error as Error).message}`,
    ];
  }
}

async function measureOnce(scenario: Scenario, seconds: number): Promise<Run> {
  await resetMetrics(scenario.server.child);
  const wrk = await runWrk({
    url: scenario.server.url,
    path: '/updates',
    bodies: scenario.bodies,
    connections: CONNECTIONS,
    durationSeconds: seconds,
  });
  return { wrk, metrics: await readMetrics(scenario.server.child) };
}

function problemsOf(runs: Run[]): string[] {
  const problems: string[] = [];
  for (const { wrk } of runs) {
    problems.push(...wrkProblems(wrk));
  }
  return [...new Set(problems)];
}

/**
 * Warms every server up, then measures the scenarios in turns (so that drift in the machine's speed
 * spreads over all of them) and keeps each one's median run.
 */
async function measureAll(scenarios: Scenario[]): Promise<Outcome[]> {
  const problems = await Promise.all(scenarios.map((scenario) => verify(scenario)));
  for (const scenario of scenarios) await measureOnce(scenario, WARMUP);
  // What the warm-up queued (first sightings of the devices) is written before the first span.
  await new Promise((resolve) => setTimeout(resolve, 1000));
  const runs: Run[][] = scenarios.map(() => []);
  for (let round = 0; round < RUNS; round++) {
    for (const [index, scenario] of scenarios.entries()) {
      runs[index]!.push(await measureOnce(scenario, DURATION));
    }
  }
  return scenarios.map((scenario, index) => {
    const median = medianRun(runs[index]!.map((run) => run.wrk));
    return {
      name: scenario.name,
      run: runs[index]!.find((run) => run.wrk === median)!,
      total: runs[index]!.reduce((sum, run) => sum + run.wrk.requests, 0),
      problems: [...problems[index]!, ...problemsOf(runs[index]!)],
    };
  });
}

function bodiesFor(prefix: string, versionName: string): string[] {
  return Array.from({ length: DEVICES }, (_, i) =>
    JSON.stringify(
      deviceInfo(APP_ID, {
        device_id: `bench-${prefix}-${String(i).padStart(4, '0')}-${'0'.repeat(8)}`,
        version_name: versionName,
      }),
    ),
  );
}

function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Error(message);
}

const upToDate = (status: number, body: unknown) => {
  const answer = body as { kind?: string; url?: string } | undefined;
  assert(status === 200, 'expected HTTP 200');
  assert(answer?.kind === 'up_to_date', `expected kind "up_to_date", got ${JSON.stringify(answer?.kind)}`);
  assert(answer.url === undefined, 'an up-to-date answer carries no url');
};

const update = (base: string) => (status: number, body: unknown) => {
  const answer = body as { version?: string; url?: string; checksum?: string; kind?: string } | undefined;
  assert(status === 200, 'expected HTTP 200');
  assert(
    answer?.version === LIVE_VERSION,
    `expected version "${LIVE_VERSION}", got ${JSON.stringify(answer?.version)}`,
  );
  assert(answer.kind === undefined, `an update carries no kind, got ${JSON.stringify(answer.kind)}`);
  assert(
    typeof answer.url === 'string' && answer.url.startsWith(`${base}/download/`),
    `expected a download url under ${base}, got ${JSON.stringify(answer.url)}`,
  );
  assert(typeof answer.checksum === 'string' && answer.checksum.length > 0, 'expected a checksum');
};

// ---------------------------------------------------------------------------------------------

const MB = 1024 * 1024;

async function main(): Promise<number> {
  ensureWrk();
  const cpus = os.cpus();
  console.log(
    `overair bench: node ${process.version}, ${cpus.length} cores (${cpus[0]?.model.trim() ?? '?'})`,
  );
  console.log(
    `wrk 1 thread, ${CONNECTIONS} connections, ${WARMUP} s warm-up, then ${RUNS} runs of ${DURATION} s per ` +
      `scenario in turns (median by req/s); ${DEVICES} device ids per scenario`,
  );
  console.log(describePinning());
  console.log(describeServerSetup());
  console.log(
    `server log level: ${LOG_LEVEL} (${LOG_TO_DEV_NULL ? 'written to /dev/null' : 'read here, warnings reported'})\n`,
  );

  const dataDir = await makeTempDir('overair-bench-');
  const serverLog: string[] = [];
  const overair = await startOverair(dataDir, LOG_LEVEL, {
    stdout: LOG_TO_DEV_NULL ? 'ignore' : 'pipe',
    nodeArgs: SERVER_NODE_ARGS,
    label: 'server-under-test.ts',
    onLine: (line) => line.trim() !== '' && serverLog.push(line),
  });
  await seed(overair.url);
  const live = (await call(overair.url, 'POST', '/updates', deviceInfo(APP_ID, { version_name: '1.0.0' })))
    .json as { url: string; checksum: string };
  const baseline = await startChild('baseline-server.ts', { ...process.env }, { stdout: 'ignore' });
  const peer = await startChild(
    'peer-hono-server.ts',
    {
      ...process.env,
      PEER_APP_ID: APP_ID,
      PEER_VERSION: LIVE_VERSION,
      PEER_URL: live.url,
      PEER_CHECKSUM: live.checksum,
    },
    { stdout: 'ignore' },
  );
  for (const server of [baseline, peer, overair]) pinServer(server.child.pid);
  console.log(
    `baseline ${baseline.url} (pid ${baseline.child.pid}), peer ${peer.url} (pid ${peer.child.pid}), ` +
      `overair ${overair.url} (pid ${overair.child.pid})`,
  );

  const outcomes = await measureAll([
    {
      name: 'bare node:http, constant answer',
      server: baseline,
      bodies: bodiesFor('x', LIVE_VERSION),
      verifySample: upToDate,
    },
    {
      name: 'peer: Hono, c.req.json(), map lookup',
      server: peer,
      bodies: bodiesFor('p', LIVE_VERSION),
      verifySample: upToDate,
    },
    {
      name: `(a) Overair, up to date (${LIVE_VERSION})`,
      server: overair,
      bodies: bodiesFor('a', LIVE_VERSION),
      verifySample: upToDate,
    },
    {
      name: '(b) Overair, gets the update (1.0.0)',
      server: overair,
      bodies: bodiesFor('b', '1.0.0'),
      verifySample: update(overair.url),
    },
  ]);
  const [bare, peerOutcome, a, b] = outcomes as [Outcome, Outcome, Outcome, Outcome];

  // Every device of both Overair scenarios must be listed with the version it reported.
  await new Promise((resolve) => setTimeout(resolve, 1500));
  const devices = await listDevices(overair.url);
  for (const [outcome, prefix, version] of [
    [a, 'a', LIVE_VERSION],
    [b, 'b', '1.0.0'],
  ] as const) {
    const ids = [...devices].filter(([id]) => id.startsWith(`bench-${prefix}-`));
    const wrong = ids.filter(([, reported]) => reported !== version).length;
    const expected = Math.min(DEVICES, outcome.total);
    if (ids.length < expected) outcome.problems.push(`${ids.length} of ${expected} devices recorded`);
    if (wrong > 0) outcome.problems.push(`${wrong} devices recorded with a version other than ${version}`);
  }

  const reqs = (o: Outcome) => o.run.wrk.reqPerSec;
  printTable([
    [
      'scenario',
      'req/s',
      'to bare',
      'to peer',
      'p50 ms',
      'p99 ms',
      'max ms',
      'loop p99',
      'loop max',
      'RSS MB',
      'writes/1k',
      'check',
    ],
    ...outcomes.map((o) => [
      o.name,
      reqs(o).toFixed(0),
      (reqs(o) / reqs(bare)).toFixed(2),
      (reqs(o) / reqs(peerOutcome)).toFixed(2),
      o.run.wrk.p50.toFixed(2),
      o.run.wrk.p99.toFixed(2),
      o.run.wrk.max.toFixed(1),
      o.run.metrics.loopDelayP99.toFixed(1),
      o.run.metrics.loopDelayMax.toFixed(1),
      (o.run.metrics.rssPeak / MB).toFixed(0),
      o.run.metrics.rowsWritten === undefined
        ? '-'
        : ((o.run.metrics.rowsWritten / o.run.wrk.requests) * 1000).toFixed(2),
      o.problems.length === 0 ? 'ok' : 'FAILED',
    ]),
  ]);
  console.log(
    `\nserver CPU per check (median run): (a) ${((a.run.metrics.cpuMs / a.run.wrk.requests) * 1000).toFixed(0)} µs, ` +
      `(b) ${((b.run.metrics.cpuMs / b.run.wrk.requests) * 1000).toFixed(0)} µs, bare ` +
      `${((bare.run.metrics.cpuMs / bare.run.wrk.requests) * 1000).toFixed(0)} µs`,
  );

  const goal = (what: string, value: number, target: number, atMost = false) => {
    const met = atMost ? value <= target : value >= target;
    console.log(
      `  ${what}: ${value.toFixed(2)} (goal ${atMost ? '<=' : '>='} ${target}) ${met ? 'met' : 'NOT MET'}`,
    );
  };
  console.log('\ngoals (informational):');
  goal('(a) req/s to bare', reqs(a) / reqs(bare), 0.7);
  goal('(a) req/s to peer', reqs(a) / reqs(peerOutcome), 1.2);
  goal('(b) req/s to bare', reqs(b) / reqs(bare), 0.6);
  goal('(a) p99 to bare', a.run.wrk.p99 / bare.run.wrk.p99, 2, true);
  goal('(b) p99 to bare', b.run.wrk.p99 / bare.run.wrk.p99, 2, true);
  goal(
    '(a) writes per 1,000 checks (steady state)',
    ((a.run.metrics.rowsWritten ?? 0) / a.run.wrk.requests) * 1000,
    0,
    true,
  );

  const warnings = serverLog.filter((entry) => /"level":(40|50|60)/.test(entry));
  if (!LOG_TO_DEV_NULL) {
    console.log(`\nserver log: ${warnings.length} warning/error lines`);
    for (const entry of warnings.slice(0, 3)) console.log(`  ${entry.slice(0, 300)}`);
  }

  const failed = outcomes.filter((o) => o.problems.length > 0);
  for (const o of failed) console.error(`\nFAILED ${o.name}:\n  ${o.problems.join('\n  ')}`);
  return failed.length > 0 ? 1 : 0;
}

await runBench('bench', 'the servers', main);
