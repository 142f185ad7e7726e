/**
 * The update check has two entrances: the Node fast path (src/http/node-listener.ts, what a socket
 * reaches) and the Hono route (what `app.request()` and other runtimes reach). Both only write what
 * src/http/update-check.ts answers: the same request must get the same status, headers that matter
 * to the plugin, and body, whichever way it came in.
 */
import fs from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
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

/**
 * Through a raw socket, the headers first and the body in two halves 50 ms apart (with
 * `chunked`, in chunked transfer encoding, without a Content-Length).
 */
function viaSocketInPieces(
  server: TestServer,
  body: string,
  { chunked = false } = {},
): Promise<{ status: number; body: unknown }> {
  const { host, hostname, port } = new URL(server.url);
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(port), hostname.replace(/^\[|\]$/g, ''));
    const received: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => received.push(chunk));
    socket.on('error', reject);
    socket.on('close', () => {
      const text = Buffer.concat(received).toString('utf8');
      const [head = '', ...rest] = text.split('\r\n\r\n');
      let payload = rest.join('\r\n\r\n');
      if (/transfer-encoding: chunked/i.test(head))
        payload = payload.replace(/^[0-9a-f]+\r\n|\r\n[0-9a-f]+\r\n/gi, '');
      try {
        resolve({ status: Number(head.split(' ')[1]), body: JSON.parse(payload.trim()) });
      } catch (error) {
        reject(new Error(`not an answer: ${text}`, { cause: error }));
      }
    });
    const bytes = Buffer.from(body);
    const half = Math.floor(bytes.length / 2);
    const frame = (part: Buffer) =>
      chunked
        ? Buffer.concat([Buffer.from(`${part.length.toString(16)}\r\n`), part, Buffer.from('\r\n')])
        : part;
    const length = chunked ? 'Transfer-Encoding: chunked' : `Content-Length: ${bytes.length}`;
    socket.write(
      `POST /updates HTTP/1.1\r\nHost: ${host}\r\nContent-Type: application/json\r\nConnection: close\r\n${length}\r\n\r\n`,
    );
    setTimeout(() => socket.write(frame(bytes.subarray(0, half))), 50);
    setTimeout(() => {
      socket.write(frame(bytes.subarray(half)));
      if (chunked) socket.write('0\r\n\r\n');
    }, 100);
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

  // A device's body comes with its headers and is read from the request's buffer; one that comes
  // later, or in pieces, is read as a stream. Both must answer alike.
  it('a body that arrives after its headers, in pieces', async () => {
    const body = info({ version_name: '1.0.0' });
    const whole = await viaSocket(server, body);
    const pieces = await viaSocketInPieces(server, body);
    expect(pieces.status).toBe(200);
    expect(pieces.body).toEqual(whole.body);
  });

  it('a too large body in pieces is refused with 413', async () => {
    const body = JSON.stringify({ app_id: APP, device_id: 'device-big', custom_id: 'x'.repeat(1_100_000) });
    const answer = await viaSocketInPieces(server, body, { chunked: true });
    expect(answer.status).toBe(413);
    expect(answer.body).toMatchObject({ error: 'payload_too_large', kind: 'failed' });
  });

  it('answers several checks in turn on one kept-alive connection', async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const sockets = new Set<unknown>();
    try {
      for (const version of ['1.0.0', '1.0.1', '1.0.0', '1.0.1']) {
        const answer = await new Promise<{ status: number; body: { error?: string; version?: string } }>(
          (resolve, reject) => {
            const request = http.request(
              `${server.url}/updates`,
              { method: 'POST', agent, headers: { 'content-type': 'application/json' } },
              (response) => {
                sockets.add(response.socket);
                const chunks: Buffer[] = [];
                response.on('data', (chunk: Buffer) => chunks.push(chunk));
                response.on('end', () =>
                  resolve({
                    status: response.statusCode ?? 0,
                    body: JSON.parse(Buffer.concat(chunks).toString('utf8')),
                  }),
                );
              },
            );
            request.on('error', reject);
            request.end(info({ version_name: version }));
          },
        );
        expect(answer.status).toBe(200);
        if (version === '1.0.1') expect(answer.body.error).toBe('no_new_version_available');
        else expect(answer.body.version).toBe('1.0.1');
      }
      expect(sockets.size).toBe(1);
    } finally {
      agent.destroy();
    }
  });

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
