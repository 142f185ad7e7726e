import { S3Client } from '@aws-sdk/client-s3';
import { SOCKET_CODES } from '../db/unavailable.js';

/** How to reach an S3-compatible service; the same for the server's store and the CLI's direct upload. */
export interface S3Connection {
  /** Full endpoint URL (see s3EndpointUrl); undefined for AWS itself. */
  endpoint?: string;
  region: string;
  /**
   * Static keys, both or neither. Without them the SDK's default credential chain finds them: the
   * AWS_* environment variables, a shared profile (~/.aws, AWS_PROFILE), web identity (EKS IRSA),
   * the ECS or EC2 instance role, so that no long-lived key need be stored in Overair's settings.
   */
  accessKeyId?: string;
  secretAccessKey?: string;
  /**
   * `https://endpoint/bucket/key` rather than `https://bucket.endpoint/key`: what Ceph, MinIO-likes and
   * IP-address endpoints need, and what AWS and R2 still accept. On by default.
   */
  forcePathStyle: boolean;
}

/** A TCP connection to the store that is not up within this is a dead endpoint, not a slow one. */
const CONNECT_TIMEOUT_MS = 5_000;
/**
 * A socket with no byte moving for this long is given up (and the request retried): a stalled
 * connection must not hang an upload or a device's download forever. Idle time only, so a large
 * object that keeps flowing is never cut off.
 */
const SOCKET_IDLE_TIMEOUT_MS = 60_000;
/** One try and two retries, with the SDK's jittered back-off, for throttling and 5xx answers. */
const MAX_ATTEMPTS = 3;

export function createS3Client(connection: S3Connection): S3Client {
  return new S3Client({
    ...(connection.endpoint !== undefined && { endpoint: connection.endpoint }),
    region: connection.region,
    forcePathStyle: connection.forcePathStyle,
    ...(connection.accessKeyId !== undefined &&
      connection.secretAccessKey !== undefined && {
        credentials: { accessKeyId: connection.accessKeyId, secretAccessKey: connection.secretAccessKey },
      }),
    maxAttempts: MAX_ATTEMPTS,
    retryMode: 'standard',
    requestHandler: {
      connectionTimeout: CONNECT_TIMEOUT_MS,
      socketTimeout: SOCKET_IDLE_TIMEOUT_MS,
    },
    // The SDK's default "flexible checksums" (CRC32 trailers on every upload, and a checksum parameter
    // on presigned GETs) are not understood by every S3-compatible service (older Ceph, some gateways),
    // and add nothing here: every blob is content-addressed and its sha256 checked by whoever reads it.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

/**
 * Whether an error is the S3 service being unreachable or failing (after the SDK's retries): a
 * connection refused, reset or timed out, or a 5xx answer. Such an error is a 503 the client may
 * retry, not a bug. Only SDK errors count (they carry `$metadata`): a reset of the client's own
 * upload stream is not the store's fault.
 */
export function isStorageUnavailable(error: unknown): boolean {
  const e = error as { name?: string; code?: unknown; $metadata?: { httpStatusCode?: number } } | null;
  if (typeof e !== 'object' || e === null || e.$metadata === undefined) return false;
  if (typeof e.code === 'string' && SOCKET_CODES.has(e.code)) return true;
  if (e.name === 'TimeoutError' || e.name === 'RequestTimeout') return true;
  return (e.$metadata.httpStatusCode ?? 0) >= 500;
}

/** Whether an SDK error means "no such object" (HeadObject says NotFound, GetObject NoSuchKey). */
export function isNotFound(error: unknown): boolean {
  const e = error as { name?: string; $metadata?: { httpStatusCode?: number } };
  return e?.name === 'NotFound' || e?.name === 'NoSuchKey' || e?.$metadata?.httpStatusCode === 404;
}

/**
 * An SDK error in a line: its name, the HTTP status, and the service's message when there is one
 * (a HEAD answer has no body, hence the SDK's "UnknownError"). Never credentials: errors hold none.
 */
export function describeS3Error(error: unknown): string {
  const e = error as { name?: string; message?: string; $metadata?: { httpStatusCode?: number } };
  const status = e?.$metadata?.httpStatusCode;
  const message = e?.message && e.message !== 'UnknownError' && e.message !== e.name ? `: ${e.message}` : '';
  return `${e?.name ?? 'Error'}${status ? ` (HTTP ${status})` : ''}${message}`;
}
