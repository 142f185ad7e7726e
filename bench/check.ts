/**
 * `npm run bench`: update checks per second and p99 latency of a real Overair server, next to a bare
 * node:http server answering a constant JSON reply (the ceiling on this machine).
 *
 * The servers run in child processes, so autocannon (programmatic API, in this process, no worker
 * threads) never shares an event loop with them. Exits non-zero only when a scenario got wrong answers
 * or errors, never because of the ratio to the baseline.
 *
 * Knobs (environment): BENCH_DURATION (s, default 8), BENCH_WARMUP (s, default 2), BENCH_CONNECTIONS
 * (default 10), BENCH_DEVICES (device ids per scenario, default 1000), BENCH_LOG_LEVEL (the server's
 * OVERAIR_LOG_LEVEL, default "warn"; at info/debug/trace its log goes to /dev/null, otherwise it is
 * read here and warnings are reported), BENCH_SERVER_NODE_ARGS (extra node flags for the Overair
 * process only, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof").
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import autocannon from 'autocannon';
import {
  ROOT,
  admin,
  call,
  deviceInfo,
  makeTempDir,
  printTable,
  runBench,
  startChild,
  startOverair,
  uploadZip,
} from './harness.js';

const BUNDLE_ZIP = path.resolve(ROOT, 'test/fixtures/capgo-cli-8.68/bundle.zip');
const APP_ID = 'com.example.bench';
const LIVE_VERSION = '1.0.1';

const num = (name: string, fallback: number) => {
  const value = Number(process.env[name] ?? fallback);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${name} must be a positive number`);
  return value;
};
const DURATION = num('BENCH_DURATION', 8);
const WARMUP = num('BENCH_WARMUP', 2);
const CONNECTIONS = num('BENCH_CONNECTIONS', 10);
const DEVICES = num('BENCH_DEVICES', 1000);
const LOG_LEVEL = process.env.BENCH_LOG_LEVEL ?? 'warn';
const LOG_TO_DEV_NULL = ['info', 'debug', 'trace'].includes(LOG_LEVEL);
/** Extra node flags for the Overair server process only, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof". */
const SERVER_NODE_ARGS = (process.env.BENCH_SERVER_NODE_ARGS ?? '').split(/\s+/).filter(Boolean);
const GOAL = 0.5;

// ---------------------------------------------------------------------------------------------
// Requests.

async function seed(base: string): Promise<void> {
  await admin(base, 'POST', '/apps', { id: APP_ID });
  const zip = new Uint8Array(await fs.readFile(BUNDLE_ZIP));
  const upload = await uploadZip(base, APP_ID, { version: LIVE_VERSION }, zip);
  if (upload.status !== 201) throw new Error(`bundle upload: HTTP ${upload.status} ${await upload.text()}`);
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
  base: string;
  /** One JSON body per device id, sent in turn. */
  bodies: string[];
  /** Checks one answer, fetched before the run; throws with the reason when it is wrong. */
  verifySample(status: number, body: unknown): void;
}

interface Outcome {
  name: string;
  reqPerSec: number;
  p50: number;
  p99: number;
  total: number;
  problems: string[];
}

