import fs from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import type { Context, Handler } from 'hono';
import { errorBody, errors } from '../errors.js';

/**
 * The web dashboard (web/, built by Vite into dist/web) served by the server itself at `/`: its
 * files, and index.html for every other GET outside the API and device routes, so that the
 * dashboard's own paths (/apps/com.example.app/bundles) can be loaded and reloaded directly.
 */

/** Where `npm run build` puts the dashboard: dist/web, two folders up from src/http or dist/http. */
const DEFAULT_DASHBOARD_DIR = path.resolve(import.meta.dirname, '../../dist/web');

/** Paths that are never the dashboard's: what is not found there stays a JSON 404. */
const RESERVED_PREFIXES = [
  '/api',
  '/download',
  '/updates',
  '/stats',
  '/channel_self',
  '/check',
  '/healthz',
  '/readyz',
  '/metrics',
];

function isReservedPath(pathname: string): boolean {
  return RESERVED_PREFIXES.some((prefix) => pathname === prefix || pathname.startsWith(`${prefix}/`));
}

/** Vite names the files it puts here after their content: they never change, so cache them for a year. */
const HASHED_FOLDER = '/assets/';

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.map': 'application/json',
  '.webmanifest': 'application/manifest+json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
};
const COMPRESSIBLE = new Set([
  '.html',
  '.js',
  '.mjs',
  '.css',
  '.json',
  '.map',
  '.svg',
  '.txt',
  '.webmanifest',
]);
/** Smaller files gain nothing from compression. */
const GZIP_MIN_BYTES = 1024;

/** Headers of every dashboard answer: its own scripts and styles only, never inside a frame. */
const DASHBOARD_SECURITY_HEADERS: Record<string, string> = {
  'Content-Security-Policy':
    "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
  'X-Frame-Options': 'DENY',
  'Referrer-Policy': 'no-referrer',
  'X-Content-Type-Options': 'nosniff',
  'Cross-Origin-Opener-Policy': 'same-origin',
};

const gzipAsync = promisify(gzip);

interface Loaded {
  body: Buffer;
  gzipped: Buffer | null;
  etag: string;
}

/**
 * The Hono handler for `GET *`, registered after every other route. Reserved paths go to the app's
 * JSON 404; a path naming a file of the dashboard folder gets it; a missing file under /assets/ is a
 * 404; anything else gets index.html. A path that decodes to something outside the folder (`..`,
 * backslashes, NUL) is never looked up. Without a built dashboard the answer is a 503 that says how
 * to build it.
 */
export function dashboardHandler(dir: string = DEFAULT_DASHBOARD_DIR): Handler {
  const root = path.resolve(dir);
  /** File contents (and their gzip) by path, valid while size and mtime stay the same. */
  const cache = new Map<string, Loaded>();

  const load = async (file: string): Promise<Loaded | null> => {
    let stat;
    try {
      stat = await fs.stat(file);
    } catch {
      return null;
    }
    if (!stat.isFile()) return null;
    const etag = `W/"${stat.size.toString(16)}-${Math.floor(stat.mtimeMs).toString(16)}"`;
    const cached = cache.get(file);
    if (cached?.etag === etag) return cached;
    const body = await fs.readFile(file);
    const compressible = COMPRESSIBLE.has(path.extname(file)) && body.length >= GZIP_MIN_BYTES;
    const loaded = { body, gzipped: compressible ? await gzipAsync(body) : null, etag };
    cache.set(file, loaded);
    return loaded;
  };

  const send = (c: Context, file: string, loaded: Loaded, cacheControl: string) => {
    const headers: Record<string, string> = {
      ...DASHBOARD_SECURITY_HEADERS,
      'Content-Type': CONTENT_TYPES[path.extname(file)] ?? 'application/octet-stream',
      'Cache-Control': cacheControl,
      ETag: loaded.etag,
      Vary: 'Accept-Encoding',
    };
    const matches = (c.req.header('if-none-match') ?? '').split(/\s*,\s*/).includes(loaded.etag);
    if (matches) return c.body(null, 304, headers);
    const gzip = loaded.gzipped !== null && /\bgzip\b/.test(c.req.header('accept-encoding') ?? '');
    const body = gzip ? loaded.gzipped! : loaded.body;
    if (gzip) headers['Content-Encoding'] = 'gzip';
    headers['Content-Length'] = String(body.length);
    return c.body(new Uint8Array(body), 200, headers);
  };

  return async (c) => {
    const raw = new URL(c.req.url).pathname;
    // The URL parser has already resolved dot segments (/download/.. is /): judge the path as sent too.
    const sent = sentPath(c);
    if (isReservedPath(raw) || isReservedPath(sent) || hasDotSegment(sent)) return c.notFound();
    const index = await load(path.join(root, 'index.html'));
    if (!index) {
      const notBuilt = errors.dashboardNotBuilt({ index: path.join(root, 'index.html') });
      return c.json(errorBody(notBuilt), notBuilt.status);
    }
    const file = resolveInside(root, raw);
    const loaded = file === null ? null : await load(file);
    if (file !== null && loaded) {
      const hashed = raw.startsWith(HASHED_FOLDER);
      return send(c, file, loaded, hashed ? 'public, max-age=31536000, immutable' : 'no-cache');
    }
    if (raw.startsWith(HASHED_FOLDER) || file === null) {
      const missing = errors.notFound({ method: c.req.method, path: raw });
      return c.json(errorBody(missing), missing.status, DASHBOARD_SECURITY_HEADERS);
    }
    return send(c, path.join(root, 'index.html'), index, 'no-cache');
  };
}

/** The request's path exactly as the client sent it (from Node's request), else as parsed. */
function sentPath(c: Context): string {
  const incoming = (c.env as { incoming?: { url?: unknown } } | undefined)?.incoming;
  const url = typeof incoming?.url === 'string' ? incoming.url : new URL(c.req.url).pathname;
  return url.split('?')[0]!;
}

/** Browsers resolve `.` and `..` before sending: a path that still has one is not a page of ours. */
function hasDotSegment(urlPath: string): boolean {
  return urlPath.split(/[/\\]/).some((segment) => {
    try {
      const decoded = decodeURIComponent(segment);
      return decoded === '.' || decoded === '..';
    } catch {
      return false;
    }
  });
}

/**
 * The file a URL path names inside `root`, or null when the path is not one a browser sends for a
 * file of ours: undecodable, with NUL or backslashes, dot segments, hidden names, or leading anywhere
 * outside `root`.
 */
export function resolveInside(root: string, urlPath: string): string | null {
  let decoded: string;
  try {
    decoded = decodeURIComponent(urlPath);
  } catch {
    return null;
  }
  if (decoded.includes('\0') || decoded.includes('\\')) return null;
  const segments = decoded.split('/').filter((segment) => segment !== '');
  if (segments.some((segment) => segment.startsWith('.'))) return null;
  if (segments.length === 0) return path.join(root, 'index.html');
  const file = path.resolve(root, ...segments);
  return file.startsWith(root + path.sep) ? file : null;
}
