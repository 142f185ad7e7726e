import { createHash, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Hono } from 'hono';
import type { Logger } from 'pino';
import { errorBody, errors } from '../errors.js';
import type { Metrics } from '../metrics/registry.js';

/**
 * GET /metrics, the Prometheus text exposition of this instance (docs/metrics.md): on the main port
 * behind a bearer token (OVERAIR_METRICS_TOKEN), or on a listener of its own (OVERAIR_METRICS_LISTEN,
 * with the token too when both are set). Off by default: the main port then answers 404.
 */

/**
 * Whether an Authorization header carries the token, compared in constant time: both sides are
 * hashed first, so neither the content nor the length of the token shows in the time taken.
 */
export function bearerMatches(header: string | undefined, token: string): boolean {
  const given = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '')?.[1] ?? '';
  const digest = (text: string) => createHash('sha256').update(text).digest();
  return timingSafeEqual(digest(given), digest(token)) && given.length > 0;
}

/** The route on the main port (registered only when the token is set and no own listener is). */
export function metricsRoutes(metrics: Metrics, token: string) {
  const routes = new Hono();
  routes.get('/metrics', async (c) => {
    if (!bearerMatches(c.req.header('authorization'), token)) {
      const refused = errors.metricsUnauthorized();
      c.header('WWW-Authenticate', 'Bearer');
      return c.json(errorBody(refused), refused.status);
    }
    const { contentType, text } = await metrics.exposition();
    return c.body(text, 200, { 'content-type': contentType, 'cache-control': 'no-store' });
  });
  return routes;
}

export interface MetricsListener {
  url: string;
  close(): Promise<void>;
}

/**
 * The listener of its own: GET /metrics and nothing else (404 JSON), never the admin API or the
 * device routes, so it can be exposed to a scraper without them.
 */
export async function startMetricsListener(
  metrics: Metrics,
  address: { host: string; port: number },
  token: string | undefined,
  log: Logger,
): Promise<MetricsListener> {
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0];
    const answer = (status: number, body: object, headers: Record<string, string> = {}) =>
      res
        .writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', ...headers })
        .end(JSON.stringify(body));
    if (path !== '/metrics' && path !== '/metrics/') {
      const missing = errors.notFound({ method: req.method ?? 'GET', path: path ?? '' });
      return answer(missing.status, errorBody(missing));
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      const wrong = errors.methodNotAllowed({
        method: req.method ?? '',
        path: '/metrics',
        allow: 'GET, HEAD',
      });
      return answer(wrong.status, errorBody(wrong), { allow: 'GET, HEAD' });
    }
    if (token !== undefined && !bearerMatches(req.headers.authorization, token)) {
      const refused = errors.metricsUnauthorized();
      return answer(refused.status, errorBody(refused), { 'www-authenticate': 'Bearer' });
    }
    metrics.exposition().then(
      ({ contentType, text }) =>
        res
          .writeHead(200, { 'content-type': contentType, 'cache-control': 'no-store' })
          .end(req.method === 'HEAD' ? undefined : text),
      (error: unknown) => {
        log.error({ err: error }, 'metrics could not be collected');
        answer(500, errorBody(errors.internalError()));
      },
    );
  });
  // Scrapes are short: a connection left open is closed rather than kept for ever.
  server.keepAliveTimeout = 5_000;
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(address.port, address.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const shownHost = address.host.includes(':') ? `[${address.host}]` : address.host;
  const url = `http://${shownHost}:${port}/metrics`;
  log.info({ url }, 'metrics listening');
  return {
    url,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
