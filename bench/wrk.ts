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

/** wrk with `args`, the script and the URL, pinned to the load CPU, tracked for the clean-up. */
function spawnWrk(args: string[], script: string, url: string, env: Record<string, string>) {
  const all = [...args, '--timeout', '10s', '-s', script, url];
  const [command, commandArgs] = PINNING
    ? ['taskset', ['-c', String(PINNING.load), 'wrk', ...all]]
    : ['wrk', all];
  return trackChild(
    spawn(command, commandArgs, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] }),
  );
}

/** What went wrong in a run: answers >= 400, connection errors, timeouts, nothing completed. */
export function wrkProblems({ errors, requests }: WrkResult): string[] {
  const { connect, read, write, timeout, status } = errors;
  const problems: string[] = [];
  if (status > 0) problems.push(`${status} answers with HTTP status >= 400`);
  if (connect + read + write > 0) problems.push(`${connect + read + write} connection errors`);
  if (timeout > 0) problems.push(`${timeout} timeouts`);
  if (requests === 0) problems.push('no request completed');
  return problems;
}

/** One wrk run, pinned to the load CPU; its summary. */
export async function runWrk(options: WrkOptions): Promise<WrkResult> {
  const dir = await makeTempDir('overair-wrk-');
  const script = path.join(dir, 'bodies.lua');
  const bodies = path.join(dir, 'bodies.txt');
  if (options.bodies.some((body) => body.includes('\n'))) throw new Error('a wrk body holds a newline');
  await fs.writeFile(script, SCRIPT);
  await fs.writeFile(bodies, options.bodies.join('\n') + '\n');
  const child = spawnWrk(
    [`-t${options.threads ?? 1}`, `-c${options.connections}`, `-d${options.durationSeconds}s`],
    script,
    options.url,
    { WRK_BODIES: bodies, WRK_PATH: options.path },
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

// ---------------------------------------------------------------------------------------------
// wrk with every answer's time: for windows cut out of one run.

/** wrk's clock: CLOCK_MONOTONIC in µs, which is also what process.hrtime reads on Linux. */
export function monotonicMicros(): number {
  return Number(process.hrtime.bigint() / 1000n);
}

/**
 * One connection per wrk thread, so that a thread's request and response callbacks alternate and
 * the time between them is that request's latency. Each thread writes one line per answer to its own
 * file: when it ended (CLOCK_MONOTONIC µs, read through LuaJIT's ffi), the latency (µs), and 1 when
 * the answer was HTTP 200 with WRK_EXPECT in its body, else 0. Line-buffered, so the file is complete
 * whenever wrk is stopped (SIGINT). A connection waits WRK_THINK_MS after each answer when set.
 */
const TIMED_SCRIPT = `
local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } overair_timespec;
int clock_gettime(int clk_id, overair_timespec *tp);
]]
local clock = ffi.new("overair_timespec")
local function micros()
  ffi.C.clock_gettime(1, clock)
  return tonumber(clock.tv_sec) * 1000000 + math.floor(tonumber(clock.tv_nsec) / 1000)
end
local bodies = {}
for line in io.lines(os.getenv("WRK_BODIES")) do bodies[#bodies + 1] = line end
local threads = 0
function setup(thread)
  thread:set("id", threads)
  threads = threads + 1
end
local log
local counter = 0
local sent = 0
local expect = os.getenv("WRK_EXPECT")
function init(args)
  log = io.open(os.getenv("WRK_LOG") .. "." .. id, "w")
  log:setvbuf("line")
  counter = id * 7919
end
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
request = function()
  counter = counter + 1
  sent = micros()
  return wrk.format(nil, os.getenv("WRK_PATH"), nil, bodies[(counter % #bodies) + 1])
end
response = function(status, headers, body)
  local now = micros()
  local ok = (status == 200 and body:find(expect, 1, true)) and 1 or 0
  log:write(now, " ", now - sent, " ", ok, "\\n")
end
local think = tonumber(os.getenv("WRK_THINK_MS") or "0")
if think > 0 then
  delay = function() return think end
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('WRK_JSON {"connect":%d,"read":%d,"write":%d,"timeout":%d}\\n',
    e.connect, e.read, e.write, e.timeout))
end
`;

export interface TimedWrkOptions {
  url: string;
  path: string;
  /** JSON bodies, one per request in turn; none may contain a newline. */
  bodies: string[];
  /** Also wrk's threads: one connection each. */
  connections: number;
  /** What every good answer's body contains. */
  expect: string;
  /** Pause of each connection between an answer and its next request, in ms (0: none). */
  thinkMs: number;
}

/** Answers by when they ended (µs, monotonicMicros' clock), in order, and wrk's error counts. */
export interface TimedSamples {
  at: Float64Array;
  /** ms */
  latency: Float64Array;
  ok: Uint8Array;
  /** Connect, read and write errors, and requests unanswered after 10 s; none logged as answers. */
  errors: { connect: number; read: number; write: number; timeout: number };
}

export interface TimedWrk {
  /** Stops wrk (SIGINT) and reads every answer it logged. */
  stop(): Promise<TimedSamples>;
}

/** Starts wrk, pinned to the load CPU, until stop(): every answer is logged with its time. */
export async function startTimedWrk(options: TimedWrkOptions): Promise<TimedWrk> {
  const dir = await makeTempDir('overair-wrk-');
  const script = path.join(dir, 'timed.lua');
  const bodies = path.join(dir, 'bodies.txt');
  const log = path.join(dir, 'answers');
  if (options.bodies.some((body) => body.includes('\n'))) throw new Error('a wrk body holds a newline');
  await fs.writeFile(script, TIMED_SCRIPT);
  await fs.writeFile(bodies, options.bodies.join('\n') + '\n');
  const child = spawnWrk(
    [`-t${options.connections}`, `-c${options.connections}`, '-d3600s'],
    script,
    options.url,
    {
      WRK_BODIES: bodies,
      WRK_PATH: options.path,
      WRK_LOG: log,
      WRK_EXPECT: options.expect,
      WRK_THINK_MS: String(options.thinkMs),
    },
  );
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  return {
    async stop() {
      // taskset execs wrk, so the signal reaches wrk itself, which then prints its summary.
      child.kill('SIGINT');
      const code = await exited;
      untrackChild(child);
      const line = output.split('\n').find((entry) => entry.startsWith('WRK_JSON '));
      if (code !== 0 || !line) throw new Error(`wrk failed (exit ${code}):\n${output}`);
      const errors = JSON.parse(line.slice('WRK_JSON '.length)) as TimedSamples['errors'];
      const rows: [number, number, number][] = [];
      for (let thread = 0; thread < options.connections; thread++) {
        const text = await fs.readFile(`${log}.${thread}`, 'utf8');
        for (const entry of text.split('\n')) {
          const [at, latency, ok] = entry.split(' ').map(Number);
          if (entry && at !== undefined && latency !== undefined && ok !== undefined)
            rows.push([at, latency, ok]);
        }
      }
      rows.sort((a, b) => a[0] - b[0]);
      return {
        at: Float64Array.from(rows, (row) => row[0]),
        latency: Float64Array.from(rows, (row) => row[1] / 1000),
        ok: Uint8Array.from(rows, (row) => row[2]),
        errors,
      };
    },
  };
}
