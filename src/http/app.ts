import { Hono } from 'hono';
import type { Logger } from 'pino';
import type { Services } from '../services/index.js';
import { adminRoutes } from './admin-routes.js';
import { deviceRoutes } from './device-routes.js';
import { DownloadLinks, downloadRoutes } from './download.js';
import { toErrorResponse } from './errors.js';

export interface HttpOptions {
  publicUrl?: string;
}

/** The whole HTTP surface as one Hono app, callable in tests with `app.request()`. */
export function createHttpApp(services: Services, log: Logger, options: HttpOptions = {}) {
  const app = new Hono();
  const links = new DownloadLinks(options.publicUrl);

  // One log line a request: path without the query string, which may carry a session key.
  app.use('*', async (c, next) => {
    const started = performance.now();
    await next();
    log.info(
      {
        method: c.req.method,
        path: c.req.path,
        status: c.res.status,
        ms: Math.round((performance.now() - started) * 10) / 10,
      },
      'request',
    );
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
