/**
 * What bench/check.ts, bench/upload.ts, bench/delta.ts and bench/scale.ts share: child processes and temp dirs cleaned
 * up whatever happens, the servers started as children (reporting their URL over IPC), admin API calls
 * with the bench admin token, the plugin's info object, and the result table.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { deviceInfo as testDeviceInfo } from '../test/helpers/device-info.js';
import { hugePageMode } from '../test/helpers/huge-pages.js';
import type { ServerMemory, ServerMetrics } from './server-metrics.js';
import { SERVER_ENVIRONMENT, SERVER_NODE_FLAGS } from '../src/server-node-flags.js';

export const ROOT = path.resolve(import.meta.dirname, '..');
export const ADMIN_TOKEN = 'oat_bench-admin-token-0123456789abcdef';

// ---------------------------------------------------------------------------------------------
// Child processes and temp dirs, cleaned up whatever happens.

const children = new Set<ChildProcess>();
const tempDirs = new Set<string>();
const cleanups = new Set<() => Promise<void>>();
let cleaning: Promise<void> | undefined;

function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    await Promise.all([...children].map((child) => stopChild(child)));
    // After the children (which may be connected to what these stop), before the temp dirs.
    await Promise.all([...cleanups].map((work) => work().catch(() => undefined)));
    await Promise.all([...tempDirs].map((dir) => fs.rm(dir, { recursive: true, force: true })));
  })();
  return cleaning;
}

/**
 * Runs `work` at the end (or on a signal), after the children are stopped, e.g. to stop a database
 * server that is not a child process; its failure is ignored. Returns a function that unregisters it.
 */
export function atCleanup(work: () => Promise<void>): () => void {
  cleanups.add(work);
  return () => cleanups.delete(work);
}

/** Stops a child process (SIGTERM, SIGKILL after 5 s) and forgets it. */
export async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode === null && child.signalCode === null) {
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  }
  children.delete(child);
}

/** Registers a child process to be stopped at the end (or on a signal). */
export function trackChild<T extends ChildProcess>(child: T): T {
  children.add(child);
  return child;
}

/** Forgets a child process that has exited by itself. */
export function untrackChild(child: ChildProcess): void {
  children.delete(child);
}

/** A new temporary directory under the OS's, removed at the end (or on a signal). */
export async function makeTempDir(prefix: string): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), prefix));
  tempDirs.add(dir);
  return dir;
}

/**
 * Runs a bench's main() and exits with its code (1 when it throws, reported as "`name` failed:"),
 * after stopping every child and removing every temp dir; SIGINT/SIGTERM/SIGHUP do the same, printing
 * "stopping `stopping`".
 */
export async function runBench(name: string, stopping: string, main: () => Promise<number>): Promise<never> {
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      console.error(`\n${signal}: stopping ${stopping}`);
      void cleanup().finally(() => process.exit(128 + (os.constants.signals[signal] ?? 1)));
    });
  }
  let code: number;
  try {
    code = await main();
  } catch (error) {
    console.error(`${name} failed:`, error);
    code = 1;
  } finally {
    await cleanup();
  }
  process.exit(code);
}

// ---------------------------------------------------------------------------------------------
// Servers in child processes.

export interface Started {
  child: ChildProcess;
  url: string;
}

interface StartOptions {
  /** The child's stdout: 'pipe' (the default) to read it, 'ignore' to drop it. */
  stdout?: 'ignore' | 'pipe';
  /** Node flags before `--import tsx`. */
  nodeArgs?: string[];
  /** What the errors call it; the file name by default. */
  label?: string;
}

