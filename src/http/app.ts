import { Hono } from 'hono';
import type { Logger } from 'pino';
import type { Services } from '../services/index.js';
import { adminRoutes } from './admin-routes.js';
import { deviceRoutes } from './device-routes.js';
import { type DownloadLinks, downloadRoutes } from './download.js';
import { toErrorResponse } from './errors.js';
import { logRequest } from './request-log.js';

/** The whole HTTP surface as one Hono app, callable in tests with `app.request()`. */
export function createHttpApp(services: Services, log: Logger, links: DownloadLinks) {
  const app = new Hono();

  app.use('*', async (c, next) => {
    const started = performance.now();
    await next();
    logRequest(log, c.req.method, c.req.path, c.res.status, started);
  });

  app.get('/healthz', (c) => c.json({ status: 'ok' }));
  app.route('/', deviceRoutes(services, links, log));
  app.route('/', downloadRoutes(services, log));
  app.route('/api/v1', adminRoutes(services, links));

  app.notFound((c) =>
    c.json({ error: 'not_found', message: `No route for ${c.req.method} ${c.req.path}` }, 404),
  );
  app.onError((error, c) => {
    const { status, body } = toErrorResponse(error, log);
    return c.json(body, status);
  });
  return app;
}