async function measure(scenario: Scenario): Promise<Outcome> {
  const problems: string[] = [];
  // One sample answer, checked in full; every answer under load must then be byte-identical to it
  // (verifyBody: autocannon counts the others as mismatches). The answer does not depend on the device id.
  const sample = await call(scenario.base, 'POST', '/updates', JSON.parse(scenario.bodies[0]!));
  try {
    scenario.verifySample(sample.status, sample.json);
  } catch (error) {
    problems.push(
      `wrong sample answer (HTTP ${sample.status} ${sample.text.slice(0, 200)}): ${(error as Error).message}`,
    );
  }

  let next = 0;
  const result = await autocannon({
    url: scenario.base,
    connections: CONNECTIONS,
    duration: DURATION,
    warmup: { connections: CONNECTIONS, duration: WARMUP },
    pipelining: 1,
    timeout: 10,
    verifyBody: (body) => body === sample.text,
    requests: [
      {
        method: 'POST',
        path: '/updates',
        headers: { 'content-type': 'application/json' },
        setupRequest: (request) => ({ ...request, body: scenario.bodies[next++ % scenario.bodies.length] }),
      },
    ],
  });

  const bad = (count: number, what: string) => count > 0 && problems.push(`${count} ${what}`);
  bad(result.non2xx, `non-2xx answers (${JSON.stringify(result.statusCodeStats)})`);
  bad(result.errors, 'connection errors');
  bad(result.timeouts, 'timeouts');
  bad(result.mismatches, 'answers that differ from the checked sample');
  if (result.requests.total === 0) problems.push('no request completed');
  return {
    name: scenario.name,
    reqPerSec: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    total: result.requests.total,
    problems,
  };
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

// ---------------------------------------------------------------------------------------------

async function main(): Promise<number> {
  const cpus = os.cpus();
  console.log(
    `overair bench: node ${process.version}, ${cpus.length} cores (${cpus[0]?.model.trim() ?? '?'})`,
  );
  console.log(
    `autocannon ${CONNECTIONS} connections, ${WARMUP} s warm-up + ${DURATION} s measured per scenario, ` +
      `pipelining 1, load generator in this process; ${DEVICES} device ids per scenario`,
  );
  console.log(
    `server log level: ${LOG_LEVEL} (${LOG_TO_DEV_NULL ? 'written to /dev/null' : 'read here, warnings reported'})\n`,
  );

  const dataDir = await makeTempDir('overair-bench-');

  const baseline = await startChild('baseline-server.ts', { ...process.env }, { stdout: 'ignore' });
  const serverLog: string[] = [];
  const overair = await startOverair(dataDir, LOG_LEVEL, {
    stdout: LOG_TO_DEV_NULL ? 'ignore' : 'pipe',
    nodeArgs: SERVER_NODE_ARGS,
    label: 'server-under-test.ts',
    onLine: (line) => line.trim() !== '' && serverLog.push(line),
  });
  console.log(
    `baseline ${baseline.url} (pid ${baseline.child.pid}), overair ${overair.url} (pid ${overair.child.pid})`,
  );

  await seed(overair.url);

  const outcomes: Outcome[] = [];
  outcomes.push(
    await measure({
      name: 'baseline: bare node:http',
      base: baseline.url,
      bodies: bodiesFor('x', LIVE_VERSION),
      verifySample: (status, body) => {
        assert(
          status === 200 && (body as { kind?: string } | undefined)?.kind === 'up_to_date',
          'expected the constant reply',
        );
      },
    }),
  );
  outcomes.push(
    await measure({
      name: `(a) up to date (${LIVE_VERSION})`,
      base: overair.url,
      bodies: bodiesFor('a', LIVE_VERSION),
      verifySample: (status, body) => {
        const answer = body as { kind?: string; url?: string } | undefined;
        assert(status === 200, 'expected HTTP 200');
        assert(
          answer?.kind === 'up_to_date',
          `expected kind "up_to_date", got ${JSON.stringify(answer?.kind)}`,
        );
        assert(answer.url === undefined, 'an up-to-date answer carries no url');
      },
    }),
  );
  outcomes.push(
    await measure({
      name: `(b) gets update (1.0.0)`,
      base: overair.url,
      bodies: bodiesFor('b', '1.0.0'),
      verifySample: (status, body) => {
        const answer = body as
          { version?: string; url?: string; checksum?: string; kind?: string } | undefined;
        assert(status === 200, 'expected HTTP 200');
        assert(
          answer?.version === LIVE_VERSION,
          `expected version "${LIVE_VERSION}", got ${JSON.stringify(answer?.version)}`,
        );
        assert(answer.kind === undefined, `an update carries no kind, got ${JSON.stringify(answer.kind)}`);
        assert(
          typeof answer.url === 'string' && answer.url.startsWith(`${overair.url}/download/`),
          `expected a download url under ${overair.url}, got ${JSON.stringify(answer.url)}`,
        );
        assert(typeof answer.checksum === 'string' && answer.checksum.length > 0, 'expected a checksum');
      },
    }),
  );

  // The device upserts are write-behind (flushed every 250 ms): give them a moment, then every device
  // of both scenarios must be listed with the version it reported.
  await new Promise((resolve) => setTimeout(resolve, 1500));
  const devices = await listDevices(overair.url);
  for (const [outcome, prefix, version] of [
    [outcomes[1]!, 'a', LIVE_VERSION],
    [outcomes[2]!, 'b', '1.0.0'],
  ] as const) {
    const ids = [...devices].filter(([id]) => id.startsWith(`bench-${prefix}-`));
    const wrong = ids.filter(([, reported]) => reported !== version).length;
    const expected = Math.min(DEVICES, outcome.total);
    if (ids.length < expected) outcome.problems.push(`${ids.length} of ${expected} devices recorded`);
    if (wrong > 0) outcome.problems.push(`${wrong} devices recorded with a version other than ${version}`);
  }

  // Table.
  const base = outcomes[0]!;
  printTable([
    ['scenario', 'req/s', 'p50 ms', 'p99 ms', 'req/s ratio', 'p99 ratio', 'requests', 'check'],
    ...outcomes.map((o) => [
      o.name,
      o.reqPerSec.toFixed(0),
      o.p50.toFixed(2),
      o.p99.toFixed(2),
      (o.reqPerSec / base.reqPerSec).toFixed(2),
      base.p99 > 0 ? (o.p99 / base.p99).toFixed(2) : 'n/a',
      String(o.total),
      o.problems.length === 0 ? 'ok' : 'FAILED',
    ]),
  ]);

  console.log(`\ngoal: each Overair scenario at least ${GOAL} of the bare baseline's req/s (informational)`);
  for (const o of outcomes.slice(1)) {
    const ratio = o.reqPerSec / base.reqPerSec;
    console.log(`  ${o.name}: ${ratio.toFixed(2)} ${ratio >= GOAL ? 'meets' : 'BELOW'} the goal`);
  }

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
