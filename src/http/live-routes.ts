import type { ServerResponse } from 'node:http';
import type { Context, Hono } from 'hono';
import { grantsOf, may } from '../domain/roles.js';
import { errors } from '../errors.js';
import type { Services } from '../services/index.js';
import { LiveQueue } from '../services/live-queue.js';
import type { LiveSubscriber } from '../services/live-watch.js';
import type { Principal } from '../services/sessions.js';
import { requireRoleOn, type AdminEnv } from './auth.js';
import * as s from './schemas.js';
import type { SessionCookies } from './session-cookie.js';
import { parseInput } from './validation.js';

/** The bounds of live streams (docs/devices.md#watching-a-device-live); tests shorten the times. */
export interface LiveLimits {
  /** Streams one token or user may hold open at once (over the instance it reaches). */
  perPrincipal: number;
  /** Streams one instance holds at once. */
  perInstance: number;
  /** Events waiting for a slow reader, per stream; past it the oldest are dropped. */
  buffer: number;
  /** How often the stream's session or token (and its role on the app) is checked again. */
  recheckMs: number;
  /** A comment this often keeps proxies from closing an idle stream. */
  heartbeatMs: number;
}

export const LIVE_LIMITS: LiveLimits = {
  perPrincipal: 8,
  perInstance: 200,
  buffer: 256,
  recheckMs: 3000,
  heartbeatMs: 15_000,
};

/** What a client is told to wait before reconnecting (SSE `retry`). */
const RETRY_MS = 2000;
/** Consecutive failed re-checks (the database unreachable) after which a stream is closed. */
const MAX_FAILED_RECHECKS = 3;

/** Whether a principal may watch an app's devices: a read role on the app (server admins: any app). */
export function mayWatch(principal: Principal, appId: string): boolean {
  return may(grantsOf(principal), appId, 'read');
}

/**
 * GET /apps/:appId/devices/:deviceId/live: the device's update checks, downloads and device events
 * as server-sent events, as they happen, on whichever instance they happen (services/live-watch.ts).
 * The stream lives only as long as its session or token: both are checked again every `recheckMs`
 * and at their expiry, and the stream ends when either is gone.
 */
export function registerLiveRoutes(
  api: Hono<AdminEnv>,
  services: Services,
  cookies: SessionCookies,
  limits: LiveLimits = LIVE_LIMITS,
): void {
  const perPrincipal = new Map<string, number>();
  let total = 0;

  api.get('/apps/:appId/devices/:deviceId/live', async (c) => {
    const appId = parseInput(s.appId, c.req.param('appId'), 'app id');
    const deviceId = parseInput(s.deviceId, c.req.param('deviceId'), 'device id');
    const principal = c.get('principal');
    requireRoleOn(c, appId, 'read', 'Watching a device');
    await services.apps.get(appId);
    const who = `${principal.kind}:${principal.id}`;
    if ((perPrincipal.get(who) ?? 0) >= limits.perPrincipal)
      throw errors.tooManyLiveStreams({ limit: limits.perPrincipal, whose: 'by one token or user' });
    if (total >= limits.perInstance)
      throw errors.tooManyLiveStreams({ limit: limits.perInstance, whose: 'on this server instance' });
    perPrincipal.set(who, (perPrincipal.get(who) ?? 0) + 1);
    total++;
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      total--;
      const left = (perPrincipal.get(who) ?? 1) - 1;
      if (left > 0) perPrincipal.set(who, left);
      else perPrincipal.delete(who);
    };
    try {
      return await openStream(c, services, cookies, limits, { appId, deviceId }, release);
    } catch (error) {
      release();
      throw error;
    }
  });
}

