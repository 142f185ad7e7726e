import type { IncomingMessage, ServerResponse } from 'node:http';
import { getRequestListener } from '@hono/node-server';
import type { Hono } from 'hono';
import type { Logger } from 'pino';
import type { Services } from '../services/index.js';
import type { BodyTimeouts } from './body-timeouts.js';
import type { DownloadLinks } from './download.js';
import { nodeRequestAddress } from './client-address.js';
import type { DeviceRateLimit } from './device-rate-limit.js';
import { logRequest } from './request-log.js';
import { UpdateCheck, type CheckAnswer, type CheckRequest } from './update-check.js';

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

/**
 * The Node request listener. The update check is the hot path (every launch and resume of every
 * device), so on Node it is answered straight from the socket, skipping the web Request/Response
 * objects the Hono adapter builds, which cost more than the check itself. It writes what
 * update-check.ts answers, as the Hono route does; everything else goes to Hono.
 */
export function createNodeListener(
  app: Hono,
  services: Services,
  links: DownloadLinks,
  log: Logger,
  options: { deviceLimit?: DeviceRateLimit; trustProxy?: boolean; bodyTimeouts?: BodyTimeouts } = {},
) {
  const hono = getRequestListener(app.fetch);
  const check = new UpdateCheck(services, log, options.deviceLimit);
  const metrics = services.metrics;
  const trustProxy = options.trustProxy ?? false;

  function updateCheck(req: IncomingMessage, res: ServerResponse): void {
    const started = performance.now();
    const request: CheckRequest = {
      address: () => nodeRequestAddress(req, trustProxy),
      contentLength: req.headers['content-length'],
      acceptEncoding: req.headers['accept-encoding'],
      body: req,
      urlOf: links.withOrigin(() => `http://${req.headers.host ?? 'localhost'}`),
    };
    check.answerNode(req, request, (answer) => {
      options.bodyTimeouts?.forget(req);
      // Written in the next turn of the event loop rather than inside the request's own callbacks:
      // measured with wrk (in one run, next to the same build writing at once), a third less CPU
      // per check, as the answers to all requests read in one poll go out together.
      setImmediate(write, res, answer, started);
    });
  }

  function write(res: ServerResponse, answer: CheckAnswer, started: number): void {
    try {
      res.writeHead(answer.status, answer.headers).end(answer.body);
    } catch (error) {
      // Nothing more can be said on this socket.
      log.error({ err: error }, 'update check answer could not be written');
      res.destroy();
      return;
    }
    // One clock read for the metrics and the log line.
    const now = performance.now();
    metrics.updateCheckDuration(answer.status, (now - started) / 1000);
    logRequest(log, 'POST', '/updates', answer.status, started, now);
  }

  return (req: IncomingMessage, res: ServerResponse) => {
    if (req.method === 'POST' && (req.url === '/updates' || req.url === '/updates/')) {
      options.bodyTimeouts?.watchUntilForgotten(req);
      updateCheck(req, res);
    } else {
      options.bodyTimeouts?.watch(req, res);
      res.once('finish', () => lingerAtMost(req));
      void hono(req, res);
    }
  };
}
