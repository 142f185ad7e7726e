/**
 * `npm run bench` (after bench/check.ts): bundle uploads stream, so memory does not grow with the
 * bundle's size, in the CLI and in the server alike.
 *
 * Makes two stored (uncompressed) bundle zips of random bytes, a small one (~1 MiB) and a large one
 * (BENCH_UPLOAD_MIB, default 200 MiB), streamed to disk by yazl. Starts a real Overair server in a child
 * process (bench/server-under-test.ts), and uploads each zip with the real CLI in its own process:
 * `node --import tsx src/cli/main.ts bundle upload --zip FILE ... --json`. Measures
 *   - the CLI's peak RSS: VmHWM of the CLI process, written at exit by the preload bench/cli-peak-rss.ts;
 *   - the server's RSS growth: its peak RSS during the upload minus its RSS just before. The peak is the
 *     larger of VmRSS polled every 20 ms and VmHWM after resetting it (echo 5 > /proc/PID/clear_refs);
 *   - upload throughput: bytes over the time the server spent on the request (its "request" log line,
 *     from the request's arrival until the stored answer), and the CLI's wall time (startup and
 *     hashing the zip included).
 * Flat memory shows as large/small ratios near 1.0x while the size ratio is ~200x.
 *
 * Exits non-zero only when an upload fails or the server's sha256 or size differ from the file's.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pathToFileURL } from 'node:url';
import yazl from 'yazl';
import { writeHashed } from '../src/crypto/hash.js';
import {
  ADMIN_TOKEN,
  ROOT,
  adminCall,
  makeTempDir,
  printTable,
  runBench,
  startOverair,
  runToExit,
} from './harness.js';

const CLI_MAIN = path.join(ROOT, 'src/cli/main.ts');
const PRELOAD = pathToFileURL(path.join(ROOT, 'bench/cli-peak-rss.ts')).href;
const APP_ID = 'com.example.upload-bench';
const MIB = 1024 * 1024;
const LARGE_MIB = Number(process.env.BENCH_UPLOAD_MIB ?? 200);
if (!Number.isFinite(LARGE_MIB) || LARGE_MIB <= 1) throw new Error('BENCH_UPLOAD_MIB must be a number > 1');
const POLL_MS = 20;
const CLI_TIMEOUT_MS = 60_000;

// ---------------------------------------------------------------------------------------------
// Bundle zips.

/** `bytes` random bytes, made 1 MiB at a time as the consumer asks for them. */
function randomStream(bytes: number): Readable {
  let left = bytes;
  return new Readable({
    read() {
      const n = Math.min(MIB, left);
      left -= n;
      this.push(n > 0 ? randomBytes(n) : null);
    },
  });
}

interface Zip {
  file: string;
  size: number;
  sha256: string;
}

/** A stored (uncompressed) bundle zip: index.html, a script calling notifyAppReady(), random payload. */
async function makeZip(file: string, payloadBytes: number): Promise<Zip> {
  const zip = new yazl.ZipFile();
  const stored = { compress: false };
  zip.addBuffer(
    Buffer.from('<!doctype html><script type="module" src="assets/main.js"></script>\n'),
    'index.html',
    stored,
  );
  zip.addBuffer(
    Buffer.from(
      "import { CapacitorUpdater } from '@capgo/capacitor-updater';\nCapacitorUpdater.notifyAppReady();\n",
    ),
    'assets/main.js',
    stored,
  );
  zip.addReadStream(randomStream(payloadBytes), 'assets/payload.bin', stored);
  zip.end();
  return { file, ...(await writeHashed(zip.outputStream, file)) };
}

// ---------------------------------------------------------------------------------------------
// Memory of a process, from /proc.

