import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';

export interface BodyTimeoutOptions {
  /** Longest time to receive a request (its body included), uploads aside: OVERAIR_REQUEST_TIMEOUT. */
  requestTimeoutMs: number;
  /** An upload receiving no byte this long is cut: OVERAIR_UPLOAD_IDLE_TIMEOUT. */
  uploadIdleTimeoutMs: number;
}

/**
 * The routes whose body is a file of any size (bundle zips, native builds), streamed to storage.
 * Kept beside the routes' own definitions in admin-routes.ts and native-routes.ts; a test sends a
 * slow upload to each.
 */
const UPLOAD_PATH = /^\/api\/v1\/apps\/[^/?]+\/(bundles|native)\/upload(\?|$)/;

/**
 * Time limits on receiving requests, in place of Node's `requestTimeout`, which counts the whole
 * request from its first byte to its last: at its default of 5 minutes a 200 MB upload at 600 KB/s
 * (5.5 minutes) was cut with a 408 however steadily it came in. Node's setting applies to every
 * request of a server alike, so the server turns it off (src/server.ts) and this puts back:
 * - for uploads, an idle limit: the socket's timer, which Node resets at every chunk received, cuts an
 *   upload that sends nothing for `uploadIdleTimeoutMs`, and no total limit;
 * - for every other request, the total limit Node had: its body must be in within `requestTimeoutMs`
 *   of the request's start, or the connection is cut. With `headersTimeout` (kept by the server),
 *   this is what holds off slowloris clients that trickle headers or a small body to hold sockets.
 * Deadlines are checked by one sweep timer, as Node does, not one timer per request.
 * A cut request's handler sees its body stream fail (ClientAborted), answered to nobody.
 */
export class BodyTimeouts {
  private readonly deadlines = new Map<IncomingMessage, number>();
  private sweeper: NodeJS.Timeout | undefined;
  private readonly sweepMs: number;

  constructor(
    private readonly options: BodyTimeoutOptions,
    private readonly log: Logger,
  ) {
    // A tenth of the limit, between 250 ms and Node's own 30 s: a request is cut at most 10% late.
    this.sweepMs = Math.min(30_000, Math.max(250, options.requestTimeoutMs / 10));
  }

  /** Starts timing a request that was just received (its headers, that is). */
  watch(req: IncomingMessage, res: ServerResponse): void {
    if (req.url !== undefined && UPLOAD_PATH.test(req.url)) {
      this.watchUpload(req, res);
      return;
    }
    if (!this.track(req)) return;
    // Forgotten as soon as the body is in, so that requests are not kept alive until the next sweep.
    req.once('end', () => this.deadlines.delete(req));
  }

  /**
   * The same for a request whose handler says when it is done with the body (`forget`): the update
   * check, which saves the listener `watch` adds to every request (measured: 0.7 µs of a 10 µs check).
   */
  watchUntilForgotten(req: IncomingMessage): void {
    this.track(req);
  }

  /** The handler has read the body, or will not: the request no longer needs timing. */
  forget(req: IncomingMessage): void {
    this.deadlines.delete(req);
  }

  /** Whether the request has a body to time; if it has, its deadline is set. */
  private track(req: IncomingMessage): boolean {
    // No body (a GET): Node's headersTimeout was the whole of it.
    if (req.headers['content-length'] === undefined && req.headers['transfer-encoding'] === undefined) {
      return false;
    }
    this.deadlines.set(req, Date.now() + this.options.requestTimeoutMs);
    this.sweeper ??= setInterval(() => this.sweep(), this.sweepMs).unref();
    return true;
  }

  /** Stops the sweep timer (the server is closing). */
  close(): void {
    clearInterval(this.sweeper);
    this.sweeper = undefined;
    this.deadlines.clear();
  }

  private watchUpload(req: IncomingMessage, res: ServerResponse): void {
    const idleMs = this.options.uploadIdleTimeoutMs;
    // Fires only while the body is incomplete (Node then asks the request first): cut the upload.
    req.setTimeout(idleMs, () => {
      this.log.warn(
        { method: req.method, path: req.url?.split('?')[0], idleSeconds: idleMs / 1000 },
        'upload cut: nothing received for the idle timeout',
      );
      req.destroy();
    });
    // Once the body is in, storing it may take a while (a large S3 upload): the socket's timer is
    // cleared, or Node would close the socket under it. Not after the answer went out, when the
    // timer is Node's keep-alive timeout.
    req.once('end', () => {
      if (!res.writableFinished) req.socket.setTimeout(0);
    });
  }

  private sweep(): void {
    const now = Date.now();
    for (const [req, deadline] of this.deadlines) {
      if (req.complete || req.destroyed) {
        this.deadlines.delete(req);
      } else if (now >= deadline) {
        this.deadlines.delete(req);
        this.log.warn(
          {
            method: req.method,
            path: req.url?.split('?')[0],
            timeoutSeconds: this.options.requestTimeoutMs / 1000,
          },
          'request cut: not received in full within the request timeout',
        );
        req.destroy();
      }
    }
    if (this.deadlines.size === 0) {
      clearInterval(this.sweeper);
      this.sweeper = undefined;
    }
  }
}
