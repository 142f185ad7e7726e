import { Hono } from 'hono';
import { errorBody, errors } from '../errors.js';
import type { Readiness } from '../services/readiness.js';

/**
 * Probes for process supervisors and load balancers; no token, no audit entry, no device rate limit
 * (they are outside /api/v1 and the device paths). `/healthz`: the process is up and serving, and
 * nothing else is looked at, so a database outage never gets a healthy instance restarted.
 * `/readyz`: this instance can do its work now (database and storage reachable, not shutting
 * down); a 503 takes it out of the balancer's rotation until it recovers.
 */
export function healthRoutes(readiness: Readiness) {
  const routes = new Hono();
  routes.get('/healthz', (c) => c.json({ status: 'ok' }));
  routes.get('/readyz', async (c) => {
    const report = await readiness.check();
    // Probes must see the current state, never a cached one.
    c.header('Cache-Control', 'no-store');
    if (report.ready) return c.json({ status: 'ready', checks: report.checks });
    const notReady = errors.notReady({ problem: report.message });
    return c.json({ ...errorBody(notReady), checks: report.checks }, notReady.status);
  });
  return routes;
}
