import { Readable } from 'node:stream';
import type { Context } from 'hono';
import { ClientAborted, OverairError, errors } from '../errors.js';

/**
 * Reading JSON request bodies: bounded in size, a malformed body a 400 and an oversized one a 413
 * (OverairError, thrown to the route, which shapes it), a client that goes away ClientAborted.
 */

/** Largest JSON body any route accepts; bundle uploads stream and have their own limit. */
const MAX_JSON_BYTES = 1024 * 1024;

const tooLargeError = (limit: number) =>
  errors.payloadTooLarge({ what: 'The request body', limit: `${limit} bytes` });

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
  return readBodyText(requestBody(c), c.req.header('content-length')).then((text) =>
    parseJsonText(text, whenEmpty, beforeParse),
  );
}

/**
 * The request's body stream. On Node, the request stream itself: asking Hono for the web Request
 * body makes the adapter build a whole Request and a web stream per call, a large share of a small
 * request's cost.
 */
export function requestBody(c: Context): AsyncIterable<Uint8Array> | null {
  const incoming = (c.env as { incoming?: AsyncIterable<Uint8Array> } | undefined)?.incoming;
  return incoming ?? (c.req.raw.body as AsyncIterable<Uint8Array> | null);
}

/** The body as text, of at most MAX_JSON_BYTES (a 413 beyond, at once when Content-Length says so). */
export function readBodyText(
  body: AsyncIterable<Uint8Array> | null,
  contentLength: string | undefined,
): Promise<string> {
  return readBoundedText(body, contentLength, MAX_JSON_BYTES);
}

/**
 * A body's text as JSON: `whenEmpty` for no body at all (a 400 when not given), a 400 when it does
 * not parse. `beforeParse` is a route's cheap check of the text, to refuse what would be costly to parse.
 */
export function parseJsonText(
  text: string,
  whenEmpty?: unknown,
  beforeParse?: (text: string) => void,
): unknown {
  beforeParse?.(text);
  try {
    return JSON.parse(text);
  } catch {
    // Only a failed parse asks whether the body was empty: no copy of every body to trim it.
    if (text.trim() !== '') throw errors.invalidJson({ problem: 'not valid JSON' });
    if (whenEmpty !== undefined) return whenEmpty;
    throw errors.invalidJson({ problem: 'empty' });
  }
}

function readBoundedText(
  body: AsyncIterable<Uint8Array> | null,
  contentLength: string | undefined,
  limit: number,
): Promise<string> {
  const tooLarge = () => tooLargeError(limit);
  if (Number(contentLength ?? 0) > limit) return Promise.reject(tooLarge());
  if (!body) return Promise.resolve('');
  if (body instanceof Readable) return readNodeStream(body, limit, tooLarge);
  return readIterable(body, limit, tooLarge);
}

async function readIterable(
  body: AsyncIterable<Uint8Array>,
  limit: number,
  tooLarge: () => Error,
): Promise<string> {
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
  return new Promise((resolve, reject) =>
    readNodeText(stream, limit, tooLarge, (error, text) => (error ? reject(error) : resolve(text))),
  );
}

/** What a body read calls once: with an error, or with the body's text. */
export type BodyTextCallback = (error: Error | null, text: string) => void;

/**
 * readBodyText for a Node request, calling back instead of returning a promise: the update check's
 * hot path, where each promise and its turn cost a measurable share of a check.
 */
export function readRequestText(
  stream: Readable,
  contentLength: string | undefined,
  done: BodyTextCallback,
): void {
  const tooLarge = () => tooLargeError(MAX_JSON_BYTES);
  if (Number(contentLength ?? 0) > MAX_JSON_BYTES) done(tooLarge(), '');
  else readNodeText(stream, MAX_JSON_BYTES, tooLarge, done);
}

function readNodeText(stream: Readable, limit: number, tooLarge: () => Error, done: BodyTextCallback): void {
  const chunks: Buffer[] = [];
  let size = 0;
  let settled = false;
  const settle = (error: Error | null, text: string) => {
    if (settled) return;
    settled = true;
    stream.off('data', onData);
    done(error, text);
  };
  const onData = (chunk: Buffer) => {
    size += chunk.length;
    if (size > limit) settle(tooLarge(), '');
    else chunks.push(chunk);
  };
  stream.on('data', onData);
  // A device's request comes in one chunk: no copy then.
  stream.on('end', () =>
    settle(null, (chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)).toString('utf8')),
  );
  stream.on('error', (error) => settle(new ClientAborted(error), ''));
}
