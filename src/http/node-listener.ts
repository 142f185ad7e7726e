import type { IncomingMessage, ServerResponse } from 'node:http';
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import { getRequestListener } from '@hono/node-server';
import type { Hono } from 'hono';
import type { Logger } from 'pino';
import type { Services } from '../services/index.js';
import { errorBody, errors } from '../errors.js';
import type { BodyTimeouts } from './body-timeouts.js';
import { BodyError, answerUpdateCheck } from './device-routes.js';
import type { DownloadLinks } from './download.js';
import { nodeRequestAddress } from './client-address.js';
import { tooManyRequests, type DeviceRateLimit } from './device-rate-limit.js';
import { parseJsonBody } from './errors.js';
import { logRequest } from './request-log.js';

/**
 * The Node request listener. The update check is the hot path (every launch and resume of every
 * device), so on Node it is answered straight from the socket, skipping the web Request/Response
 * objects the Hono adapter builds, which cost as much as the check itself. It calls the same
 * answerUpdateCheck as the Hono route, so both answer alike; everything else goes to Hono.
 */
const gzipAsync = promisify(gzip);
/** Answers below a network packet gain nothing from compression. */
const GZIP_MIN_BYTES = 1400;

/** How long the rest of a body that a handler did not read may still be read and discarded. */
const LINGER_MS = 1000;

/**
 * After an answer that left the request body unread (a refusal before the body was needed), Node
 * reads and discards the rest to keep the connection alive, for as long as the client sends. Give
 * it a moment, for a client that was about to finish, then close the connection.
 */
function lingerAtMost(req: IncomingMessage): void {
  if (req.complete) return;
  const socket = req.socket;
  const timer = setTimeout(() => socket.destroy(), LINGER_MS);
  timer.unref();
  // The rest arrived in time: the connection stays open for the client's next request. Listeners
  // are removed either way: a kept-alive socket must not collect one per such request.
  const done = () => {
    clearTimeout(timer);
    req.off('end', done);
    socket.off('close', done);
  };
  req.once('end', done);
  socket.once('close', done);
}

export function createNodeListener(
  app: Hono,
  services: Services,
  links: DownloadLinks,
  log: Logger,
  options: { deviceLimit?: DeviceRateLimit; trustProxy?: boolean; bodyTimeouts?: BodyTimeouts } = {},
) {
  const hono = getRequestListener(app.fetch);
  return (req: IncomingMessage, res: ServerResponse) => {
    options.bodyTimeouts?.watch(req, res);
    if (req.method === 'POST' && (req.url === '/updates' || req.url === '/updates/')) {
      void fastUpdateCheck(req, res);
    } else {
      res.once('finish', () => lingerAtMost(req));
      void hono(req, res);
    }
  };

  async function fastUpdateCheck(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = performance.now();
    const wait = options.deviceLimit?.check(nodeRequestAddress(req, options.trustProxy ?? false)) ?? 0;
    if (wait > 0) {
      const json = JSON.stringify({ ...tooManyRequests(wait), kind: 'failed' });
      res.writeHead(429, {
        'content-type': 'application/json',
        'retry-after': String(wait),
        'content-length': Buffer.byteLength(json),
        // The body is not read: the connection closes after the answer rather than drain it.
        ...(!req.complete && { connection: 'close' }),
      });
      res.end(json);
      logRequest(log, 'POST', '/updates', 429, started);
      return;
    }
    try {
      const body = await parseJsonBody(req, req.headers['content-length']).catch(
        (error: unknown) => new BodyError(error),
      );
      const origin = () => `http://${req.headers.host ?? 'localhost'}`;
      const { status, payload, headers } = await answerUpdateCheck(
        services,
        log,
        body,
        links.withOrigin(origin),
      );
      // Answer in the next turn of the event loop rather than inside the request's own callbacks:
      // measured here, this alone raises update checks per second by half (npm run bench), as the
      // writes of all requests read in one poll go out together.
      await new Promise((resolve) => setImmediate(resolve));
      const json = JSON.stringify(payload);
      // A delta manifest lists every file (~240 bytes each): gzip it for clients that accept it, as
      // the plugin's HTTP clients (OkHttp, URLSession) do transparently. Small answers go as they are,
      // and as a string: Node then sends headers and body in one write, measurably faster.
      const gzip = json.length > GZIP_MIN_BYTES && /\bgzip\b/.test(req.headers['accept-encoding'] ?? '');
      const encoded = gzip ? await gzipAsync(json) : json;
      res.writeHead(status, {
        ...headers, // Retry-After of a 503 while the database is unreachable
        'content-type': 'application/json',
        'content-length': typeof encoded === 'string' ? Buffer.byteLength(encoded) : encoded.length,
        ...(gzip && { 'content-encoding': 'gzip', vary: 'Accept-Encoding' }),
        // An early answer (413) leaves an unread body, which may never end: close the connection
        // after the answer instead of reading it.
        ...(!req.complete && { connection: 'close' }),
      });
      res.end(encoded);
    } catch (error) {
      log.error({ err: error }, 'update check failed');
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ ...errorBody(errors.internalError()), kind: 'failed' }));
    }
    logRequest(log, 'POST', '/updates', res.statusCode, started);
  }
}
