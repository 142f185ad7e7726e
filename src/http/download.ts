import { createHmac, timingSafeEqual } from 'node:crypto';
import { Readable } from 'node:stream';
import { Hono, type Context } from 'hono';
import type { Logger } from 'pino';
import rangeParser from 'range-parser';
import { SHA256_HEX } from '../crypto/hash.js';
import type { BlobStore, ByteRange, PresignOptions } from '../storage/blob-store.js';
import { MAX_PRESIGN_SECONDS } from '../storage/s3-names.js';
import type { Services } from '../services/index.js';
import type { CounterChild } from '../metrics/instruments.js';
import type { DownloadKind } from '../metrics/registry.js';
import { errorJson } from './errors.js';
import { errorBody, errors, type OverairError } from '../errors.js';

/** Private download links: the secret that signs them and how long a link stays valid. */
export interface DownloadSigning {
  secret: string;
  ttlSeconds: number;
}

/** How a download is handed to the store's own presigned URL (see DownloadLinks.redirectWindow). */
export interface RedirectWindow {
  /** When the presigned URL is signed (ms): the start of the current time step. */
  signedAt: number;
  expiresInSeconds: number;
  /** Cache-Control of the 302 itself. */
  cacheControl: string;
  /** Cache-Control the store is asked to serve the bytes with (private links only). */
  objectCacheControl?: string;
}

/**
 * Where devices fetch bundles: the configured public URL, else the origin the request came to. The
 * one place that builds download links (update checks, delta manifests, /check and the admin API
 * all get theirs here) and, for private downloads, the one place that checks them.
 *
 * Private links are `/download/SHA256?exp=UNIX&sig=HMAC`, the HMAC-SHA256 of (sha256, exp) under the
 * download secret, base64url. The expiry is rounded up to a step (a tenth of the lifetime, at most
 * an hour), so a device asking twice gets the same URL, caches can hit, and the HMAC is computed
 * once per bundle and step rather than on every update check.
 */
export class DownloadLinks {
  private readonly signed = new Map<string, { exp: number; query: string }>();

  constructor(
    private readonly publicUrl: string | undefined,
    private readonly signing?: DownloadSigning,
    private readonly now: () => number = Date.now,
    /** Lifetime of presigned URLs behind public links (OVERAIR_DOWNLOAD_URL_TTL; capped at 7 days). */
    private readonly redirectTtlSeconds: number = MAX_PRESIGN_SECONDS,
  ) {}

  /** Whether links carry a signature and the download route refuses those that do not. */
  get isPrivate(): boolean {
    return this.signing !== undefined;
  }

  base(c: Context): string {
    return this.publicUrl ?? new URL(c.req.url).origin;
  }

  /** A function giving each bundle's URL; the base is only worked out when a URL is asked for. */
  forBundle(c: Context): BundleUrl {
    return this.withOrigin(() => new URL(c.req.url).origin);
  }

  /** The same, for callers that know the request's origin without a Hono context. */
  withOrigin(origin: () => string): BundleUrl {
    return (bundle) => {
      if (bundle.location === 'external' && bundle.external_url) return bundle.external_url;
      const path = this.pathOf(bundle.sha256);
      // A delta file is not a zip: the link says so, and the download is typed accordingly.
      const kind = bundle.file ? `${path.includes('?') ? '&' : '?'}${FILE_KIND}` : '';
      return `${this.publicUrl ?? origin()}${path}${kind}`;
    };
  }

  /**
   * The base URL of a bundle's files for the Capawesome Live Update plugin, which appends `?href=`.
   * iOS replaces the whole query when it does, so a private link carries `EXP.SIG` in the path.
   */
  filesUrl(origin: string, appId: string, version: string): string {
    const path = `/v1/apps/${encodeURIComponent(appId)}/bundles/${encodeURIComponent(version)}/files`;
    if (!this.signing) return `${this.publicUrl ?? origin}${path}`;
    const query = new URLSearchParams(this.pathOf(filesKey(appId, version)).split('?')[1]);
    return `${this.publicUrl ?? origin}${path}/${query.get('exp')}.${query.get('sig')}`;
  }

