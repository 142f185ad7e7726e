/**
 * `npm run bench` (after bench/device-limits.ts): publishing does not disturb update checks.
 *
 * Starts a real Overair server on local disk and SQLite (bench/server-under-test.ts, a child process),
 * puts a small release live, and keeps BENCH_PUBLISH_CLIENTS (default 8) clients sending POST /updates
 * back to back (closed loop, in this process) for the whole run. Measures the update checks' latency
 * while idle (BENCH_PUBLISH_IDLE_SECONDS, default 3) and then during each of BENCH_PUBLISH_UPLOADS
 * (default 2) uploads of a plain bundle of BENCH_PUBLISH_FILES files (default 1000, 10 KiB each, ~10 MiB
 * in all; a third compress well, a tenth not at all, each upload's bytes new so every file is stored),
 * deflated as bundlers zip them. Prints each upload's time and the checks' p50/p99/max during it,
 * next to idle, and the ratios in the same run (the machine's other work skews the figures; compare
 * the ratios).
 *
 * Exits non-zero only when an upload or an update check fails.
 */
import { randomBytes } from 'node:crypto';
import yazl from 'yazl';
import {
  admin,
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
  constructor(readonly label: string) {}
  stats() {
    const sorted = [...this.latencies].sort((a, b) => a - b);
    const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
    return { count: sorted.length, p50: at(0.5), p99: at(0.99), max: sorted.at(-1) ?? NaN };
  }
}

async function main(): Promise<number> {
  const dataDir = await makeTempDir('overair-bench-publish-');
  const { url } = await startOverair(dataDir, 'warn');
  await admin(url, 'POST', '/apps', { id: APP_ID });
  const live = await uploadZip(url, APP_ID, { version: '1.0.0' }, await makeBundle(20, 'live'));
  if (live.status !== 201) throw new Error(`live upload: HTTP ${live.status} ${await live.text()}`);
  await admin(url, 'PUT', `/apps/${APP_ID}/channels/production/bundle`, { version: '1.0.0' });

  const bundles: Uint8Array<ArrayBuffer>[] = [];
  for (let n = 0; n < UPLOADS; n++) bundles.push(await makeBundle(FILES, `u${n}`));
  const mib = (bytes: number) => (bytes / 1024 / 1024).toFixed(1);
  console.log(
    `${UPLOADS} bundle(s) of ${FILES} files, ${mib(FILES * FILE_BYTES)} MiB unpacked, ` +
      `${bundles.map((b) => mib(b.length)).join(', ')} MiB zipped; ` +
      `${CLIENTS} update-check clients`,
  );

  let window = new Window('idle');
  let running = true;
  let failures = 0;
  const body = deviceInfo(APP_ID, { version_name: '0.9.0' });
  const clients = Array.from({ length: CLIENTS }, async () => {
    while (running) {
      const started = performance.now();
      const answer = await call(url, 'POST', '/updates', body);
      const current = window;
      current.latencies.push(performance.now() - started);
      if (answer.status !== 200 || (answer.json as { version?: string })?.version !== '1.0.0') failures++;
    }
  });

  // Warm-up (connections, JIT, the release cache), then idle.
  await new Promise((resolve) => setTimeout(resolve, 1000));
  window = new Window('idle');
  const idle = window;
  await new Promise((resolve) => setTimeout(resolve, IDLE_SECONDS * 1000));
  const rows: string[][] = [['window', 'time (s)', 'checks', 'p50 ms', 'p99 ms', 'max ms', 'p99 / idle']];
  const results: { label: string; seconds: number; window: Window }[] = [
    { label: 'idle', seconds: IDLE_SECONDS, window: idle },
  ];
  for (const [n, bundle] of bundles.entries()) {
    window = new Window(`upload ${n + 1}`);
    const started = performance.now();
    const response = await uploadZip(url, APP_ID, { version: `2.0.${n}` }, bundle);
    const seconds = (performance.now() - started) / 1000;
    if (response.status !== 201) throw new Error(`upload: HTTP ${response.status} ${await response.text()}`);
    results.push({ label: `during upload ${n + 1}`, seconds, window });
    window = new Window('after');
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  running = false;
  await Promise.all(clients);

  const idleP99 = idle.stats().p99;
  for (const { label, seconds, window } of results) {
    const { count, p50, p99, max } = window.stats();
    rows.push([
      label,
      seconds.toFixed(2),
      String(count),
      p50.toFixed(1),
      p99.toFixed(1),
      max.toFixed(1),
      `${(p99 / idleP99).toFixed(2)}x`,
    ]);
  }
  printTable(rows);
  if (failures > 0) {
    console.error(`${failures} update check(s) failed`);
    return 1;
  }
  return 0;
}

await runBench('bench/publish.ts', 'the publish bench', main);
