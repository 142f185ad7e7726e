import http from 'node:http';
import https from 'node:https';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { CliError } from './io.js';
import type { Connection } from './settings.js';

export interface RequestOptions {
  query?: Record<string, string | number | undefined>;
  json?: unknown;
  /** A streamed body (bundle upload); `length` lets the server refuse an oversized upload at once. */
  stream?: { body: Readable; length: number; type: string };
}

/** The admin API as the CLI sees it: JSON in and out, every failure turned into one clear message. */
export class ApiClient {
  constructor(private readonly connection: Connection) {}

  get server(): string {
    return this.connection.server;
  }

  get<T>(route: string, query?: RequestOptions['query']): Promise<T> {
    return this.request<T>('GET', route, { query });
  }

  post<T>(route: string, json?: unknown): Promise<T> {
    return this.request<T>('POST', route, { json });
  }

  put<T>(route: string, json?: unknown): Promise<T> {
    return this.request<T>('PUT', route, { json });
  }

  patch<T>(route: string, json?: unknown): Promise<T> {
    return this.request<T>('PATCH', route, { json });
  }

  delete<T>(route: string): Promise<T> {
    return this.request<T>('DELETE', route, {});
  }

  async request<T>(method: string, route: string, options: RequestOptions): Promise<T> {
    const url = new URL(`${this.connection.server}/api/v1${route}`);
    for (const [key, value] of Object.entries(options.query ?? {})) {
      if (value !== undefined) url.searchParams.set(key, String(value));
    }
    const headers: Record<string, string> = { authorization: `Bearer ${this.connection.token}` };
    let status: number;
    let text: string;
    try {
      if (options.stream) {
        headers['content-type'] = options.stream.type;
        headers['content-length'] = String(options.stream.length);
        ({ status, text } = await streamRequest(method, url, headers, options.stream.body));
      } else {
        if (options.json !== undefined) headers['content-type'] = 'application/json';
        const body = options.json === undefined ? undefined : JSON.stringify(options.json);
        const response = await fetch(url, { method, headers, body });
        ({ status, text } = { status: response.status, text: await response.text() });
      }
    } catch (error) {
      const cause =
        (error as { cause?: { code?: string; message?: string } }).cause ?? (error as { code?: string });
      throw new CliError(
        `cannot reach ${this.connection.server}: ${cause?.code ?? (error as Error).message}`,
      );
    }
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      throw new CliError(
        `${method} ${url.pathname}: the server answered ${status} with something other than JSON`,
      );
    }
    if (status < 200 || status > 299)
      throw new CliError(describeFailure(status, parsed as ErrorJson | undefined));
    return parsed as T;
  }

  /**
   * A GET answered with a stream of server-sent events: the answer's body, or the failure as one
   * clear message (like every other call). `lastEventId` resumes a dropped stream.
   */
  async openStream(
    route: string,
    options: { lastEventId?: string; signal?: AbortSignal } = {},
  ): Promise<ReadableStream<Uint8Array>> {
    const url = new URL(`${this.connection.server}/api/v1${route}`);
    const headers: Record<string, string> = {
      authorization: `Bearer ${this.connection.token}`,
      accept: 'text/event-stream',
    };
    if (options.lastEventId !== undefined) headers['last-event-id'] = options.lastEventId;
    let response: Response;
    try {
      response = await fetch(url, { headers, signal: options.signal });
    } catch (error) {
      if (options.signal?.aborted) throw error;
      const cause = (error as { cause?: { code?: string } }).cause;
      throw new StreamUnreachable(
        `cannot reach ${this.connection.server}: ${cause?.code ?? (error as Error).message}`,
      );
    }
    if (response.status >= 200 && response.status <= 299 && response.body) return response.body;
    let parsed: ErrorJson | undefined;
    try {
      parsed = (await response.json()) as ErrorJson;
    } catch {
      parsed = undefined;
    }
    // A gateway or an instance going away: worth another try, unlike a refusal.
    if (response.status === 502 || response.status === 503 || response.status === 504)
      throw new StreamUnreachable(describeFailure(response.status, parsed));
    throw new CliError(describeFailure(response.status, parsed));
  }
}

/** The server could not be reached or answered that it is unavailable: a stream may try again. */
export class StreamUnreachable extends Error {
  override name = 'StreamUnreachable';
}

type ErrorJson = { error?: string; message?: string };

function describeFailure(status: number, body: ErrorJson | undefined): string {
  const message = body?.message ?? `the server answered HTTP ${status}`;
  if (status === 401) return `not authorised: ${message} (check --token, OVERAIR_TOKEN or \`overair login\`)`;
  if (status === 403) return `forbidden: ${message}`;
  return body?.error ? `${message} [${body.error}]` : message;
}

/**
 * A request with a streamed body over node:http(s). Node's fetch keeps a whole streamed request body
 * in memory (nodejs/undici#4058), so a 200 MB upload would cost 200 MB; this stays flat. When the
 * server answers before the body is sent (a 409 or 413), its answer wins over the broken pipe.
 */
function streamRequest(
  method: string,
  url: URL,
  headers: Record<string, string>,
  body: Readable,
): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const send = url.protocol === 'https:' ? https.request : http.request;
    let answered = false;
    const request = send(url, { method, headers }, (response) => {
      answered = true;
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () =>
        resolve({ status: response.statusCode ?? 0, text: Buffer.concat(chunks).toString() }),
      );
      response.on('error', reject);
    });
    pipeline(body, request).catch((error: unknown) => {
      if (!answered) reject(error);
    });
  });
}