  /** Path and query of a stored bundle's link. */
  pathOf(sha256: string): string {
    if (!this.signing) return `/download/${sha256}`;
    const { secret, ttlSeconds } = this.signing;
    const step = signingStep(ttlSeconds);
    const exp = Math.ceil((Math.floor(this.now() / 1000) + ttlSeconds) / step) * step;
    let entry = this.signed.get(sha256);
    if (entry?.exp !== exp) {
      if (this.signed.size >= 10_000) this.signed.clear();
      entry = { exp, query: `exp=${exp}&sig=${downloadSignature(secret, sha256, exp)}` };
      this.signed.set(sha256, entry);
    }
    return `/download/${sha256}?${entry.query}`;
  }

  /**
   * Why a download request may not be served, or null when it may. Without private downloads every
   * request may. The signature is checked before the expiry, so "expired" is only ever said of a
   * link this server made, and before the bundle is looked up, so an unsigned request learns
   * nothing about which bundles exist.
   */
  refusal(sha256: string, exp: string | undefined, sig: string | undefined): OverairError | null {
    if (!this.signing) return null;
    const invalid = errors.invalidDownloadLink();
    if (!exp || !sig || !/^\d{1,12}$/.test(exp) || !/^[A-Za-z0-9_-]{43}$/.test(sig)) return invalid;
    const expected = Buffer.from(downloadSignature(this.signing.secret, sha256, Number(exp)));
    if (!timingSafeEqual(expected, Buffer.from(sig))) return invalid;
    if (Number(exp) * 1000 <= this.now()) {
      return errors.downloadLinkExpired();
    }
    return null;
  }

  /** Seconds a private link stays valid from now (for Cache-Control). */
  secondsLeft(exp: string | undefined): number {
    return Math.max(0, Number(exp ?? 0) - Math.floor(this.now() / 1000));
  }

  /**
   * When a download is redirected to a presigned URL of the store (S3): what to sign and how long
   * the redirect may be cached. Call it only for a request `refusal` let through.
   *
   * - Lifetime: a private link's presigned URL never outlives the link (its `exp`); a public link's
   *   lives OVERAIR_DOWNLOAD_URL_TTL. SigV4 caps both at 7 days.
   * - The URL is signed at the start of a time step (a tenth of the lifetime, at most an hour), so
   *   every request of a step gets the same URL: a device resuming a download, or a CDN, hits.
   * - The 302 is cached only until the step ends: a shared cache that kept it longer would hand out
   *   a presigned URL ever closer to its expiry, and after it a dead one, so the redirect's max-age
   *   must stay well inside the presign's life. `must-revalidate` stops a cache serving it stale
   *   (e.g. while this server is down). Private links' redirects, like their bytes, are `private`:
   *   a presigned URL is a bearer credential until it expires, no shared cache may keep it.
   */
  redirectWindow(exp: string | undefined): RedirectWindow {
    const nowSeconds = Math.floor(this.now() / 1000);
    const lifetime = Math.min(this.signing?.ttlSeconds ?? this.redirectTtlSeconds, MAX_PRESIGN_SECONDS);
    const step = signingStep(lifetime);
    const signedAt = Math.floor(nowSeconds / step) * step;
    const expiresAt = this.signing
      ? Math.min(Number(exp), signedAt + MAX_PRESIGN_SECONDS)
      : signedAt + lifetime;
    const maxAge = Math.max(0, Math.min(signedAt + step, expiresAt) - nowSeconds);
    const expiresInSeconds = Math.max(1, expiresAt - signedAt);
    return {
      signedAt: signedAt * 1000,
      expiresInSeconds,
      cacheControl: this.signing
        ? `private, max-age=${maxAge}`
        : `public, max-age=${maxAge}, must-revalidate`,
      ...(this.signing && { objectCacheControl: `private, max-age=${expiresInSeconds}` }),
    };
  }
}

/**
 * The time step that signed links and presigned URLs are rounded to: a tenth of their lifetime, at
 * most an hour, so that every request in a step gets the same URL (caches hit, signing is done once).
 */
function signingStep(lifetimeSeconds: number): number {
  return Math.min(3600, Math.max(1, Math.floor(lifetimeSeconds / 10)));
}

/**
 * The signature of a private download link: HMAC-SHA256 under the download secret over a
 * domain-separated message, so the secret signs nothing else, as 43 base64url characters.
 */
