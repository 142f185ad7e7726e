/**
 * `npm run bench` (after bench/device-limits.ts): publishing does not disturb update checks (issue #16).
 *
 * For each store of BENCH_PUBLISH_STORES (default "fs,s3"; S3 is a radosgw started here as the tests
 * start it, ~15 s), starts a real Overair server on SQLite (bench/server-under-test.ts, a child
 * process) and puts a small release live. Then, in one run of update-check load:
 *   - idle: BENCH_PUBLISH_IDLE_SECONDS (default 5) of checks alone;
 *   - each of BENCH_PUBLISH_UPLOADS (default 3) bundles of BENCH_PUBLISH_FILES files (default 1000,
 *     10 KiB each, ~10 MiB in all; a third compress well, a tenth not at all; new bytes each time, so
 *     every file is stored), deflated as bundlers zip them, goes twice to the store, in turns:
 *       - plain PUT: the zip alone, as any upload to that store costs at least. On S3, one PutObject
 *         (the SDK, from this process) into the same radosgw bucket. On fs, an HTTP PUT from this
 *         process to a bare node:http server (bench/put-server.ts) that streams it into a file beside
 *         Overair's data folder and fsyncs it before answering (a PUT answered is durable, as an
 *         S3 PUT is and as Overair's fs store makes the zip before its 201): the same disk, the same
 *         loopback HTTP, pinned to the same CPU as Overair; there is no "PUT to a disk" without some
 *         server, and a bare one adds nothing of its own;
 *       - upload: `overair bundle upload --zip FILE --bundle 2.0.N --json`, the real CLI in a child
 *         process as a user runs it: the built CLI, `node dist/cli/main.js` (what `npx overair`
 *         runs; rebuilt here with `tsc -p tsconfig.build.json` when any file under src/ is newer than
 *         dist/cli/main.js). Its whole run is timed: start-up, hashing the zip, sending it, and the
 *         server checking its 1,000 files (each unpacked against its CRC-32) and storing the zip.
 *         The CLI's start-up alone (`bundle upload --help`, median of 3) is printed beside it;
 *       - files ready: from the upload's answer until the bundle's files for delta updates, which
 *         the server prepares after it (unpacked, hashed, compressed, stored), are ready (the
 *         bundle's `files` polled every 10 ms);
 *       - upload over HTTP: the same zip under version 2.1.N, sent by this process as the CLI sends
 *         it (raw body, sha256 in the query): the server's own part of an upload, next to the CLI's
 *         whole run; then its files ready;
 *   - the deletion of each uploaded bundle (its blobs go with it).
 *
 * The load is wrk (bench/wrk.ts), not a Node client: a load generator in Node on these cores adds its
 * own event-loop stalls to every latency it measures (this bench's in-process clients saw an idle p99
 * of ~30 ms). wrk only runs for a duration, so it runs once over all the windows above, with one
 * connection per thread, and logs every answer with the time it ended (CLOCK_MONOTONIC, the clock of
 * process.hrtime); each window's latencies are cut out of that log by the times the bench recorded,
 * so "during the upload" is exactly the CLI's run. BENCH_PUBLISH_CONNECTIONS (default 8) connections
 * each wait BENCH_PUBLISH_THINK_MS (default 2) after each answer: a busy server, not a saturated one
 * (a saturated one, closed loop, gives any CPU the upload takes straight to the checks' latency, and
 * only measures the scheduler). The idle row shows the rate and the server's CPU use it makes.
 * With two cores or more the servers (Overair with its worker threads, the bare PUT server) are
 * pinned to CPU 0 and wrk to CPU 1; the CLI, this process and radosgw are not pinned.
 *
 * Prints per window its time, the checks' count and p50/p99/max, p99 against idle, and the server's
 * event-loop delay p99/max and CPU use over the window (bench/server-metrics.ts; n/a when the server,
 * starved by other work on its core, did not answer for 10 s); then, per store, the issue's goals
 * (informational, never the exit code): upload at most 3x the plain PUT (medians; beside it the ratio
 * without the CLI's start-up, and the ratio until the files are ready), and the checks' p99 during
 * the uploads and the preparation of their files (all their checks together) at most 2x the idle
 * p99. The
 * machine's other work (and, on S3, radosgw on the same cores) skews absolute figures: compare ratios
 * within a run.
 *
 * Exits non-zero only when an upload, a PUT, a deletion or an update check fails.
 *
 * BENCH_SERVER_NODE_ARGS: extra node flags for the Overair process, e.g. "--cpu-prof
 * --cpu-prof-dir=/tmp/prof".
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import fs from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import yazl from 'yazl';
import { writeHashed } from '../src/crypto/hash.js';
import { createBucket, s3Client, startRadosgw, type Radosgw } from '../test/helpers/radosgw.js';
import {
  describeServerSetup,
  ADMIN_TOKEN,
  ROOT,
  admin,
  atCleanup,
  call,
  deviceInfo,
  makeTempDir,
  printTable,
  readMetrics,
  resetMetrics,
  runBench,
  startChild,
  startOverair,
  stopChild,
  filesReady,
  uploadZip,
  type Started,
  runToExit,
} from './harness.js';
import type { ServerMetrics } from './server-metrics.js';
import {
  describePinning,
  ensureWrk,
  monotonicMicros,
  pinServer,
  startTimedWrk,
  type TimedSamples,
} from './wrk.js';

// The AWS SDK's notice that it will need Node 22 in 2027, printed by every process that loads it
// (this one, the S3 server, its workers): not a figure of this bench.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const APP_ID = 'com.example.publish-bench';
const LIVE_VERSION = '1.0.0';

const num = (name: string, fallback: number, min = 1) => {
  const value = Number(process.env[name] ?? fallback);
  if (!Number.isFinite(value) || value < min) throw new Error(`${name} must be a number >= ${min}`);
  return value;
};
const FILES = num('BENCH_PUBLISH_FILES', 1000);
const UPLOADS = num('BENCH_PUBLISH_UPLOADS', 3);
const IDLE_SECONDS = num('BENCH_PUBLISH_IDLE_SECONDS', 5);
const CONNECTIONS = num('BENCH_PUBLISH_CONNECTIONS', 8);
const THINK_MS = num('BENCH_PUBLISH_THINK_MS', 2, 0);
const STORES = (process.env.BENCH_PUBLISH_STORES ?? 'fs,s3').split(',').filter(Boolean);
if (STORES.some((store) => store !== 'fs' && store !== 's3')) {
  throw new Error('BENCH_PUBLISH_STORES must be a subset of "fs,s3"');
}
const SERVER_NODE_ARGS = (process.env.BENCH_SERVER_NODE_ARGS ?? '').split(/\s+/).filter(Boolean);
/** Device ids the checks come from, in turn. */
const DEVICES = 1000;
const WARMUP_MS = 3000;
/** Between two windows, so that one's tail (writes, GC) does not fall in the next. */
const SETTLE_MS = 1000;
const CLI_TIMEOUT_MS = 120_000;

