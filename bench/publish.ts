/**
 * `npm run bench` (after bench/device-limits.ts): publishing does not disturb update checks.
 *
 * For each store of BENCH_PUBLISH_STORES (default "fs,s3"; S3 is a radosgw started here as the tests
 * start it, ~15 s), starts a real Overair server on SQLite (bench/server-under-test.ts, a child
 * process), puts a small release live, and keeps BENCH_PUBLISH_CLIENTS (default 8) clients sending
 * POST /updates back to back (closed loop, in this process) for the whole run. Measures the update
 * checks' latency while idle (BENCH_PUBLISH_IDLE_SECONDS, default 3), then during each of
 * BENCH_PUBLISH_UPLOADS (default 2) uploads of a plain bundle of BENCH_PUBLISH_FILES files (default
 * 1000, 10 KiB each, ~10 MiB in all; a third compress well, a tenth not at all; each upload's bytes
 * are new, so every file is stored), deflated as bundlers zip them, then during the deletion of each
 * (its blobs go with it). Prints each upload's and deletion's time and the checks' p50/p99/max
 * meanwhile, and p99 against idle in the same run: the machine's other work (and, on S3, radosgw on
 * the same cores) skews the figures, so compare ratios within a run.
 *
 * Exits non-zero only when an upload, a deletion or an update check fails.
 */
import { randomBytes } from 'node:crypto';
import yazl from 'yazl';
import { createBucket, startRadosgw } from '../test/helpers/radosgw.js';
import {
  admin,
  atCleanup,
  call,
  deviceInfo,
  makeTempDir,
  printTable,
  runBench,
  startOverair,
  uploadZip,
} from './harness.js';

const APP_ID = 'com.example.publish-bench';
const FILES = Number(process.env.BENCH_PUBLISH_FILES ?? 1000);
const CLIENTS = Number(process.env.BENCH_PUBLISH_CLIENTS ?? 8);
const IDLE_SECONDS = Number(process.env.BENCH_PUBLISH_IDLE_SECONDS ?? 3);
const UPLOADS = Number(process.env.BENCH_PUBLISH_UPLOADS ?? 2);
const STORES = (process.env.BENCH_PUBLISH_STORES ?? 'fs,s3').split(',').filter(Boolean);
if (STORES.some((store) => store !== 'fs' && store !== 's3')) {
  throw new Error('BENCH_PUBLISH_STORES must be a subset of "fs,s3"');
}
for (const [name, value] of Object.entries({ FILES, CLIENTS, IDLE_SECONDS, UPLOADS })) {
  if (!Number.isFinite(value) || value < 1) throw new Error(`BENCH_PUBLISH_${name} must be a number >= 1`);
}

const FILE_BYTES = 10 * 1024;

/**
 * A web build of `files` files of 10 KiB, all new bytes (seeded by `tag`), deflated: a tenth random
 * bytes (brotli does not pay), a third repetitive script (compresses well), the rest base64 text.
 */
async function makeBundle(files: number, tag: string): Promise<Uint8Array<ArrayBuffer>> {
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
  const chunks: Buffer[] = [];
  for await (const chunk of zip.outputStream) chunks.push(chunk as Buffer);
  const bytes = Buffer.concat(chunks);
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length) as Uint8Array<ArrayBuffer>;
}

/** Latencies (ms) of the checks that ended inside a window. */
class Window {
  readonly latencies: number[] = [];
  stats() {
    const sorted = [...this.latencies].sort((a, b) => a - b);
    const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
    return { count: sorted.length, p50: at(0.5), p99: at(0.99), max: sorted.at(-1) ?? NaN };
  }
}

interface Store {
  name: string;
  env: Record<string, string>;
}

/** Radosgw (test/helpers/radosgw.ts) and a fresh bucket; stopped at the end. */
async function s3Store(): Promise<Store> {
  const rgw = await startRadosgw();
  atCleanup(() => rgw.stop());
  const bucket = await createBucket(rgw);
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
  };
}

