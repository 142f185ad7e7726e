import type { Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { Logger } from 'pino';
import { isDatabaseUnavailable } from '../db/unavailable.js';
import { atMostEvery } from '../log.js';
import {
  ClientAborted,
  DATABASE_RETRY_AFTER_SECONDS,
  OverairError,
  databaseUnavailable,
  errorBody,
  errors,
  storageUnavailable,
} from '../errors.js';
import { isStorageUnavailable } from '../storage/s3-client.js';

export interface ErrorBody {
  error: string;
  message: string;
}

/**
 * Maps anything thrown in a handler to a status and a JSON {error, message}; never a stack trace.
 * `headers` go out with it (Retry-After on a 503 of a database outage).
 */
export function toErrorResponse(
  error: unknown,
  log: Logger,
): { status: ContentfulStatusCode; body: ErrorBody; headers: Record<string, string> } {
  // Storage before the database: the database test would take the SDK's socket errors for its own.
  const outage = isStorageUnavailable(error)
    ? { answer: storageUnavailable(), logOnce: logStorageOutage }
    : isDatabaseUnavailable(error)
      ? { answer: databaseUnavailable(), logOnce: logOutage }
      : undefined;
  if (outage) {
    outage.logOnce(log, error);
    const { status, code, message } = outage.answer;
    return {
      status,
      body: { error: code, message },
      headers: { 'retry-after': String(DATABASE_RETRY_AFTER_SECONDS) },
    };
  }
  if (error instanceof ClientAborted) {
    // Nobody is there to read the answer; the request log and audit still show it. Not an error of
    // ours: an upload interrupted by the client's network, or a client cut for sending nothing.
    const cause = error.cause as { code?: unknown; message?: unknown } | undefined;
    log.info({ cause: cause?.code ?? cause?.message }, 'request body not received: the client went away');
  }
  if (error instanceof OverairError)
    return {
      status: error.status,
      body: { error: error.code, message: error.message },
      headers: closeAfter(error.status),
    };
  if (error instanceof HTTPException) {
    // The code comes from the registry; the message is the HTTP layer's own.
    const { code } = error.status === 413 ? errors.payloadTooLarge : errors.badRequest;
    return {
      status: error.status,
      body: { error: code, message: error.message || 'Bad request' },
      headers: closeAfter(error.status),
    };
  }
  log.error({ err: error }, 'unhandled error');
  return { status: 500, body: errorBody(errors.internalError()), headers: {} };
}

/**
 * A 413 closes the connection after the answer: what is left of an oversized body is never read
 * (Node would otherwise read and discard it, however long, to keep the connection alive).
 */
function closeAfter(status: number): Record<string, string> {
  return status === 413 ? { connection: 'close' } : {};
}

/** During an outage every request fails alike: one warning per interval, not one per request. */
const logOutage = atMostEvery(10_000, (log: Logger, error: unknown) =>
  log.warn({ err: error }, 'the database is unreachable: answering 503 to requests that need it'),
);
const logStorageOutage = atMostEvery(10_000, (log: Logger, error: unknown) =>
  log.warn({ err: error }, 'the bundle storage is unreachable: answering 503 to requests that need it'),
);

export function errorJson(c: Context, error: unknown, log: Logger, extra: Record<string, string> = {}) {
  const { status, body, headers } = toErrorResponse(error, log);
  return c.json({ ...body, ...extra }, status, headers);
}