function statusKb(pid: number, field: 'VmRSS' | 'VmHWM'): number | undefined {
  try {
    const match = new RegExp(`^${field}:\\s+(\\d+)\\s+kB$`, 'm').exec(
      readFileSync(`/proc/${pid}/status`, 'utf8'),
    );
    return match ? Number(match[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** Resets the process's VmHWM to its current RSS; false when the kernel or permissions do not allow it. */
function resetPeak(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

/** Samples a process's RSS from now until stop(): its RSS before and the peak seen meanwhile, in KiB. */
function watchRss(pid: number) {
  const hwmReset = resetPeak(pid);
  const beforeKb = statusKb(pid, 'VmRSS') ?? NaN;
  let peakKb = beforeKb;
  const sample = () => {
    const rss = statusKb(pid, 'VmRSS');
    if (rss !== undefined && rss > peakKb) peakKb = rss;
  };
  const timer = setInterval(sample, POLL_MS);
  return {
    hwmReset,
    stop() {
      clearInterval(timer);
      sample();
      const hwm = hwmReset ? statusKb(pid, 'VmHWM') : undefined;
      if (hwm !== undefined && hwm > peakKb) peakKb = hwm;
      return { beforeKb, peakKb };
    },
  };
}

// ---------------------------------------------------------------------------------------------
// The CLI.

interface CliRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  wallMs: number;
  peakRssKb: number | undefined;
}

async function runCli(zip: Zip, version: string, env: NodeJS.ProcessEnv, rssFile: string): Promise<CliRun> {
  await fs.rm(rssFile, { force: true });
  const args = ['bundle', 'upload', '--app', APP_ID, '--zip', zip.file, '--bundle', version, '--json'];
  const {
    code,
    signal,
    stdout,
    stderr,
    ms: wallMs,
  } = await runToExit(['--import', 'tsx', '--import', PRELOAD, CLI_MAIN, ...args], {
    env: { ...env, BENCH_PEAK_RSS_FILE: rssFile },
    timeoutMs: CLI_TIMEOUT_MS,
  });
  let peakRssKb: number | undefined;
  try {
    const report = JSON.parse(await fs.readFile(rssFile, 'utf8')) as { vmHwmKb: number | null };
    peakRssKb = report.vmHwmKb ?? undefined;
  } catch {
    peakRssKb = undefined;
  }
  return { code, signal, stdout, stderr, wallMs, peakRssKb };
}

// ---------------------------------------------------------------------------------------------

interface Row {
  name: string;
  zip: Zip;
  cli: CliRun;
  serverBeforeKb: number;
  serverGrowthKb: number;
  serverMs: number | undefined;
  /** Whether the server's VmHWM could be reset, so the peak is exact rather than polled. */
  hwmReset: boolean;
  problems: string[];
}

const mib = (bytes: number) => bytes / MIB;
const fixed = (value: number | undefined, digits = 1) =>
  value === undefined || !Number.isFinite(value) ? 'n/a' : value.toFixed(digits);

async function main(): Promise<number> {
  console.log(
    `\noverair upload bench: node ${process.version}, ${os.cpus().length} cores; stored zips of random bytes, ` +
      `uploaded by the CLI (one process each) to a server in its own process`,
  );
  const work = await makeTempDir('overair-upload-bench-');
  const dataDir = path.join(work, 'data');
  const rssFile = path.join(work, 'cli-rss.json');

  let started = performance.now();
  const small = await makeZip(path.join(work, 'small.zip'), MIB);
  const large = await makeZip(path.join(work, 'large.zip'), LARGE_MIB * MIB);
  console.log(
    `zips: ${fixed(mib(small.size), 2)} MiB and ${fixed(mib(large.size))} MiB, ` +
      `made in ${fixed((performance.now() - started) / 1000)} s`,
  );

  // The server's "request" log lines give the time it spent on each upload.
  const uploadLog: { status: number; ms: number }[] = [];
  const otherWarnings: string[] = [];
  const server = await startOverair(dataDir, 'info', {
    env: { OVERAIR_MAX_UPLOAD_SIZE: '1gb' },
    label: 'the server',
    onLine: (line) => {
      try {
        const entry = JSON.parse(line) as {
          level?: number;
          msg?: string;
          path?: string;
          status?: number;
          ms?: number;
        };
        if (entry.msg === 'request' && entry.path?.endsWith('/bundles/upload')) {
          uploadLog.push({ status: entry.status ?? 0, ms: entry.ms ?? NaN });
        } else if ((entry.level ?? 0) >= 40) {
          otherWarnings.push(line);
        }
      } catch {
        if (line.trim()) otherWarnings.push(line);
      }
    },
  });
  const serverPid = server.child.pid!;

  const created = await adminCall(server.url, 'POST', '/apps', { id: APP_ID });
  if (created.status !== 201 && created.status !== 200) {
    throw new Error(`creating the app: HTTP ${created.status} ${created.text}`);
  }
  console.log(`server ${server.url} (pid ${serverPid}), app ${APP_ID}`);

  const cliEnv: NodeJS.ProcessEnv = {
    ...process.env,
    OVERAIR_SERVER: server.url,
    OVERAIR_TOKEN: ADMIN_TOKEN,
    OVERAIR_CONFIG: path.join(work, 'no-saved-login.json'),
  };

  async function upload(name: string, zip: Zip, version: string): Promise<Row> {
    const logged = uploadLog.length;
    const watch = watchRss(serverPid);
    const cli = await runCli(zip, version, cliEnv, rssFile);
    // The log line is written as the answer goes out; give the pipe a moment to deliver it.
    for (let waited = 0; uploadLog.length === logged && waited < 2000; waited += POLL_MS) {
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
    const { beforeKb, peakKb } = watch.stop();
    const problems: string[] = [];
    let answer: { sha256?: string; size?: number } | undefined;
    try {
      answer = JSON.parse(cli.stdout) as typeof answer;
    } catch {
      answer = undefined;
    }
    if (cli.code !== 0) {
      problems.push(
        `CLI exited with ${cli.code ?? cli.signal}: ${(cli.stderr.trim() || cli.stdout.trim()).slice(0, 400)}`,
      );
    } else if (!answer) {
      problems.push(`CLI printed something other than JSON: ${cli.stdout.slice(0, 200)}`);
    } else {
      if (answer.sha256 !== zip.sha256) {
        problems.push(`server sha256 ${answer.sha256} differs from the file's ${zip.sha256}`);
      }
      if (answer.size !== zip.size)
        problems.push(`server size ${answer.size} differs from the file's ${zip.size}`);
    }
    const entry = uploadLog.length > logged ? uploadLog[uploadLog.length - 1] : undefined;
    return {
      name,
      zip,
      cli,
      serverBeforeKb: beforeKb,
      serverGrowthKb: peakKb - beforeKb,
      serverMs: entry?.ms,
      hwmReset: watch.hwmReset,
      problems,
    };
  }

  // Warm-up: the server's first upload loads and compiles code paths (yauzl, the bundle insert) once.
  const warmup = await upload('warm-up', small, '0.0.1');
  if (warmup.problems.length > 0) {
    console.error(`FAILED warm-up upload:\n  ${warmup.problems.join('\n  ')}`);
    return 1;
  }
  await new Promise((resolve) => setTimeout(resolve, 300));

  const rows: Row[] = [];
  started = performance.now();
  rows.push(await upload('small', small, '1.0.0'));
  await new Promise((resolve) => setTimeout(resolve, 300));
  rows.push(await upload('large', large, '2.0.0'));
  const measuredS = (performance.now() - started) / 1000;

  const peakServerKb = (r: Row) => r.serverBeforeKb + r.serverGrowthKb;
  printTable([
    [
      'bundle',
      'size MiB',
      'CLI peak RSS MiB',
      'server peak RSS MiB',
      'server growth MiB',
      'server s',
      'upload MiB/s',
      'CLI wall s',
      'check',
    ],
    ...rows.map((r) => [
      r.name,
      fixed(mib(r.zip.size), 2),
      fixed(r.cli.peakRssKb === undefined ? undefined : r.cli.peakRssKb / 1024),
      fixed(peakServerKb(r) / 1024),
      fixed(r.serverGrowthKb / 1024),
      fixed(r.serverMs === undefined ? undefined : r.serverMs / 1000, 2),
      fixed(r.serverMs === undefined ? undefined : mib(r.zip.size) / (r.serverMs / 1000)),
      fixed(r.cli.wallMs / 1000, 2),
      r.problems.length === 0 ? 'ok' : 'FAILED',
    ]),
  ]);

  const [s, l] = rows as [Row, Row];
  const ratio = (a: number | undefined, b: number | undefined) =>
    a === undefined || b === undefined || !(b > 0) ? 'n/a' : `${(a / b).toFixed(2)}x`;
  console.log(
    `\nlarge/small: size ${ratio(l.zip.size, s.zip.size)}; CLI peak RSS ${ratio(l.cli.peakRssKb, s.cli.peakRssKb)}; ` +
      `server peak RSS ${ratio(peakServerKb(l), peakServerKb(s))}, ` +
      `server growth ${ratio(l.serverGrowthKb, s.serverGrowthKb)} (a ratio of small numbers: see the MiB)`,
  );
  // Informational: memory "grows with the bundle" when the large upload's extra peak is over a quarter
  // of the extra bytes it carried.
  const extraMib = mib(l.zip.size - s.zip.size);
  const verdict = (what: string, largeKb: number | undefined, smallKb: number | undefined) => {
    if (largeKb === undefined || smallKb === undefined) return `${what}: n/a`;
    const extra = (largeKb - smallKb) / 1024;
    return `${what} +${fixed(extra)} MiB for +${fixed(extraMib)} MiB of bundle: ${extra > extraMib / 4 ? 'GROWS with the bundle (not streaming)' : 'flat (streams)'}`;
  };
  console.log(verdict('CLI', l.cli.peakRssKb, s.cli.peakRssKb));
  console.log(verdict('server', peakServerKb(l), peakServerKb(s)));
  console.log(
    `(server peak: VmRSS polled every ${POLL_MS} ms` +
      (rows.every((r) => r.hwmReset) ? ' and VmHWM reset by clear_refs before each upload' : '') +
      `; CLI peak: VmHWM at exit, node + tsx included; upload MiB/s over the server's request time; ` +
      `CLI wall time includes startup and hashing; measured uploads took ${fixed(measuredS)} s)`,
  );
  if (otherWarnings.length > 0) {
    console.log(`server log: ${otherWarnings.length} warning/error lines`);
    for (const line of otherWarnings.slice(0, 3)) console.log(`  ${line.slice(0, 300)}`);
  }

  const failed = rows.filter((r) => r.problems.length > 0);
  for (const r of failed) console.error(`\nFAILED ${r.name} upload:\n  ${r.problems.join('\n  ')}`);
  return failed.length > 0 ? 1 : 0;
}

await runBench('upload bench', 'the server and the CLI', main);