/** One store: idle checks, then each upload under checks, then each bundle's deletion under checks. */
async function scenario(
  store: Store,
  bundles: Uint8Array<ArrayBuffer>[],
): Promise<{ rows: string[][]; failures: number }> {
  const dataDir = await makeTempDir('overair-bench-publish-');
  const { url } = await startOverair(dataDir, 'warn', { env: store.env });
  await admin(url, 'POST', '/apps', { id: APP_ID });
  const live = await uploadZip(url, APP_ID, { version: '1.0.0' }, await makeBundle(20, 'live'));
  if (live.status !== 201) throw new Error(`live upload: HTTP ${live.status} ${await live.text()}`);
  await admin(url, 'PUT', `/apps/${APP_ID}/channels/production/bundle`, { version: '1.0.0' });

  let window = new Window();
  let running = true;
  let failures = 0;
  const body = deviceInfo(APP_ID, { version_name: '0.9.0' });
  const clients = Array.from({ length: CLIENTS }, async () => {
    while (running) {
      const started = performance.now();
      const answer = await call(url, 'POST', '/updates', body);
      window.latencies.push(performance.now() - started);
      if (answer.status !== 200 || (answer.json as { version?: string })?.version !== '1.0.0') failures++;
    }
  });
  const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

  // Warm-up (connections, JIT, the release cache), then idle.
  await pause(1000);
  const idle = (window = new Window());
  await pause(IDLE_SECONDS * 1000);
  const results: { label: string; seconds: number; window: Window }[] = [
    { label: 'idle', seconds: IDLE_SECONDS, window: idle },
  ];
  /** Runs `work` in a window of its own, then lets the server settle for 0.5 s. */
  const measure = async (label: string, work: () => Promise<void>) => {
    window = new Window();
    const started = performance.now();
    const measured = window;
    await work();
    results.push({ label, seconds: (performance.now() - started) / 1000, window: measured });
    window = new Window();
    await pause(500);
  };
  for (const [n, bundle] of bundles.entries()) {
    await measure(`upload ${n + 1}`, async () => {
      const response = await uploadZip(url, APP_ID, { version: `2.0.${n}` }, bundle);
      if (response.status !== 201)
        throw new Error(`upload: HTTP ${response.status} ${await response.text()}`);
    });
  }
  for (const n of bundles.keys()) {
    await measure(
      `delete ${n + 1}`,
      async () => void (await admin(url, 'DELETE', `/apps/${APP_ID}/bundles/2.0.${n}`)),
    );
  }
  running = false;
  await Promise.all(clients);

  const idleP99 = idle.stats().p99;
  const rows = results.map(({ label, seconds, window }) => {
    const { count, p50, p99, max } = window.stats();
    return [
      `${store.name}: ${label}`,
      seconds.toFixed(2),
      String(count),
      p50.toFixed(1),
      p99.toFixed(1),
      max.toFixed(1),
      `${(p99 / idleP99).toFixed(2)}x`,
    ];
  });
  return { rows, failures };
}

async function main(): Promise<number> {
  const bundles: Uint8Array<ArrayBuffer>[] = [];
  for (let n = 0; n < UPLOADS; n++) bundles.push(await makeBundle(FILES, `u${n}`));
  const mib = (bytes: number) => (bytes / 1024 / 1024).toFixed(1);
  console.log(
    `${UPLOADS} bundle(s) of ${FILES} files, ${mib(FILES * FILE_BYTES)} MiB unpacked, ` +
      `${bundles.map((b) => mib(b.length)).join(', ')} MiB zipped; ${CLIENTS} update-check clients; ` +
      `stores: ${STORES.join(', ')}`,
  );
  const rows: string[][] = [['window', 'time (s)', 'checks', 'p50 ms', 'p99 ms', 'max ms', 'p99 / idle']];
  let failures = 0;
  for (const name of STORES) {
    const store = name === 's3' ? await s3Store() : { name: 'fs', env: {} };
    const result = await scenario(store, bundles);
    rows.push(...result.rows);
    failures += result.failures;
  }
  printTable(rows);
  if (failures > 0) {
    console.error(`${failures} update check(s) failed`);
    return 1;
  }
  return 0;
}

await runBench('bench/publish.ts', 'the publish bench', main);