/** Runs a bench/*.ts file under tsx in a child process and waits for its {type: 'listening'} message. */
export function startChild(
  file: string,
  env: NodeJS.ProcessEnv,
  { stdout = 'pipe', nodeArgs = [], label = file }: StartOptions = {},
): Promise<Started> {
  const child = spawn(process.execPath, [...nodeArgs, '--import', 'tsx', path.join(ROOT, 'bench', file)], {
    cwd: ROOT,
    env,
    stdio: ['ignore', stdout, 'inherit', 'ipc'],
  });
  trackChild(child);
  return new Promise<Started>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${label} did not start within 30 s`)), 30_000);
    child.once('error', reject);
    child.once('exit', (code, signal) =>
      reject(new Error(`${label} exited early (code ${code}, signal ${signal})`)),
    );
    child.on('message', (message: { type?: string; url?: string }) => {
      if (message.type === 'listening' && message.url) {
        clearTimeout(timer);
        resolve({ child, url: message.url });
      }
    });
  });
}

/**
 * Starts bench/server-under-test.ts on loopback, a free port and the bench admin token, with `dataDir`,
 * `logLevel` and `env` on top, and the Node flags and environment of the Docker image and the systemd
 * unit (src/server-node-flags.ts); `onLine` gets every line of its log (when `stdout` is 'pipe').
 */
export async function startOverair(
  dataDir: string,
  logLevel: string,
  {
    env = {},
    onLine,
    ...options
  }: { env?: Record<string, string>; onLine?: (line: string) => void } & StartOptions = {},
): Promise<Started> {
  const started = await startChild(
    'server-under-test.ts',
    {
      ...process.env,
      ...SERVER_ENVIRONMENT,
      OVERAIR_DATA_DIR: dataDir,
      OVERAIR_HOST: '127.0.0.1',
      OVERAIR_PORT: '0',
      OVERAIR_ADMIN_TOKEN: ADMIN_TOKEN,
      OVERAIR_LOG_LEVEL: logLevel,
      OVERAIR_PUBLIC_URL: '',
      OVERAIR_DATABASE_URL: '',
      ...env,
    },
    { ...options, nodeArgs: [...SERVER_NODE_FLAGS, ...(options.nodeArgs ?? [])] },
  );
  if (onLine) onLines(started.child.stdout, onLine);
  return started;
}

/** A line saying how Overair's processes run (startOverair), for the benches' headers. */
export function describeServerSetup(): string {
  const environment = Object.entries(SERVER_ENVIRONMENT).map(([name, value]) => `${name}=${value}`);
  return `Overair runs as the Docker image and the systemd unit run it: node ${SERVER_NODE_FLAGS.join(' ')}, ${environment.join(' ')} (the kernel's transparent huge pages: ${hugePageMode() ?? 'none on this system'})`;
}

/** Calls `onLine` with every complete line the stream writes. */
function onLines(stream: Readable | null, onLine: (line: string) => void): void {
  let partial = '';
  stream?.setEncoding('utf8').on('data', (chunk: string) => {
    const lines = (partial + chunk).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) onLine(line);
  });
}

// ---------------------------------------------------------------------------------------------
// Requests.

/** The plugin's info object (test/helpers/device-info.ts) for `appId`. */
export function deviceInfo(appId: string, overrides: Record<string, unknown> = {}) {
  return testDeviceInfo({ app_id: appId, ...overrides });
}

