import type { IncomingMessage } from 'node:http';
import { isIP } from 'node:net';
import type { Context } from 'hono';

/**
 * The address a request came from: the socket's peer, or, when the server is told to trust its
 * reverse proxy (OVERAIR_TRUST_PROXY), the last address of X-Forwarded-For, the one that proxy
 * appended (nginx's `$proxy_add_x_forwarded_for`). Earlier entries are whatever the client sent and
 * are never believed. Without a socket (`app.request()` in tests) it is "unknown".
 */
export function clientAddress(c: Context, trustProxy: boolean): string {
  const incoming = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming;
  return requestAddress(c.req.header('x-forwarded-for'), incoming?.socket.remoteAddress, trustProxy);
}

/** The same from a Node request (the update check's fast path has no Hono context). */
export function nodeRequestAddress(req: IncomingMessage, trustProxy: boolean): string {
  const forwarded = req.headers['x-forwarded-for'];
  return requestAddress(
    Array.isArray(forwarded) ? forwarded.at(-1) : forwarded,
    req.socket.remoteAddress,
    trustProxy,
  );
}

function requestAddress(
  forwarded: string | undefined,
  peer: string | undefined,
  trustProxy: boolean,
): string {
  if (trustProxy) {
    const last = forwarded?.split(',').at(-1)?.trim();
    if (last && isIP(last)) return last;
  }
  return peer ?? 'unknown';
}