export function downloadSignature(secret: string, sha256: string, exp: number): string {
  return createHmac('sha256', secret).update(`overair-download-v1\n${sha256}\n${exp}`).digest('base64url');
}

/** What a private files link signs in place of a sha256 (never 64 hex characters, so never one). */
export function filesKey(appId: string, version: string): string {
  return `files\n${appId}\n${version}`;
}

export type BundleUrl = (bundle: {
  location: string;
  sha256: string;
  external_url: string | null;
  /** One file of a bundle (a delta manifest's entry), not a bundle zip. */
  file?: boolean;
}) => string;

/**
 * The query parameter of a delta file's link: served as application/octet-stream, not as a zip.
 * Only the Content-Type depends on it, so a private link's signature need not cover it.
 */
const FILE_KIND = 'kind=file';

/**
 * Bundle bytes by sha256. Content-addressed, so the answer never changes: strong ETag, immutable
 * caching for CDNs, and byte ranges so an interrupted download resumes. Never a Content-Encoding:
 * the plugin verifies the checksum of the bytes exactly as stored. With private downloads, only a
 * signed, unexpired link is served (403 JSON otherwise), and only to private caches.
 *
 * A store that makes presigned URLs (S3) is not streamed through this server: after the same checks
 * (link signature, the blob's existence, If-None-Match) the answer is a 302 to the bucket, which
 * serves bytes, ranges and the file name hint itself; HEAD is redirected to a presigned HEAD (a GET
 * signature does not cover HEAD). See DownloadLinks.redirectWindow for lifetimes and caching.
 */
/** Adds the bytes read from a stream to a counter as they go by (after the stream's consumer is attached). */
export function countBytes(stream: Readable, counter: CounterChild): void {
  stream.on('data', (chunk: Buffer) => counter.inc(chunk.length));
}

export function downloadRoutes(services: Services, links: DownloadLinks, log: Logger) {
  const routes = new Hono();
  const presigned = new PresignedUrls(services.store);

  routes.on(['GET', 'HEAD'], '/download/:file', async (c) => {
    try {
      const sha = c.req
        .param('file')
        .replace(/\.zip$/, '')
        .toLowerCase();
      const [exp, sig] = [c.req.query('exp'), c.req.query('sig')];
      const refusal = links.refusal(sha, exp, sig);
      if (refusal) {
        c.header('Cache-Control', 'no-store');
        throw refusal;
      }
      const size = SHA256_HEX.test(sha) ? await services.store.size(sha) : null;
      if (size === null) throw errors.bundleNotFound({ sha256: sha });
      const etag = `"${sha}"`;
      // A file name hint (native builds' links carry one): strict characters only, so it is safe in the header.
      const name = c.req.query('name');
      const fileName = name && NATIVE_FILE_NAME.test(name) ? name : undefined;
      const kind: DownloadKind =
        fileName !== undefined ? 'native' : c.req.query('kind') === 'file' ? 'file' : 'bundle';
      const headers: Record<string, string> = {
        // Neither plugin looks at it (docs/protocol-capgo-sources.md §7.3): it is for proxies and people.
        'Content-Type': fileName?.endsWith('.apk')
          ? 'application/vnd.android.package-archive'
          : c.req.query('kind') === 'file'
            ? 'application/octet-stream'
            : 'application/zip',
        ...(fileName && { 'Content-Disposition': `attachment; filename="${fileName}"` }),
        'Accept-Ranges': 'bytes',
        // A private link is for whoever holds it, until it expires: no shared cache may keep it (one
        // that ignored the query string would hand the bytes to anyone).
        'Cache-Control': links.isPrivate
          ? `private, max-age=${links.secondsLeft(exp)}`
          : 'public, max-age=31536000, immutable',
        ETag: etag,
      };
      if (
        c.req
          .header('if-none-match')
          ?.split(',')
          .some((tag) => tag.trim() === etag || tag.trim() === '*')
      ) {
        services.metrics.downloaded(kind, 'not_modified');
        return c.body(null, 304, headers);
      }
      if (presigned.available) {
        const window = links.redirectWindow(exp);
        const location = await presigned.url(sha, {
          method: c.req.method === 'HEAD' ? 'HEAD' : 'GET',
          signedAt: window.signedAt,
          expiresInSeconds: window.expiresInSeconds,
          fileName,
          contentType: headers['Content-Type'],
          cacheControl: window.objectCacheControl,
        });
        services.metrics.downloaded(kind, 'redirect');
        return c.body(null, 302, { Location: location, 'Cache-Control': window.cacheControl });
      }
      const ifRange = c.req.header('if-range');
      const range = ifRange && ifRange !== etag ? 'full' : parseRange(c.req.header('range'), size);
      if (range === 'unsatisfiable') {
        c.header('Content-Range', `bytes */${size}`);
        const unsatisfiable = errors.rangeNotSatisfiable({ size });
        return c.json(errorBody(unsatisfiable), unsatisfiable.status);
      }
      const partial = range !== 'full';
      const span: ByteRange = partial ? range : { start: 0, end: size - 1 };
      headers['Content-Length'] = String(span.end - span.start + 1);
      if (partial) headers['Content-Range'] = `bytes ${span.start}-${span.end}/${size}`;
      const status = partial ? 206 : 200;
      if (c.req.method === 'HEAD' || size === 0) return c.body(null, status, headers);
      services.metrics.downloaded(kind, partial ? 'partial' : 'full');
      const stream = services.store.read(sha, span);
      const body = Readable.toWeb(stream) as ReadableStream;
      countBytes(stream, services.metrics.bytesOf(kind));
      return c.body(body, status, headers);
    } catch (error) {
      return errorJson(c, error, log);
    }
  });

  return routes;
}