/** A request with an optional JSON body; the answer's text, and its JSON when it parses. */
export async function call(
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

/** An admin API call (`route` under /api/v1) with the bench admin token, not checked. */
export function adminCall(base: string, method: string, route: string, body?: unknown) {
  return call(base, method, `/api/v1${route}`, body, { authorization: `Bearer ${ADMIN_TOKEN}` });
}

/** An admin API call whose status must be one of `expect`; its JSON answer. */
export async function admin(
  base: string,
  method: string,
  route: string,
  body?: unknown,
  expect = [200, 201],
) {
  const response = await adminCall(base, method, route, body);
  if (!expect.includes(response.status)) {
    throw new Error(`${method} /api/v1${route}: HTTP ${response.status} ${response.text.slice(0, 300)}`);
  }
  return response.json as Record<string, unknown>;
}

/** Uploads a bundle zip's bytes as the CLI does (raw body, metadata in the query); not checked. */
export function uploadZip(
  base: string,
  appId: string,
  query: Record<string, string>,
  zip: Uint8Array<ArrayBuffer>,
): Promise<Response> {
  return fetch(`${base}/api/v1/apps/${appId}/bundles/upload?${new URLSearchParams(query)}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/zip' },
    body: zip,
  });
}

/**
 * Polls the bundle every 10 ms until its files for delta updates are no longer being prepared (the
 * server prepares them after the upload's answer; until then devices get the whole zip, so answers
 * change once they are ready); the problem, if they end otherwise than ready or take over 2 minutes.
 */
export async function filesReady(base: string, appId: string, version: string): Promise<string | undefined> {
  const deadline = Date.now() + 120_000;
  for (;;) {
    const bundle = (await admin(base, 'GET', `/apps/${appId}/bundles/${version}`)) as {
      files: string;
      files_error: string | null;
    };
    if (bundle.files === 'ready') return undefined;
    if (bundle.files !== 'preparing') return `${bundle.files} (${bundle.files_error ?? 'no error'})`;
    if (Date.now() > deadline) return `still preparing after 2 minutes (${bundle.files_error ?? 'no error'})`;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Uploads a bundle zip as uploadZip does, and waits until its files are ready; throws on any failure. */
export async function uploadReady(
  base: string,
  appId: string,
  query: Record<string, string> & { version: string },
  zip: Uint8Array<ArrayBuffer>,
): Promise<void> {
  const response = await uploadZip(base, appId, query, zip);
  if (response.status !== 201) {
    throw new Error(
      `${appId} ${query.version} upload: HTTP ${response.status} ${(await response.text()).slice(0, 300)}`,
    );
  }
  const problem = await filesReady(base, appId, query.version);
  if (problem !== undefined) throw new Error(`${appId} ${query.version}: files ${problem}`);
}

// ---------------------------------------------------------------------------------------------
// Output.

/** A table: the first row is the header, the first column left-aligned, the others right-aligned. */
export function printTable(rows: string[][]): void {
  const widths = rows[0]!.map((_, col) => Math.max(...rows.map((row) => row[col]!.length)));
  const line = (row: string[]) =>
    row.map((cell, col) => (col === 0 ? cell.padEnd(widths[col]!) : cell.padStart(widths[col]!))).join('  ');
  console.log('\n' + line(rows[0]!));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const row of rows.slice(1)) console.log(line(row));
}

// ---------------------------------------------------------------------------------------------
// Server figures (bench/server-metrics.ts).

function ask<T>(child: ChildProcess, type: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${type} answer within 10 s`)), 10_000);
    const onMessage = (message: { type?: string }) => {
      if (message.type !== type) return;
      clearTimeout(timer);
      child.off('message', onMessage);
      resolve(message as T);
    };
    child.on('message', onMessage);
    child.send({ type });
  });
}

/** Starts a new span of a server's figures (its loop delay, peak RSS, CPU time and writes). */
export async function resetMetrics(child: ChildProcess): Promise<void> {
  await ask(child, 'metrics-reset');
}

/** A server's figures since its last reset. */
export function readMetrics(child: ChildProcess): Promise<ServerMetrics> {
  return ask<ServerMetrics>(child, 'metrics');
}

/** A server's memory now, after a full garbage collection when it runs with --expose-gc. */
export function readMemory(child: ChildProcess): Promise<ServerMemory> {
  return ask<ServerMemory>(child, 'memory');
}

/**
 * Runs a command to its exit, collecting its output; killed (SIGKILL) after `timeoutMs`, which its
 * stderr then says. Tracked meanwhile, so a bench stopped by a signal stops it too.
 */
export async function runToExit(
  args: string[],
  options: { env: NodeJS.ProcessEnv; timeoutMs: number },
): Promise<{
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
}> {
  const started = performance.now();
  const child = trackChild(
    spawn(process.execPath, args, { cwd: ROOT, env: options.env, stdio: ['ignore', 'pipe', 'pipe'] }),
  );
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (text: string) => (stdout += text));
  child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
  const timer = setTimeout(() => {
    stderr += `\n(bench: no exit after ${options.timeoutMs / 1000} s, killed)`;
    child.kill('SIGKILL');
  }, options.timeoutMs);
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (exitCode, exitSignal) => resolve([exitCode, exitSignal]));
  });
  clearTimeout(timer);
  untrackChild(child);
  return { code, signal, stdout, stderr, ms: performance.now() - started };
}
