import { CliError } from './io.js';
import type { Connection } from './settings.js';

export interface RequestOptions {
  query?: Record<string, string | number | undefined>;
  json?: unknown;
  /** A streamed body (bundle upload); `length` lets the server refuse an oversized upload at once. */
  stream?: { body: ReadableStream<Uint8Array>; length: number; type: string };
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
    let body: BodyInit | undefined;
    if (options.stream) {
      headers['content-type'] = options.stream.type;
      headers['content-length'] = String(options.stream.length);
      body = options.stream.body;
    } else if (options.json !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(options.json);
    }
    let response: Response;
    try {
      response = await fetch(url, {
        method,
        headers,
        body,
        ...(options.stream && { duplex: 'half' }),
      } as RequestInit);
    } catch (error) {
      const cause = (error as { cause?: { code?: string; message?: string } }).cause;
      throw new CliError(
        `cannot reach ${this.connection.server}: ${cause?.code ?? cause?.message ?? (error as Error).message}`,
      );
    }
    const text = await response.text();
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      throw new CliError(
        `${method} ${url.pathname}: the server answered ${response.status} with something other than JSON`,
      );
    }
    if (!response.ok) throw new CliError(describeFailure(response.status, parsed as ErrorJson | undefined));
    return parsed as T;
  }
}

type ErrorJson = { error?: string; message?: string };

function describeFailure(status: number, body: ErrorJson | undefined): string {
  const message = body?.message ?? `the server answered HTTP ${status}`;
  if (status === 401) return `not authorised: ${message} (check --token, OVERAIR_TOKEN or \`overair login\`)`;
  if (status === 403) return `forbidden: ${message}`;
  return body?.error ? `${message} [${body.error}]` : message;
}
