/**
 * A real Overair server for the benches, in its own process. Settings come from the OVERAIR_*
 * environment the parent sets; the URL goes back over the IPC channel, and its figures on request (bench/server-metrics.ts). Closes (flushing the
 * device-activity queue) on SIGTERM/SIGINT or when the parent goes away.
 */
import { loadConfig } from '../src/config.js';
import { startServer } from '../src/server.js';
import { reportMetrics } from './server-metrics.js';

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