const FILE_BYTES = 10 * 1024;
const CLI_MAIN = path.join(ROOT, 'dist/cli/main.js');

// ---------------------------------------------------------------------------------------------
// Bundles.

interface Zip {
  file: string;
  size: number;
  sha256: string;
}

/**
 * A web build of `files` files of 10 KiB, all new bytes (seeded by `tag`), deflated: a tenth random
 * bytes (brotli does not pay), a third repetitive script (compresses well), the rest base64 text.
 */
async function makeBundle(file: string, files: number, tag: string): Promise<Zip> {
  const zip = new yazl.ZipFile();
  zip.addBuffer(Buffer.from(`<!doctype html><!-- ${tag} -->\n`), 'index.html');
  for (let i = 0; i < files - 1; i++) {
    let bytes: Buffer;
    if (i % 10 === 0) bytes = randomBytes(FILE_BYTES);
    else if (i % 3 === 0) {
      const line = `export const s${i} = "${randomBytes(300).toString('base64')}";\n`;
      bytes = Buffer.from(line.repeat(Math.ceil(FILE_BYTES / line.length))).subarray(0, FILE_BYTES);
    } else bytes = Buffer.from(randomBytes(FILE_BYTES).toString('base64')).subarray(0, FILE_BYTES);
    zip.addBuffer(bytes, `assets/chunk-${i}-${tag}.js`);
  }
  zip.end();
  return { file, ...(await writeHashed(zip.outputStream, file)) };
}

// ---------------------------------------------------------------------------------------------
// The CLI.

async function newestMtime(dir: string): Promise<number> {
  let newest = 0;
  for (const entry of await fs.readdir(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile() || entry.name.endsWith('.spec.ts')) continue;
    newest = Math.max(newest, (await fs.stat(path.join(entry.parentPath, entry.name))).mtimeMs);
  }
  return newest;
}

