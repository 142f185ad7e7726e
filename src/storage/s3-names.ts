/**
 * The rules for the names an S3-compatible store is configured with: bucket, region, key prefix and
 * endpoint. Pure functions without the AWS SDK, so the configuration and the CLI can check their
 * input (and name the setting at fault) without loading it. Each `...Problem` returns what is wrong,
 * or null.
 */

/** SigV4 refuses presigned URLs that live longer than this (7 days). */
export const MAX_PRESIGN_SECONDS = 7 * 86_400;

/**
 * DNS-compatible bucket names (3-63 lowercase letters, digits, "." and "-"). Underscores are allowed
 * too: Ceph and older AWS buckets have them, and the name only ever travels in the path (path style)
 * or as a host label the provider itself chose.
 */
export function s3BucketProblem(bucket: string): string | null {
  if (!/^[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]$/.test(bucket) || bucket.includes('..')) {
    return 'a bucket name is 3-63 lowercase letters, digits, ".", "_" or "-", starting and ending with a letter or digit';
  }
  return null;
}

/** Regions are short words: us-east-1, eu-central-1, auto (R2), garage, ... */
export function s3RegionProblem(region: string): string | null {
  return /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/.test(region)
    ? null
    : 'a region is up to 64 letters, digits, "-" or "_" (e.g. us-east-1, or auto for R2)';
}

/** Characters AWS calls safe in object keys; nothing that needs escaping in a URL path or XML. */
const PREFIX_SEGMENT = /^[A-Za-z0-9!_.*'()-]+$/;

/**
 * A key prefix such as `overair/` or `tenants/acme/`: "/"-separated segments of safe characters, no
 * empty, "." or ".." segment, at most 256 characters. It is where every blob key starts, so a prefix
 * can keep Overair's objects apart from others in a shared bucket.
 */
export function s3PrefixProblem(prefix: string): string | null {
  const segments = prefix.replace(/\/$/, '').split('/');
  const bad =
    prefix.length > 256 ||
    prefix.startsWith('/') ||
    segments.some((segment) => !PREFIX_SEGMENT.test(segment) || segment === '.' || segment === '..');
  return bad
    ? 'a key prefix is "/"-separated parts of letters, digits and !_.*\'()- (e.g. overair/), without leading "/", "." or ".." parts, at most 256 characters'
    : null;
}

/** The prefix as keys use it: empty, or ending with one "/". */
export function normalizePrefix(prefix: string | undefined): string {
  if (!prefix) return '';
  return prefix.endsWith('/') ? prefix : `${prefix}/`;
}

const HOST =
  /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9]([A-Za-z0-9-]{0,62})?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,62})?)*)(:\d{1,5})?$/;

/**
 * The endpoint of a non-AWS provider: a host (`s3.example.com`, `127.0.0.1:7480`) as the Capgo CLI
 * takes it, or an http(s) URL without path, query or credentials (`https://ACCOUNT.r2.cloudflarestorage.com`).
 */
export function s3EndpointProblem(endpoint: string): string | null {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(endpoint)) {
    let url: URL;
    try {
      url = new URL(endpoint);
    } catch {
      return 'expected a host such as s3.example.com or an http(s) URL such as https://s3.example.com';
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') return 'expected an http or https URL';
    if (url.username || url.password)
      return 'credentials do not belong in the endpoint; use the access and secret keys';
    if ((url.pathname !== '/' && url.pathname !== '') || url.search || url.hash) {
      return 'expected the endpoint only, without a path or query (the bucket is a setting of its own)';
    }
    return null;
  }
  return HOST.test(endpoint)
    ? null
    : 'expected a host such as s3.example.com or an http(s) URL such as https://s3.example.com';
}

/**
 * The endpoint URL the SDK is given, as the Capgo CLI builds it from host, port and SSL flag: a bare
 * host gets `https://` (or `http://` with SSL off) and the port; a full URL keeps its own scheme (it
 * says what it means), and a port given separately replaces its port. Undefined means AWS itself,
 * whose endpoint the SDK derives from the region.
 */
export function s3EndpointUrl(
  endpoint: string | undefined,
  port: number | undefined,
  ssl: boolean,
): string | undefined {
  if (!endpoint) return undefined;
  const problem = s3EndpointProblem(endpoint);
  if (problem) throw new Error(`S3 endpoint ${JSON.stringify(endpoint)}: ${problem}`);
  const url = new URL(
    /^[a-z][a-z0-9+.-]*:\/\//i.test(endpoint) ? endpoint : `${ssl ? 'https' : 'http'}://${endpoint}`,
  );
  if (port !== undefined) url.port = String(port);
  return url.origin;
}
