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
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import autocannon from 'autocannon';

const ROOT = path.resolve(import.meta.dirname, '..');
const BUNDLE_ZIP = path.resolve(ROOT, '../shared/vectors/capgo-cli-8.68/bundle.zip');
const ADMIN_TOKEN = 'oat_bench-admin-token-0123456789abcdef';
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
// Child processes and temp dirs, cleaned up whatever happens.

const children = new Set<ChildProcess>();
const tempDirs = new Set<string>();
let cleaning: Promise<void> | undefined;

function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    await Promise.all([...children].map((child) => stopChild(child)));
    await Promise.all([...tempDirs].map((dir) => fs.rm(dir, { recursive: true, force: true })));
  })();
  return cleaning;
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode === null && child.signalCode === null) {
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  }
  children.delete(child);
}

for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.once(signal, () => {
    console.error(`\n${signal}: stopping the servers`);
    void cleanup().finally(() => process.exit(128 + (os.constants.signals[signal] ?? 1)));
  });
}

interface Started {
  child: ChildProcess;
  url: string;
}

/** Runs a bench/*.ts file under tsx in a child process and waits for its {type: 'listening'} message. */
function startChild(
  file: string,
  env: NodeJS.ProcessEnv,
  stdout: 'ignore' | 'pipe',
  nodeArgs: string[] = [],
): Promise<Started> {
  const child = spawn(process.execPath, [...nodeArgs, '--import', 'tsx', path.join(ROOT, 'bench', file)], {
    cwd: ROOT,
    env,
    stdio: ['ignore', stdout, 'inherit', 'ipc'],
  });
  children.add(child);
  return new Promise<Started>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${file} did not start within 30 s`)), 30_000);
    child.once('error', reject);
    child.once('exit', (code, signal) =>
      reject(new Error(`${file} exited early (code ${code}, signal ${signal})`)),
    );
    child.on('message', (message: { type?: string; url?: string }) => {
      if (message.type === 'listening' && message.url) {
        clearTimeout(timer);
        resolve({ child, url: message.url });
      }
    });
  });
}

// ---------------------------------------------------------------------------------------------
// Requests.

/** The info object of @capgo/capacitor-updater 8.x, as test/helpers/server.ts deviceInfo() has it. */
function deviceInfo(overrides: Record<string, unknown>) {
  return {
    platform: 'android',
    device_id: '6f1e2a4c-3b5d-4e6f-8a9b-0c1d2e3f4a5b',
    app_id: APP_ID,
    custom_id: '',
    version_build: '1.0.0',
    version_code: '10',
    version_os: '14',
    version_name: '1.0.0',
    plugin_version: '8.51.23',
    is_emulator: false,
    is_prod: true,
    install_source: 'google_play',
    defaultChannel: '',
    ...overrides,
  };
}

async function call(
  base: string,
  method: string,
  route: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; text: string; json: unknown }> {
  const response = await fetch(base + route, {
    method,
    headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: response.status, text, json };
}

async function admin(base: string, method: string, route: string, body?: unknown, expect = [200, 201]) {
  const response = await call(base, method, `/api/v1${route}`, body, {
    authorization: `Bearer ${ADMIN_TOKEN}`,
  });
  if (!expect.includes(response.status)) {
    throw new Error(`${method} /api/v1${route}: HTTP ${response.status} ${response.text.slice(0, 300)}`);
  }
  return response.json as Record<string, unknown>;
}

async function seed(base: string): Promise<void> {
  await admin(base, 'POST', '/apps', { id: APP_ID });
  const zip = new Uint8Array(await fs.readFile(BUNDLE_ZIP));
  const upload = await fetch(`${base}/api/v1/apps/${APP_ID}/bundles/upload?version=${LIVE_VERSION}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/zip' },
    body: zip,
  });
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
      deviceInfo({
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

  const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'overair-bench-'));
  tempDirs.add(dataDir);

  const baseline = await startChild('baseline-server.ts', { ...process.env }, 'ignore');
  const overair = await startChild(
    'server-under-test.ts',
    {
      ...process.env,
      OVERAIR_DATA_DIR: dataDir,
      OVERAIR_HOST: '127.0.0.1',
      OVERAIR_PORT: '0',
      OVERAIR_ADMIN_TOKEN: ADMIN_TOKEN,
      OVERAIR_LOG_LEVEL: LOG_LEVEL,
      OVERAIR_PUBLIC_URL: '',
      OVERAIR_DATABASE_URL: '',
    },
    LOG_TO_DEV_NULL ? 'ignore' : 'pipe',
    SERVER_NODE_ARGS,
  );
  const serverLog: string[] = [];
  let partial = '';
  overair.child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    const lines = (partial + chunk).split('\n');
    partial = lines.pop() ?? '';
    serverLog.push(...lines.filter((line) => line.trim() !== ''));
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
  const rows = [
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
  ];
  const widths = rows[0]!.map((_, col) => Math.max(...rows.map((row) => row[col]!.length)));
  const line = (row: string[]) =>
    row.map((cell, col) => (col === 0 ? cell.padEnd(widths[col]!) : cell.padStart(widths[col]!))).join('  ');
  console.log('\n' + line(rows[0]!));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const row of rows.slice(1)) console.log(line(row));

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

let code: number;
try {
  code = await main();
} catch (error) {
  console.error('bench failed:', error);
  code = 1;
} finally {
  await cleanup();
}
process.exit(code);
