import { Hono } from 'hono';
import { errorBody, errors } from '../errors.js';
import type { Logger } from 'pino';
import type { Services } from '../services/index.js';
import { adminRoutes } from './admin-routes.js';
import { capawesomeRoutes } from './capawesome-routes.js';
import { dashboardHandler } from './dashboard.js';
import type { DeviceRateLimit } from './device-rate-limit.js';
import { deviceRoutes } from './device-routes.js';
import { type DownloadLinks, downloadRoutes } from './download.js';
import { toErrorResponse } from './errors.js';
import { healthRoutes } from './health-routes.js';
import { nativeDownloadRoutes } from './native-routes.js';
import { allowedMethods, methodNotAllowed } from './method-not-allowed.js';
import { metricsRoutes } from './metrics-endpoint.js';
import { logRequest } from './request-log.js';
import { SharedAuthLimiter } from './shared-auth-limiter.js';

export interface HttpOptions {
  /** The configured limit on device requests (none by default). */
  deviceLimit?: DeviceRateLimit;
  /** Believe X-Forwarded-For's last address (set by our reverse proxy) as the client's. */
  trustProxy?: boolean;
  /** Failed admin authentications an address may make per window (0: no limit). */
  authMaxFailures?: number;
  authFailureWindowMs?: number;
  /** OVERAIR_PUBLIC_URL: when https, the dashboard's session cookie is always Secure. */
  publicUrl?: string;
  /** The built dashboard's folder (default: dist/web of this package). */
  dashboardDir?: string;
  /** Serve GET /metrics on this app to scrapers sending this bearer token (else no such route). */
  metricsToken?: string;
}

/** The route label of requests no route answered (404, 405). */
const UNMATCHED = 'unmatched';

/** The whole HTTP surface as one Hono app, callable in tests with `app.request()`. */
export function createHttpApp(
  services: Services,
  log: Logger,
  links: DownloadLinks,
  options: HttpOptions = {},
) {
  const app = new Hono();

  const metrics = services.metrics;
  app.use('*', async (c, next) => {
    const started = performance.now();
    await next();
    const now = performance.now();
    // The pattern of the route that answered (`/api/v1/apps/:appId`), never the path itself: the
    // labels stay as few as the routes. What no route answered is `unmatched` (the dashboard's
    // catch-all, which answered, is `/*`).
    const status = c.res.status;
    const route = c.req.routePath;
    metrics.request(
      route === '/*' && (status === 404 || status === 405) ? UNMATCHED : route,
      c.req.method,
      status,
      (now - started) / 1000,
    );
    logRequest(log, c.req.method, c.req.path, c.res.status, started, now);
  });

  app.route('/', healthRoutes(services.readiness));
  app.route('/', deviceRoutes(services, links, log, options.deviceLimit, options.trustProxy ?? false));
  app.route('/', downloadRoutes(services, links, log));
  // The @capawesome/capacitor-live-update plugin's endpoints (/v1/apps/...).
  app.route('/', capawesomeRoutes(services, links, log, options.deviceLimit, options.trustProxy ?? false));
  app.route('/', nativeDownloadRoutes(services, links, log));
  if (options.metricsToken !== undefined) app.route('/', metricsRoutes(metrics, options.metricsToken));
  const limiter = new SharedAuthLimiter(
    { maxFailures: options.authMaxFailures ?? 10, windowMs: options.authFailureWindowMs ?? 5 * 60_000 },
    services.authFailures,
    log,
  );
  app.route(
    '/api/v1',
    adminRoutes(services, links, {
      limiter,
      trustProxy: options.trustProxy ?? false,
      log,
      publicUrl: options.publicUrl,
    }),
  );
  // Taken before the dashboard's catch-all, which would give every path a GET.
  const allowOf = allowedMethods([...app.routes]);
  // Last: every other GET is the dashboard's (reserved paths such as /api go on to the 404 below).
  app.get('*', dashboardHandler(options.dashboardDir));

  // Reached when no route answered: a path that exists under other methods is a 405, else a 404.
  // (Admin paths are authenticated first: a wrong method there tells nobody unauthenticated anything.)
  app.notFound((c) => {
    const allow = allowOf(c.req.path);
    if (allow.length > 0 && !allow.includes(c.req.method)) return methodNotAllowed(c, allow);
    const missing = errors.notFound({ method: c.req.method, path: c.req.path });
    return c.json(errorBody(missing), missing.status);
  });
  app.onError((error, c) => {
    const { status, body, headers } = toErrorResponse(error, log);
    return c.json(body, status, headers);
  });
  return app;
}