async function openStream(
  c: Context<AdminEnv>,
  services: Services,
  cookies: SessionCookies,
  limits: LiveLimits,
  { appId, deviceId }: { appId: string; deviceId: string },
  release: () => void,
): Promise<Response> {
  const stillAllowed = recheckOf(c, services, cookies, appId);
  const expiry = expiryOf(c);
  const encoder = new TextEncoder();
  const queue = new LiveQueue<string>(limits.buffer);
  let wake: (() => void) | undefined;
  let ending: string | undefined;
  /** The stream ends because its access did: a client must not reconnect with the same credential. */
  let accessEnded = false;
  let finished = false;
  const timers: NodeJS.Timeout[] = [];
  let unsubscribe: () => void = () => undefined;
  // The Node response, to cut a reader that stopped reading when its access ends.
  const outgoing = (c.env as { outgoing?: ServerResponse } | undefined)?.outgoing;

  const push = (frame: string) => {
    queue.push(frame);
    wake?.();
  };
  const cleanup = () => {
    if (finished) return;
    finished = true;
    for (const timer of timers) clearInterval(timer);
    unsubscribe();
    release();
    wake?.();
  };
  /**
   * Ends the stream, telling the reader why and whether to come back (not when its access ended).
   * A reader that does not read would keep the connection: it is cut after a moment, the last words
   * being best effort.
   */
  const end = (reason: string, accessEnd: boolean) => {
    if (ending !== undefined) return;
    ending = reason;
    accessEnded = accessEnd;
    wake?.();
    setTimeout(() => {
      if (!finished) outgoing?.destroy();
      cleanup();
    }, 500).unref();
  };

  const subscriber: LiveSubscriber = {
    deliver: (id, json) => push(`id: ${id}\ndata: ${json}\n\n`),
    gap: (count) => push(`data: ${JSON.stringify({ kind: 'gap', missed: count })}\n\n`),
    end: () => end('the server is shutting down', false),
  };

  let failures = 0;
  timers.push(
    setInterval(() => {
      stillAllowed().then(
        (allowed) => {
          failures = 0;
          if (!allowed) end('the session or token ended, or no longer has a role on this app', true);
        },
        () => {
          if (++failures >= MAX_FAILED_RECHECKS) end('access could not be checked again', true);
        },
      );
    }, limits.recheckMs),
    setInterval(() => {
      if (queue.size === 0) push(': keep-alive\n\n');
    }, limits.heartbeatMs),
  );
  if (expiry !== undefined) {
    const timer = setTimeout(
      () => end('the session or token expired', true),
      Math.min(Math.max(0, expiry - Date.now()), 2 ** 31 - 1),
    );
    timers.push(timer);
  }
  for (const timer of timers) timer.unref();

  const body = new ReadableStream<Uint8Array>(
    {
      start(controller) {
        controller.enqueue(encoder.encode(`retry: ${RETRY_MS}\n: watching ${appId} ${deviceId}\n\n`));
      },
      async pull(controller) {
        for (;;) {
          const next = ending === undefined ? queue.take() : undefined;
          if (next) {
            const dropped =
              next.droppedBefore > 0
                ? `data: ${JSON.stringify({ kind: 'dropped', count: next.droppedBefore })}\n\n`
                : '';
            controller.enqueue(encoder.encode(dropped + next.item));
            return;
          }
          if (ending !== undefined || finished) {
            if (ending !== undefined)
              controller.enqueue(
                encoder.encode(
                  `data: ${JSON.stringify({ kind: 'closed', reason: ending, reconnect: !accessEnded })}\n\n`,
                ),
              );
            controller.close();
            cleanup();
            return;
          }
          await new Promise<void>((resolve) => (wake = resolve));
          wake = undefined;
        }
      },
      cancel() {
        cleanup();
      },
    },
    { highWaterMark: 0 },
  );
  unsubscribe = await services.live.open(appId, deviceId, subscriber, c.req.header('last-event-id'));
  return new Response(body, {
    headers: {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      // nginx buffers answers unless told not to: events would arrive in bursts.
      'x-accel-buffering': 'no',
    },
  });
}

/**
 * Whether the credential the stream was opened with still opens the API, and still reads the app:
 * the session (not ended, not expired; its user or token still there) or the bearer token (not
 * revoked, not expired).
 */
function recheckOf(
  c: Context<AdminEnv>,
  services: Services,
  cookies: SessionCookies,
  appId: string,
): () => Promise<boolean> {
  const session = c.get('session');
  const cookie = session ? cookies.read(c) : undefined;
  const bearer = /^Bearer\s+(\S+)\s*$/i.exec(c.req.header('authorization') ?? '')?.[1];
  return async () => {
    if (cookie !== undefined) {
      const found = await services.sessions.resolve(cookie);
      return found.status === 'ok' && mayWatch(found.session.principal, appId);
    }
    if (bearer === undefined) return false;
    const found = await services.tokens.authenticate(bearer);
    if (found.status !== 'ok') return false;
    // The token's roles as they are now (as requireToken loads them): a role taken away ends the stream.
    return mayWatch(
      { kind: 'token', id: found.token.id, name: found.token.name, grants: found.grants },
      appId,
    );
  };
}

/** When the session or token ends by itself (ms since the epoch), if ever. */
function expiryOf(c: Context<AdminEnv>): number | undefined {
  const session = c.get('session');
  const at = session ? session.expiresAt : c.get('token')?.expires_at;
  return at ? Date.parse(at) : undefined;
}
