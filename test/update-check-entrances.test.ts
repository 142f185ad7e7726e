/**
 * The update check has two entrances: the Node fast path (src/http/node-listener.ts, what a socket
 * reaches) and the Hono route (what `app.request()` and other runtimes reach). Both only write what
 * src/http/update-check.ts answers: the same request must get the same status, headers that matter
 * to the plugin, and body, whichever way it came in.
 */
import fs from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VECTORS, deviceInfo, startTestServer, uploadBundle, type TestServer } from './helpers/server.js';

const APP = 'com.example.entrances';
const PUBLIC_URL = 'https://updates.example.com';

interface Answer {
  status: number;
  headers: Record<string, string | undefined>;
  body: unknown;
}

/** Through a socket (node:http, so the body is sent exactly as given). */
function viaSocket(server: TestServer, body: string, headers: Record<string, string> = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const request = http.request(
      `${server.url}/updates`,
      { method: 'POST', headers: { 'content-type': 'application/json', ...headers } },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () =>
          resolve({
            status: response.statusCode ?? 0,
            headers: {
              'content-type': response.headers['content-type'],
              'retry-after': response.headers['retry-after'],
              // Node adds keep-alive to every answer on a socket: only a close is the check's own.
              connection: response.headers.connection === 'close' ? 'close' : undefined,
            },
            body: JSON.parse(Buffer.concat(chunks).toString('utf8')),
          }),
        );
      },
    );
    request.on('error', reject);
    request.end(body);
  });
}

/** Through the Hono app, no socket. */
async function viaHono(
  server: TestServer,
  body: string,
  headers: Record<string, string> = {},
): Promise<Answer> {
  const response = await server.app.request('/updates', {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body,
  });
  return {
    status: response.status,
    headers: {
      'content-type': response.headers.get('content-type') ?? undefined,
      'retry-after': response.headers.get('retry-after') ?? undefined,
      connection: response.headers.get('connection') ?? undefined,
    },
    body: await response.json(),
  };
}

describe('both entrances of the update check answer alike', () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer({ OVERAIR_PUBLIC_URL: PUBLIC_URL });
    await server.api('POST', '/apps', { id: APP });
    const zip = await fs.readFile(path.join(VECTORS, 'bundle.zip'));
    expect((await uploadBundle(server, APP, zip, { version: '1.0.1' })).status).toBe(201);
    expect(
      (await server.api('PUT', `/apps/${APP}/channels/production/bundle`, { version: '1.0.1' })).status,
    ).toBe(200);
  });
  afterAll(() => server.stop());

  const info = (overrides: Record<string, unknown> = {}) =>
    JSON.stringify(deviceInfo({ app_id: APP, ...overrides }));
  const cases: [string, () => string, { status: number; error?: string; kind?: string }][] = [
    [
      'up to date',
      () => info({ version_name: '1.0.1' }),
      { status: 200, error: 'no_new_version_available', kind: 'up_to_date' },
    ],
    ['an update', () => info({ version_name: '1.0.0' }), { status: 200 }],
    ['an update for an old plugin (no manifest)', () => info({ plugin_version: '4.0.0' }), { status: 200 }],
    ['not JSON', () => '{"app_id":', { status: 400, error: 'invalid_json', kind: 'failed' }],
    ['an empty body', () => '', { status: 400, error: 'invalid_json', kind: 'failed' }],
    ['a JSON array', () => '[]', { status: 400, error: 'invalid_request', kind: 'failed' }],
    [
      'no device id',
      () => JSON.stringify({ app_id: APP }),
      { status: 400, error: 'invalid_request', kind: 'failed' },
    ],
    [
      'a NUL in a field',
      () => info({ custom_id: 'a\u0000b' }),
      { status: 400, error: 'invalid_request', kind: 'failed' },
    ],
    [
      'an unknown app',
      () => info({ app_id: 'com.example.none' }),
      { status: 404, error: 'app_not_found', kind: 'failed' },
    ],
  ];

  for (const [name, body, expected] of cases) {
    it(name, async () => {
      const socket = await viaSocket(server, body());
      const hono = await viaHono(server, body());
      expect(socket).toEqual(hono);
      expect(socket.status).toBe(expected.status);
      expect(socket.headers['content-type']).toMatch(/^application\/json/);
      const answer = socket.body as { error?: string; kind?: string; version?: string; manifest?: unknown };
      expect(answer.error).toBe(expected.error);
      expect(answer.kind).toBe(expected.kind);
      if (expected.status === 200 && expected.kind === undefined) {
        expect(answer.version).toBe('1.0.1');
        expect(answer.manifest !== undefined).toBe(!name.includes('old plugin'));
      }
    });
  }

  it('the same update answer for every device, from the kept text', async () => {
    const first = await viaSocket(server, info({ device_id: 'device-one', version_name: '1.0.0' }));
    const second = await viaSocket(server, info({ device_id: 'device-two', version_name: '1.0.0' }));
    expect(second.body).toEqual(first.body);
    expect((first.body as { url: string }).url.startsWith(`${PUBLIC_URL}/download/`)).toBe(true);
  });
});

describe('the device rate limit, at both entrances', () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer({
      OVERAIR_DEVICE_RATE_LIMIT: '1',
      OVERAIR_DEVICE_RATE_WINDOW: '60',
    });
    await server.api('POST', '/apps', { id: APP });
  });
  afterAll(() => server.stop());

  it('answers 429 with Retry-After and kind "failed", and closes the connection it did not read', async () => {
    const body = JSON.stringify(deviceInfo({ app_id: APP }));
    for (const send of [viaSocket, viaHono]) {
      await send(server, body);
      const limited = await send(server, body);
      expect(limited.status).toBe(429);
      expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
      expect(limited.headers.connection).toBe('close');
      expect(limited.body).toMatchObject({ error: 'too_many_requests', kind: 'failed' });
    }
  });
});
