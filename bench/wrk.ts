/**
 * Load from wrk (C, Debian's package), the load generator of the update-check benches: a Node load
 * generator on the same cores saturates before the server does (bench/check.ts with autocannon showed
 * the server 45% idle). With two cores or more, the server runs on CPU 0 and wrk on CPU 1 (taskset),
 * so neither steals the other's core; the pinning is printed with the figures.
 *
 * wrk sends POST bodies from a file, one per line, in turn (a Lua script), and reports throughput,
 * latency percentiles and errors as one JSON line from its `done` hook.
 */
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { makeTempDir, trackChild, untrackChild } from './harness.js';

/** The CPU the server under test is pinned to, and wrk's; null on a one-core machine. */
export const PINNING: { server: number; load: number } | null =
  os.cpus().length >= 2 ? { server: 0, load: 1 } : null;

/** A line saying where each runs, for the bench's header. */
export function describePinning(): string {
  return PINNING
    ? `server processes pinned to CPU ${PINNING.server}, wrk to CPU ${PINNING.load} (taskset)`
    : 'one core: server and wrk share it (no pinning)';
}

function has(command: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Installs wrk (and taskset) from Debian when missing: with sudo unless already root. */
export function ensureWrk(): void {
  const missing = [has('wrk') ? null : 'wrk', has('taskset') ? null : 'util-linux'].filter(
    (name): name is string => name !== null,
  );
  if (missing.length === 0) return;
  console.log(`installing ${missing.join(', ')} from Debian (apt-get)...`);
  const root = process.getuid?.() === 0;
  const run = (args: string[]) =>
    execFileSync(root ? args[0]! : 'sudo', root ? args.slice(1) : args, {
      stdio: 'inherit',
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    });
  run(['apt-get', 'update', '-qq']);
  run(['apt-get', 'install', '-y', '-qq', ...missing]);
}

/** Pins a running process, all its threads (libuv's pool and workers included), to the server CPU. */
export function pinServer(pid: number | undefined): void {
  if (!PINNING || pid === undefined) return;
  execFileSync('taskset', ['-a', '-p', '-c', String(PINNING.server), String(pid)], { stdio: 'ignore' });
}

export interface WrkResult {
  reqPerSec: number;
  requests: number;
  /** Latency in ms. */
  p50: number;
  p99: number;
  max: number;
  /** Connection, read, write and timeout errors, and answers with a status >= 400. */
  errors: { connect: number; read: number; write: number; timeout: number; status: number };
}

/** Sends the bodies in turn (each thread from its own offset), and prints the summary as JSON. */
const SCRIPT = `
local bodies = {}
for line in io.lines(os.getenv("WRK_BODIES")) do bodies[#bodies + 1] = line end
local counter = 0
local offset = 0
local threads = 0
function setup(thread)
  thread:set("offset", threads * 7919)
  threads = threads + 1
end
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
request = function()
  counter = counter + 1
  local body = bodies[((counter + offset) % #bodies) + 1]
  return wrk.format(nil, os.getenv("WRK_PATH"), nil, body)
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests":%d,"duration_us":%d,"p50":%d,"p99":%d,"max":%d,' ..
    '"connect":%d,"read":%d,"write":%d,"timeout":%d,"status":%d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), latency.max,
    e.connect, e.read, e.write, e.timeout, e.status))
end
`;

export interface WrkOptions {
  url: string;
  path: string;
  /** JSON bodies, one per request in turn; none may contain a newline. */
  bodies: string[];
  connections: number;
  durationSeconds: number;
  threads?: number;
}

/** One wrk run, pinned to the load CPU; its summary. */
export async function runWrk(options: WrkOptions): Promise<WrkResult> {
  const dir = await makeTempDir('overair-wrk-');
  const script = path.join(dir, 'bodies.lua');
  const bodies = path.join(dir, 'bodies.txt');
  if (options.bodies.some((body) => body.includes('\n'))) throw new Error('a wrk body holds a newline');
  await fs.writeFile(script, SCRIPT);
  await fs.writeFile(bodies, options.bodies.join('\n') + '\n');
  const args = [
    `-t${options.threads ?? 1}`,
    `-c${options.connections}`,
    `-d${options.durationSeconds}s`,
    '--timeout',
    '10s',
    '-s',
    script,
    options.url,
  ];
  const [command, commandArgs] = PINNING
    ? ['taskset', ['-c', String(PINNING.load), 'wrk', ...args]]
    : ['wrk', args];
  const child = trackChild(
    spawn(command, commandArgs, {
      env: { ...process.env, WRK_BODIES: bodies, WRK_PATH: options.path },
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  );
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  untrackChild(child);
  // The bodies may be large (bench/scale.ts sends 200 000 a run): not kept until the bench ends.
  await fs.rm(dir, { recursive: true, force: true });
  const line = output.split('\n').find((entry) => entry.startsWith('WRK_JSON '));
  if (code !== 0 || !line) throw new Error(`wrk failed (exit ${code}):\n${output}`);
  const raw = JSON.parse(line.slice('WRK_JSON '.length)) as Record<string, number>;
  const ms = (us: number) => us / 1000;
  return {
    reqPerSec: raw.requests! / (raw.duration_us! / 1e6),
    requests: raw.requests!,
    p50: ms(raw.p50!),
    p99: ms(raw.p99!),
    max: ms(raw.max!),
    errors: {
      connect: raw.connect!,
      read: raw.read!,
      write: raw.write!,
      timeout: raw.timeout!,
      status: raw.status!,
    },
  };
}

/** The median of runs by req/s (the figures are medians of 3). */
export function medianRun(runs: WrkResult[]): WrkResult {
  const sorted = [...runs].sort((a, b) => a.reqPerSec - b.reqPerSec);
  return sorted[Math.floor(sorted.length / 2)]!;
}
