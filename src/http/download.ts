import { Readable } from 'node:stream';
import { Hono, type Context } from 'hono';
import type { Logger } from 'pino';
import { SHA256_HEX } from '../crypto/hash.js';
import type { ByteRange } from '../storage/blob-store.js';
import type { Services } from '../services/index.js';
import { errorJson } from './errors.js';
import { notFound } from '../errors.js';

/** Where devices fetch bundles: the configured public URL, else the origin the request came to. */
export class DownloadLinks {
  constructor(private readonly publicUrl: string | undefined) {}

  base(c: Context): string {
    return this.publicUrl ?? new URL(c.req.url).origin;
  }

  /** A function giving each bundle's URL; the base is only worked out when a URL is asked for. */
  forBundle(c: Context): BundleUrl {
    return this.withOrigin(() => new URL(c.req.url).origin);
  }

  /** The same, for callers that know the request's origin without a Hono context. */
  withOrigin(origin: () => string): BundleUrl {
    return (bundle) =>
      bundle.location === 'external' && bundle.external_url
        ? bundle.external_url
        : `${this.publicUrl ?? origin()}/download/${bundle.sha256}`;
  }
}

export type BundleUrl = (bundle: { location: string; sha256: string; external_url: string | null }) => string;

/**
 * Bundle bytes by sha256. Content-addressed, so the answer never changes: strong ETag, immutable
 * caching for CDNs, and byte ranges so an interrupted download resumes. Never a Content-Encoding:
 * the plugin verifies the checksum of the bytes exactly as stored.
 */
export function downloadRoutes(services: Services, log: Logger) {
  const routes = new Hono();

  routes.on(['GET', 'HEAD'], '/download/:file', async (c) => {
    try {
      const sha = c.req
        .param('file')
        .replace(/\.zip$/, '')
        .toLowerCase();
      const size = SHA256_HEX.test(sha) ? await services.store.size(sha) : null;
      if (size === null) throw notFound('bundle_not_found', 'No bundle with this checksum');
      const etag = `"${sha}"`;
      const headers: Record<string, string> = {
        'Content-Type': 'application/zip',
        'Accept-Ranges': 'bytes',
        'Cache-Control': 'public, max-age=31536000, immutable',
        ETag: etag,
      };
      if (
        c.req
          .header('if-none-match')
          ?.split(',')
          .some((tag) => tag.trim() === etag || tag.trim() === '*')
      ) {
        return c.body(null, 304, headers);
      }
      const ifRange = c.req.header('if-range');
      const range = ifRange && ifRange !== etag ? 'full' : parseRange(c.req.header('range'), size);
      if (range === 'unsatisfiable') {
        c.header('Content-Range', `bytes */${size}`);
        return c.json(
          { error: 'range_not_satisfiable', message: `The range is outside the bundle's ${size} bytes` },
          416,
        );
      }
      const partial = range !== 'full';
      const span: ByteRange = partial ? range : { start: 0, end: size - 1 };
      headers['Content-Length'] = String(span.end - span.start + 1);
      if (partial) headers['Content-Range'] = `bytes ${span.start}-${span.end}/${size}`;
      const status = partial ? 206 : 200;
      if (c.req.method === 'HEAD' || size === 0) return c.body(null, status, headers);
      const stream = services.store.read(sha, span);
      return c.body(Readable.toWeb(stream) as ReadableStream, status, headers);
    } catch (error) {
      return errorJson(c, error, log);
    }
  });

  return routes;
}

/**
 * One byte range of RFC 9110 (`a-b`, `a-`, `-n`). Multiple ranges or a malformed header fall back to
 * the whole file, which the RFC allows; a range starting past the end is unsatisfiable.
 */
export function parseRange(header: string | undefined, size: number): ByteRange | 'full' | 'unsatisfiable' {
  if (!header) return 'full';
  const match = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!match || (match[1] === '' && match[2] === '')) return 'full';
  const [, first = '', last = ''] = match;
  if (first === '') {
    const suffix = Number(last);
    if (suffix === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(first);
  const end = last === '' ? size - 1 : Math.min(Number(last), size - 1);
  if (start >= size || end < start) return 'unsatisfiable';
  return { start, end };
}