/** Builds dist/ (tsc only: the CLI needs no dashboard) unless it is newer than every source file. */
async function ensureBuiltCli(): Promise<void> {
  const built = (await fs.stat(CLI_MAIN).catch(() => null))?.mtimeMs ?? 0;
  if (built > (await newestMtime(path.join(ROOT, 'src')))) return;
  console.log('building the CLI (tsc -p tsconfig.build.json), dist/ is older than src/ ...');
  execFileSync(
    process.execPath,
    [path.join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'],
    { cwd: ROOT, stdio: 'inherit' },
  );
}

interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
  seconds: number;
}

async function runCli(args: string[], env: NodeJS.ProcessEnv): Promise<CliRun> {
  const run = await runToExit([CLI_MAIN, ...args], { env, timeoutMs: CLI_TIMEOUT_MS });
  return { code: run.code, stdout: run.stdout, stderr: run.stderr, seconds: run.ms / 1000 };
}

/** The CLI's start-up and module loading alone: `bundle upload --help`, median of 3. */
async function cliStartup(): Promise<number> {
  const runs: number[] = [];
  for (let n = 0; n < 3; n++) {
    const run = await runCli(['bundle', 'upload', '--help'], process.env);
    if (run.code !== 0) throw new Error(`overair bundle upload --help: exit ${run.code}\n${run.stderr}`);
    runs.push(run.seconds);
  }
  return median(runs);
}

// ---------------------------------------------------------------------------------------------
// Plain PUTs.

/** An HTTP PUT of the zip file, streamed, answered 201. */
async function httpPut(url: string, zip: Zip): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const request = http.request(
      url,
      { method: 'PUT', headers: { 'content-length': String(zip.size) } },
      (response) => {
        response.resume();
        response.once('end', () =>
          response.statusCode === 201 ? resolve() : reject(new Error(`PUT: HTTP ${response.statusCode}`)),
        );
      },
    );
    request.once('error', reject);
    createReadStream(zip.file).once('error', reject).pipe(request);
  });
}

// ---------------------------------------------------------------------------------------------
// Windows.

interface Window {
  label: string;
  kind: 'idle' | 'put' | 'upload' | 'http' | 'files' | 'delete';
  /** monotonicMicros() */
  start: number;
  end: number;
  /** Missing when the server did not answer within 10 s (starved by other work on its core). */
  metrics?: ServerMetrics;
}

interface Stats {
  count: number;
  wrong: number;
  p50: number;
  p99: number;
  max: number;
}

function statsOf(samples: TimedSamples, windows: Window[]): Stats {
  const latencies: number[] = [];
  let wrong = 0;
  for (const { start, end } of windows) {
    for (let i = lowerBound(samples.at, start); i < samples.at.length && samples.at[i]! <= end; i++) {
      latencies.push(samples.latency[i]!);
      if (samples.ok[i] !== 1) wrong++;
    }
  }
  latencies.sort((a, b) => a - b);
  const at = (q: number) =>
    latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? NaN;
  return { count: latencies.length, wrong, p50: at(0.5), p99: at(0.99), max: latencies.at(-1) ?? NaN };
}

function lowerBound(sorted: Float64Array, value: number): number {
  let [low, high] = [0, sorted.length];
  while (low < high) {
    const mid = (low + high) >>> 1;
    if (sorted[mid]! < value) low = mid + 1;
    else high = mid;
  }
  return low;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? NaN;
}

const pause = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

// ---------------------------------------------------------------------------------------------
// One store.

interface Store {
  name: string;
  env: Record<string, string>;
  /** A plain PUT of `zip` to the store, as the n-th. */
  put(zip: Zip, n: number): Promise<void>;
}

async function s3Store(rgw: Radosgw): Promise<Store> {
  const bucket = await createBucket(rgw);
  const client = s3Client(rgw);
  atCleanup(async () => client.destroy());
  const put = async (body: Buffer | ReturnType<typeof createReadStream>, key: string, length: number) => {
    await client.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: key,
        Body: body,
        ContentLength: length,
        ContentType: 'application/zip',
      }),
    );
  };
  // The first request signs in and connects: not part of any PUT's time (Overair's client is warm too).
  await put(Buffer.from('warm-up'), 'plain-put/warm-up', 7);
  return {
    name: 's3',
    env: {
      OVERAIR_STORAGE: 's3',
      OVERAIR_S3_BUCKET: bucket,
      OVERAIR_S3_ENDPOINT: rgw.endpoint,
      OVERAIR_S3_REGION: rgw.region,
      OVERAIR_S3_ACCESS_KEY: rgw.accessKey,
      OVERAIR_S3_SECRET_KEY: rgw.secretKey,
    },
    put: (zip, n) => put(createReadStream(zip.file), `plain-put/${n}.zip`, zip.size),
  };
}