/**
 * The store's presigned URLs, remembered while their signing step lasts: the same request in the
 * same step gets the same URL, so signing (a handful of HMACs) happens once per blob and step.
 */
class PresignedUrls {
  private readonly cache = new Map<string, string>();

  constructor(private readonly store: BlobStore) {}

  get available(): boolean {
    return this.store.presignedUrl !== undefined;
  }

  async url(sha256: string, options: PresignOptions): Promise<string> {
    const key = JSON.stringify([sha256, options]);
    let url = this.cache.get(key);
    if (url === undefined) {
      url = await this.store.presignedUrl!(sha256, options);
      if (this.cache.size >= 10_000) this.cache.clear();
      this.cache.set(key, url);
    }
    return url;
  }
}

/** The file names a download may be given: safe characters and a known extension. */
const NATIVE_FILE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,199}\.(apk|aab|ipa|zip)$/;

/**
 * The byte range a Range header asks for, read by range-parser. One range of bytes is served;
 * several ranges, another unit or a malformed header are ignored and the whole file served, as RFC
 * 9110 §14.2 allows. range-parser answers -1 ("unsatisfiable") in three cases that the RFC tells
 * apart, so a -1 is looked at again:
 * - a range invalid whatever the file's size (`bytes=10-5`: first past last) must be ignored, not
 *   answered 416; asked again with no bound on the size, range-parser still finds nothing;
 * - a suffix longer than the file (`bytes=-5000` of 1000 bytes) means the whole file (§14.1.2);
 * - a range starting past the end is unsatisfiable (416).
 */
export function parseRange(header: string | undefined, size: number): ByteRange | 'full' | 'unsatisfiable' {
  if (!header) return 'full';
  // The last zero bytes: valid, and never satisfiable (§14.1.1).
  if (EMPTY_SUFFIX.test(header)) return 'unsatisfiable';
  const ranges = rangeParser(size, header);
  if (ranges === -2) return 'full';
  if (ranges !== -1) return single(ranges) ?? 'full';
  const unbounded = rangeParser(Number.MAX_SAFE_INTEGER, header);
  if (unbounded === -1 || unbounded === -2 || single(unbounded) === undefined) return 'full';
  return SUFFIX_RANGE.test(header) && size > 0 ? { start: 0, end: size - 1 } : 'unsatisfiable';
}

const EMPTY_SUFFIX = /^bytes=\s*-0+\s*$/i;

/** `bytes=-N`: the last N bytes (range-parser has read it already; this only tells its form). */
const SUFFIX_RANGE = /^bytes=\s*-/i;

function single(ranges: rangeParser.Ranges): ByteRange | undefined {
  return ranges.type.toLowerCase() === 'bytes' && ranges.length === 1 ? ranges[0] : undefined;
}
