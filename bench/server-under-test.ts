/**
 * A real Overair server for the benches, in its own process: the built one (dist/, `npm run bench`
 * builds first), as users run it. Loaded through tsx from src/, every arrow function defined inside
 * a function gets esbuild's keepNames helper on each call, which made the update decision 30 times
 * slower than the compiled code and would measure tsx, not Overair.
 *
 * Settings come from the OVERAIR_* environment the parent sets; the URL goes back over the IPC
 * channel, and its figures on request (bench/server-metrics.ts). Closes (flushing the device-activity
 * queue) on SIGTERM/SIGINT or when the parent goes away.
 */
import fs from 'node:fs';
import path from 'node:path';
import { reportMetrics } from './server-metrics.js';

// BENCH_DIST: another build to measure (e.g. a copy of main's dist/, to compare a change with it).
const DIST = path.resolve(process.env.BENCH_DIST ?? path.join(import.meta.dirname, '..', 'dist'));
const built = path.join(DIST, 'server.js');
if (!fs.existsSync(built)) throw new Error(`${built} is missing: run npm run build first`);
const { loadConfig } = (await import(path.join(DIST, 'config.js'))) as typeof import('../src/config.js');
const { startServer } = (await import(built)) as typeof import('../src/server.js');

const server = await startServer(loadConfig(process.env));
const { activity } = server.services;
reportMetrics(() => ({
  rowsWritten: activity.rowsWritten,
  reportsSent: activity.reportsSent,
  remembered: activity.remembered,
  backlog: activity.backlog,
}));
let closing = false;
async function stop(): Promise<void> {
  if (closing) return;
  closing = true;
  const force = setTimeout(() => process.exit(1), 5000);
  force.unref();
  try {
    await server.close();
  } finally {
    process.exit(0);
  }
}
process.on('SIGTERM', () => void stop());
process.on('SIGINT', () => void stop());
process.on('disconnect', () => void stop());
process.send?.({ type: 'listening', url: server.url, port: server.port });