async function fsStore(work: string): Promise<Store> {
  const dir = path.join(work, 'plain-put');
  await fs.mkdir(dir);
  const server = await startChild('put-server.ts', { ...process.env, PUT_DIR: dir }, { stdout: 'ignore' });
  pinServer(server.child.pid);
  atCleanup(() => stopChild(server.child));
  await httpPut(`${server.url}/warm-up`, await writeZipLike(path.join(work, 'warm-up'), 'warm-up'));
  return { name: 'fs', env: {}, put: (zip, n) => httpPut(`${server.url}/${n}.zip`, zip) };
}

async function writeZipLike(file: string, text: string): Promise<Zip> {
  await fs.writeFile(file, text);
  return { file, size: Buffer.byteLength(text), sha256: '' };
}

interface Outcome {
  store: string;
  windows: Window[];
  samples: TimedSamples;
  problems: string[];
}

async function scenario(store: Store, work: string, zips: Zip[]): Promise<Outcome> {
  const dataDir = path.join(work, 'data');
  // Its log is read (a pipe nobody reads fills up and blocks the server's writes), warnings kept.
  const warnings: string[] = [];
  const server = await startOverair(dataDir, 'warn', {
    env: store.env,
    nodeArgs: SERVER_NODE_ARGS,
    label: `Overair on ${store.name}`,
    onLine: (line) => {
      if (line.trim()) warnings.push(line);
    },
  });
  pinServer(server.child.pid);
  try {
    return await measureServer(store, work, zips, server);
  } finally {
    // Also when the scenario failed: what the server said may be why.
    for (const line of warnings.slice(0, 5)) console.error(`${store.name} server: ${line.slice(0, 300)}`);
    if (warnings.length > 0) console.error(`${store.name}: ${warnings.length} lines in the server's log`);
  }
}

