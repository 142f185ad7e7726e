/**
 * `npm run bench`: the CPU one anonymous request can cost the server on the device routes, for the
 * largest requests the limits let through and for the ones they refuse, next to an ordinary update
 * check measured in the same run. CPU is read from the server process's own counters
 * (/proc/PID/stat, user + system), so the load generator's work is not counted. Exits non-zero only
 * when a request gets an unexpected status.
 *
 * Knobs (environment): BENCH_LIMIT_REQUESTS (requests per scenario, default 200).
 */
import fs from 'node:fs/promises';
import { admin, deviceInfo, makeTempDir, printTable, runBench, startOverair } from './harness.js';

const APP_ID = 'com.example.limits';
const REQUESTS = Number(process.env.BENCH_LIMIT_REQUESTS ?? 200);
const CONCURRENCY = 4;
/** Clock ticks per second of /proc/PID/stat (USER_HZ, 100 on Linux). */
const TICKS_PER_SECOND = 100;

interface Scenario {
  name: string;
  path: string;
  body: () => string;
  status: number;
}

const event = (index: number) => ({
  ...deviceInfo(APP_ID, { device_id: `limits-${index}` }),
  action: 'download_complete',
});

/** 1 MiB of JSON: the largest body a device route reads. */
function oneMebibyteOf(item: string): string {
  const count = Math.floor((1024 * 1024 - 2) / (item.length + 1));
  return `[${Array.from({ length: count }, () => item).join(',')}]`;
}

const SCENARIOS: Scenario[] = [
  {
    name: 'update check (baseline)',
    path: '/updates',
    body: () => JSON.stringify(deviceInfo(APP_ID)),
    status: 200,
  },
  { name: 'stats, 1 event', path: '/stats', body: () => JSON.stringify([event(0)]), status: 200 },
  {
    name: 'stats, 200 events (the most allowed)',
    path: '/stats',
    body: () => JSON.stringify(Array.from({ length: 200 }, (_, index) => event(index))),
    status: 200,
  },
  { name: 'stats, 1 MiB of {} (refused)', path: '/stats', body: () => oneMebibyteOf('{}'), status: 413 },
  {
    name: 'update check, 1 MiB array (refused)',
    path: '/updates',
    body: () => oneMebibyteOf('0'),
    status: 400,
  },
  {
    name: 'update check, 1 MiB over the limit (refused)',
    path: '/updates',
    body: () => 'x'.repeat(1024 * 1024 + 1),
    status: 413,
  },
];

/** The server process's CPU time so far, in milliseconds. */
async function cpuMs(pid: number): Promise<number> {
  const stat = await fs.readFile(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may hold spaces) start after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14 and 15)
  return (ticks * 1000) / TICKS_PER_SECOND;
}

async function run(url: string, pid: number, scenario: Scenario): Promise<{ cpu: number; wall: number }> {
  const body = scenario.body();
  let next = 0;
  const worker = async () => {
    while (next++ < REQUESTS) {
      const status = await fetch(url + scenario.path, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body,
      }).then(
        async (response) => (await response.arrayBuffer(), response.status),
        // A body over the limit is answered 413 and its connection closed while it is still being
        // sent: the client may see the close (EPIPE, reset) before the answer.
        (error: unknown) => {
          if (scenario.status === 413) return 413;
          throw error;
        },
      );
      if (status !== scenario.status)
        throw new Error(`${scenario.name}: HTTP ${status}, expected ${scenario.status}`);
    }
  };
  const started = performance.now();
  const before = await cpuMs(pid);
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  return { cpu: ((await cpuMs(pid)) - before) / REQUESTS, wall: (performance.now() - started) / REQUESTS };
}

await runBench('device-limits', 'the device-limits bench', async () => {
  const dataDir = await makeTempDir('overair-bench-limits-');
  const { child, url } = await startOverair(dataDir, 'warn');
  await admin(url, 'POST', '/apps', { id: APP_ID });
  const rows = [['scenario', 'CPU ms/request', 'ratio to a check', 'wall ms/request']];
  let baseline = 0;
  for (const scenario of SCENARIOS) {
    await run(url, child.pid!, scenario); // warm-up: JIT, caches, the first device rows
    const { cpu, wall } = await run(url, child.pid!, scenario);
    baseline ||= cpu;
    rows.push([scenario.name, cpu.toFixed(2), (cpu / baseline).toFixed(1), wall.toFixed(2)]);
  }
  console.log(`\nCPU per device request (${REQUESTS} requests per scenario, ${CONCURRENCY} at a time)\n`);
  printTable(rows);
  return 0;
});
