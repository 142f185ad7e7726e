import { Readable } from 'node:stream';
import type { Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { Logger } from 'pino';
import { z } from 'zod';
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

/** Largest JSON body any route accepts; bundle uploads stream and have their own limit. */
const MAX_JSON_BYTES = 1024 * 1024;

/**
 * Reads a JSON body of at most MAX_JSON_BYTES; malformed JSON is a 400 and an oversized body a 413,
 * never a crash. Reading stops at the limit, so a huge body never sits in memory. Errors are thrown
 * from here, inside the handler, so each route shapes them (the update check adds `kind`).
 * `whenEmpty` is returned for no body at all.
 */
export function readJson(
  c: Context,
  whenEmpty?: unknown,
  beforeParse?: (text: string) => void,
): Promise<unknown> {
  // On Node, read the request stream itself: asking Hono for the web Request body makes the adapter
  // build a whole Request and a web stream per call, a large share of a small request's cost.
  const incoming = (c.env as { incoming?: AsyncIterable<Uint8Array> } | undefined)?.incoming;
  const body = incoming ?? (c.req.raw.body as AsyncIterable<Uint8Array> | null);
  return parseJsonBody(body, c.req.header('content-length'), whenEmpty, beforeParse);
}

/** readJson for any byte stream (the Node fast path reads the request directly). */
export async function parseJsonBody(
  body: AsyncIterable<Uint8Array> | null,
  contentLength: string | undefined,
  whenEmpty?: unknown,
  beforeParse?: (text: string) => void,
): Promise<unknown> {
  const text = await readBoundedText(body, contentLength, MAX_JSON_BYTES);
  if (text.trim() === '') {
    if (whenEmpty !== undefined) return whenEmpty;
    throw errors.invalidJson({ problem: 'empty' });
  }
  // A route's cheap check of the text, to refuse what would be costly to parse.
  beforeParse?.(text);
  try {
    return JSON.parse(text);
  } catch {
    throw errors.invalidJson({ problem: 'not valid JSON' });
  }
}

async function readBoundedText(
  body: AsyncIterable<Uint8Array> | null,
  contentLength: string | undefined,
  limit: number,
): Promise<string> {
  const tooLarge = () => errors.payloadTooLarge({ what: 'The request body', limit: `${limit} bytes` });
  if (Number(contentLength ?? 0) > limit) throw tooLarge();
  if (!body) return '';
  if (body instanceof Readable) return readNodeStream(body, limit, tooLarge);
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    for await (const chunk of body) {
      size += chunk.length;
      if (size > limit) throw tooLarge();
      chunks.push(chunk);
    }
  } catch (error) {
    // The request stream broke (the client went away): not a fault of ours.
    throw error instanceof OverairError ? error : new ClientAborted(error);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * The same for a Node stream, with plain events: an async iterator per request costs a good share of
 * a small request's time on the hot path.
 */
function readNodeStream(stream: Readable, limit: number, tooLarge: () => Error): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        stream.off('data', onData);
        reject(tooLarge());
      } else {
        chunks.push(chunk);
      }
    };
    stream.on('data', onData);
    stream.once('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    stream.once('error', (error) => reject(new ClientAborted(error)));
  });
}

/** Validates input with a zod schema; the message names each offending field. */
export function parseInput<S extends z.ZodType>(schema: S, value: unknown, where = 'body'): z.output<S> {
  const parsed = schema.safeParse(value);
  if (parsed.success) {
    const nul = pathOfNul(parsed.data);
    if (nul !== null)
      throw errors.invalidRequest({
        problem: `${nul.length ? nul.join('.') : where}: must not contain NUL characters`,
      });
    return parsed.data;
  }
  const problems = parsed.error.issues.slice(0, 5).map((issue) => {
    const field = issue.path.length ? issue.path.join('.') : where;
    return `${field}: ${issue.message}`;
  });
  throw errors.invalidRequest({ problem: problems.join('; ') });
}

/**
 * The path of the first string holding a NUL character, or null. No client has a use for one, and
 * PostgreSQL refuses it in text (stored or compared), which would turn a bad request into a 500 or
 * lose a batch of device events written behind with it.
 */
function pathOfNul(value: unknown, path: string[] = []): string[] | null {
  if (typeof value === 'string') return value.includes('\u0000') ? path : null;
  if (typeof value !== 'object' || value === null) return null;
  for (const [key, item] of Object.entries(value)) {
    const found = pathOfNul(item, [...path, key]);
    if (found !== null) return found;
  }
  return null;
}