/** Idle, then each plain PUT and upload in turns, then each deletion, under wrk's checks. */
async function measureServer(store: Store, work: string, zips: Zip[], server: Started): Promise<Outcome> {
  const { url } = server;
  // Made first: the requests then follow each other, with no pause on a kept-alive connection for
  // the server to close it under the next one.
  const live = await fs.readFile((await makeBundle(path.join(work, 'live.zip'), 20, 'live')).file);
  await admin(url, 'POST', '/apps', { id: APP_ID });
  const seeded = await uploadZip(url, APP_ID, { version: LIVE_VERSION }, live);
  if (seeded.status !== 201) throw new Error(`live upload: HTTP ${seeded.status} ${await seeded.text()}`);
  await admin(url, 'PUT', `/apps/${APP_ID}/channels/production/bundle`, { version: LIVE_VERSION });

  const bodies = Array.from({ length: DEVICES }, (_, i) =>
    JSON.stringify(
      deviceInfo(APP_ID, {
        device_id: `bench-publish-${String(i).padStart(4, '0')}-${'0'.repeat(8)}`,
        version_name: '0.9.0',
      }),
    ),
  );
  const expect = `"version":"${LIVE_VERSION}"`;
  const sample = await call(url, 'POST', '/updates', JSON.parse(bodies[0]!));
  if (sample.status !== 200 || !sample.text.includes(expect)) {
    throw new Error(`a check answered HTTP ${sample.status} ${sample.text.slice(0, 200)}, not ${expect}`);
  }

  const cliEnv: NodeJS.ProcessEnv = {
    ...process.env,
    OVERAIR_SERVER: url,
    OVERAIR_TOKEN: ADMIN_TOKEN,
    OVERAIR_CONFIG: path.join(work, 'no-saved-login.json'),
  };
  const problems: string[] = [];
  const windows: Window[] = [];
  const measure = async (label: string, kind: Window['kind'], work: () => Promise<void>, settle = true) => {
    // A server that other processes on its core keep from running for 10 s gives no figures for
    // the window, rather than ending the run.
    const reset = await resetMetrics(server.child).then(
      () => true,
      () => false,
    );
    const start = monotonicMicros();
    await work();
    const end = monotonicMicros();
    const metrics = reset ? await readMetrics(server.child).catch(() => undefined) : undefined;
    windows.push({ label, kind, start, end, metrics });
    if (settle) await pause(SETTLE_MS);
  };

  const wrk = await startTimedWrk({
    url,
    path: '/updates',
    bodies,
    connections: CONNECTIONS,
    expect,
    thinkMs: THINK_MS,
  });
  let samples: TimedSamples;
  const uploaded: number[] = [];
  try {
    // Connections, JIT, the release cache, and every device's first sighting written.
    await pause(WARMUP_MS);
    await measure('idle', 'idle', () => pause(IDLE_SECONDS * 1000));
    for (const [n, zip] of zips.entries()) {
      await measure(`plain PUT ${n + 1}`, 'put', () => store.put(zip, n));
      const version = `2.0.${n}`;
      await measure(
        `upload ${n + 1}`,
        'upload',
        async () => {
          const run = await runCli(
            ['bundle', 'upload', '--app', APP_ID, '--zip', zip.file, '--bundle', version, '--json'],
            cliEnv,
          );
          const answer = run.code === 0 ? (JSON.parse(run.stdout) as { sha256?: string }) : undefined;
          if (answer?.sha256 === zip.sha256) uploaded.push(n);
          else {
            const problem = `upload ${n + 1}: exit ${run.code} ${(run.stderr || run.stdout).slice(0, 300)}`;
            console.error(`${store.name}: ${problem}`);
            problems.push(problem);
          }
        },
        false,
      );
      // From the upload's answer until its files for delta updates are ready (prepared after it).
      const filesOf = async (version: string) => {
        const problem = await filesReady(url, APP_ID, version);
        if (problem) {
          console.error(`${store.name}: files of ${version}: ${problem}`);
          problems.push(`files of ${version}: ${problem}`);
        }
      };
      await measure(`files ready ${n + 1}`, 'files', () => filesOf(version));
      // The same zip again under another version, sent as the CLI sends it but from this process: the
      // server's own part of an upload, without a CLI's start-up, hashing and exit.
      const bytes = await fs.readFile(zip.file);
      const direct = `2.1.${n}`;
      await measure(
        `upload over HTTP ${n + 1}`,
        'http',
        async () => {
          const answer = await uploadZip(url, APP_ID, { version: direct, sha256: zip.sha256 }, bytes);
          if (answer.status === 201) uploaded.push(n + 1000);
          else
            problems.push(
              `upload of ${direct} over HTTP: HTTP ${answer.status} ${(await answer.text()).slice(0, 300)}`,
            );
        },
        false,
      );
      await measure(`files ready ${n + 1} (HTTP)`, 'files', () => filesOf(direct));
    }
    for (const n of uploaded) {
      const version = n >= 1000 ? `2.1.${n - 1000}` : `2.0.${n}`;
      await measure(
        `delete ${version}`,
        'delete',
        async () => void (await admin(url, 'DELETE', `/apps/${APP_ID}/bundles/${version}`)),
      );
    }
  } finally {
    samples = await wrk.stop();
  }
  await stopChild(server.child);
  return { store: store.name, windows, samples, problems };
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<number> {
  ensureWrk();
  await ensureBuiltCli();
  const cpus = os.cpus();
  console.log(
    `overair publish bench: node ${process.version}, ${cpus.length} cores (${cpus[0]?.model.trim() ?? '?'})`,
  );
  console.log(describePinning());
  console.log(describeServerSetup());

  const work = await makeTempDir('overair-bench-publish-');
  const zips: Zip[] = [];
  for (let n = 0; n < UPLOADS; n++) {
    zips.push(await makeBundle(path.join(work, `bundle-${n}.zip`), FILES, `u${n}`));
  }
  const mib = (bytes: number) => (bytes / 1024 / 1024).toFixed(1);
  const startup = await cliStartup();
  console.log(
    `${UPLOADS} bundle(s) of ${FILES} files, ${mib(FILES * FILE_BYTES)} MiB unpacked, ` +
      `${zips.map((zip) => mib(zip.size)).join(', ')} MiB zipped; stores: ${STORES.join(', ')}`,
  );
  console.log(
    `checks: wrk, ${CONNECTIONS} connections (one per thread), ${THINK_MS} ms pause after each answer; ` +
      `uploads: node dist/cli/main.js bundle upload (start-up alone: ${startup.toFixed(2)} s)`,
  );

  const outcomes: Outcome[] = [];
  for (const name of STORES) {
    const storeWork = await makeTempDir(`overair-bench-publish-${name}-`);
    let store: Store;
    if (name === 's3') {
      const rgw = await startRadosgw();
      atCleanup(() => rgw.stop());
      store = await s3Store(rgw);
    } else store = await fsStore(storeWork);
    outcomes.push(await scenario(store, storeWork, zips));
  }

  const rows: string[][] = [
    [
      'window',
      'time s',
      'checks',
      'checks/s',
      'p50 ms',
      'p99 ms',
      'max ms',
      'p99/idle',
      'loop p99',
      'loop max',
      'CPU',
    ],
  ];
  const goals: string[] = [];
  const goal = (what: string, value: number, target: number, note = '') =>
    goals.push(
      `  ${what}: ${value.toFixed(2)} (goal <= ${target}) ${value <= target ? 'met' : 'NOT MET'}${note}`,
    );
  let failures = 0;
  for (const outcome of outcomes) {
    const idle = statsOf(
      outcome.samples,
      outcome.windows.filter((w) => w.kind === 'idle'),
    );
    for (const window of outcome.windows) {
      const stats = statsOf(outcome.samples, [window]);
      const seconds = (window.end - window.start) / 1e6;
      rows.push([
        `${outcome.store}: ${window.label}`,
        seconds.toFixed(2),
        String(stats.count),
        (stats.count / seconds).toFixed(0),
        stats.p50.toFixed(2),
        stats.p99.toFixed(2),
        stats.max.toFixed(1),
        `${(stats.p99 / idle.p99).toFixed(2)}x`,
        window.metrics?.loopDelayP99.toFixed(1) ?? 'n/a',
        window.metrics?.loopDelayMax.toFixed(1) ?? 'n/a',
        window.metrics ? `${((window.metrics.cpuMs / 1000 / seconds) * 100).toFixed(0)}%` : 'n/a',
      ]);
    }
    const all = statsOf(outcome.samples, outcome.windows);
    if (all.wrong > 0) outcome.problems.push(`${all.wrong} update check(s) answered wrong`);
    const failed = Object.entries(outcome.samples.errors).filter(([, count]) => count > 0);
    if (failed.length > 0) {
      outcome.problems.push(
        `update checks failed: ${failed.map(([what, count]) => `${count} ${what} errors`).join(', ')}`,
      );
    }
    const seconds = (kind: Window['kind']) =>
      median(outcome.windows.filter((w) => w.kind === kind).map((w) => (w.end - w.start) / 1e6));
    const [upload, put, files, http] = [seconds('upload'), seconds('put'), seconds('files'), seconds('http')];
    goal(
      `${outcome.store}: upload / plain PUT (medians, ${upload.toFixed(2)} s / ${put.toFixed(2)} s)`,
      upload / put,
      3,
      `; without the CLI's start-up: ${((upload - startup) / put).toFixed(2)}; ` +
        `until the delta files are ready, ${(upload + files).toFixed(2)} s: ${((upload + files) / put).toFixed(2)}`,
    );
    goal(
      `${outcome.store}: the server's part, the upload over HTTP without the CLI / plain PUT (medians, ${http.toFixed(2)} s / ${put.toFixed(2)} s)`,
      http / put,
      3,
    );
    const during = statsOf(
      outcome.samples,
      outcome.windows.filter((w) => w.kind === 'upload' || w.kind === 'http' || w.kind === 'files'),
    );
    goal(
      `${outcome.store}: check p99 during the uploads and their files' preparation / idle (${during.p99.toFixed(2)} ms / ${idle.p99.toFixed(2)} ms)`,
      during.p99 / idle.p99,
      2,
    );
    for (const problem of outcome.problems) console.error(`FAILED ${outcome.store}: ${problem}`);
    failures += outcome.problems.length;
  }
  printTable(rows);
  console.log(
    "\nloop p99/max: the server's event-loop delay (ms); CPU: the server process's CPU time over the window (100% = one core)",
  );
  console.log('\ngoals (informational):');
  for (const line of goals) console.log(line);
  return failures > 0 ? 1 : 0;
}

await runBench('bench/publish.ts', 'the publish bench', main);
