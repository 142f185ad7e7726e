/**
 * The work one anonymous request can cause on the device routes is bounded: a stats batch has at
 * most 200 events (the plugin's queue), an oversized body is refused with 413 and its connection
 * closed rather than read to the end, and the largest requests allowed do not stall the event loop
 * for the other devices. Loopback only; every request here is bounded in count and size.
 */
import net from 'node:net';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_STATS_EVENTS } from '../../src/http/device-routes.js';
import { deviceInfo, startTestServer, type TestServer } from '../helpers/server.js';

const APP = 'com.example.bounds';

describe('bounded work per device request', () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer();
    expect((await server.api('POST', '/apps', { id: APP })).status).toBe(201);
  });

  afterAll(async () => {
    await server?.stop();
  });

  const event = (index: number) => ({
    ...deviceInfo({ app_id: APP, device_id: `bounded-${index}` }),
    action: 'download_complete',
  });

  it(`accepts a batch of ${MAX_STATS_EVENTS} events and refuses one more with 413`, async () => {
    const full = Array.from({ length: MAX_STATS_EVENTS }, (_, index) => event(index));
    const accepted = await server.device('POST', '/stats', full);
    expect(accepted.status).toBe(200);
    expect(accepted.body.results).toHaveLength(MAX_STATS_EVENTS);

    const over = await server.device('POST', '/stats', [...full, event(MAX_STATS_EVENTS)]);
    expect(over.status).toBe(413);
    expect(over.body).toMatchObject({ error: 'payload_too_large' });
    expect(over.body.message).toContain(String(MAX_STATS_EVENTS));
    expect(over.headers.get('connection')).toBe('close');
  });

  it('refuses 300,000 empty events at once, without stalling update checks', async () => {
    const body = JSON.stringify(Array.from({ length: 300_000 }, () => ({})));
    expect(body.length).toBeLessThan(1024 * 1024);
    const delay = monitorEventLoopDelay({ resolution: 10 });
    delay.enable();
    const started = Date.now();
    const answers = await Promise.all([
      ...Array.from({ length: 4 }, () => server.device('POST', '/stats', body)),
      server.device('POST', '/updates', deviceInfo({ app_id: APP })),
    ]);
    delay.disable();
    for (const answer of answers.slice(0, 4)) {
      expect(answer.status).toBe(413);
      // The answer is one error, not one entry per event (it was 76 MB).
      expect(JSON.stringify(answer.body).length).toBeLessThan(500);
    }
    expect(answers[4]!.status).toBe(200);
    // Before the bound: 7.2 s of blocked event loop per request. Generous for a loaded CI machine.
    expect(delay.max / 1e6).toBeLessThan(1000);
    expect(Date.now() - started).toBeLessThan(5000);
  });

  /**
   * Sends a chunked body that never ends; resolves with what the server answered, how many bytes it
   * took before it closed the connection, and how long after the answer it closed it.
   */
  async function endlessBody(path: string, headers = '') {
    const socket = net.connect(server.port, '127.0.0.1');
    await new Promise((resolve) => socket.once('connect', resolve));
    let received = '';
    let answeredAt = 0;
    let closedAt = 0;
    let sent = 0;
    socket.on('data', (chunk: Buffer) => {
      received += chunk.toString();
      answeredAt ||= Date.now();
    });
    socket.on('error', () => undefined); // a reset while writing: the server closed it
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    void closed.then(() => (closedAt = Date.now()));
    socket.write(
      `POST ${path} HTTP/1.1\r\nHost: overair\r\nContent-Type: application/json\r\n${headers}Transfer-Encoding: chunked\r\n\r\n`,
    );
    const chunk = Buffer.alloc(64 * 1024, 0x20);
    const frame = Buffer.concat([
      Buffer.from(`${chunk.length.toString(16)}\r\n`),
      chunk,
      Buffer.from('\r\n'),
    ]);
    const deadline = Date.now() + 8000;
    // At most 8 s and 512 MiB: enough to tell a closed connection from one drained forever.
    while (!closedAt && Date.now() < deadline && sent < 512 * 1024 * 1024) {
      if (!socket.write(frame)) await new Promise((resolve) => setTimeout(resolve, 1));
      sent += frame.length;
      if (sent % (4 * 1024 * 1024) < frame.length) await new Promise((resolve) => setImmediate(resolve));
    }
    socket.destroy();
    await closed;
    return {
      received,
      sent,
      closedAfterAnswerMs: closedAt - answeredAt,
      closedByServer: closedAt < deadline,
    };
  }

  it.each(['/updates', '/stats'])(
    'closes the connection after a 413 on an endless body to %s',
    async (path) => {
      const result = await endlessBody(path);
      expect(result.received).toMatch(/^HTTP\/1\.1 413 /);
      expect(result.received.toLowerCase()).toContain('connection: close');
      expect(result.closedByServer).toBe(true);
      expect(result.closedAfterAnswerMs).toBeLessThan(2000);
      // It was 12 GB in 10 s: now a few MB at most (the 1 MiB limit plus what was in flight).
      expect(result.sent).toBeLessThan(64 * 1024 * 1024);
    },
  );

  it('closes the connection soon after refusing an endless body it never needed (admin route, no token)', async () => {
    const result = await endlessBody('/api/v1/apps');
    expect(result.received).toMatch(/^HTTP\/1\.1 401 /);
    expect(result.closedByServer).toBe(true);
    expect(result.closedAfterAnswerMs).toBeLessThan(3000);
  });

  it('keeps a connection whose unread body was short, for the next request', async () => {
    const keepAlive = await fetch(`${server.url}/api/v1/apps`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ id: 'x' }),
    });
    expect(keepAlive.status).toBe(401);
    await new Promise((resolve) => setTimeout(resolve, 1500));
    // Same keep-alive pool: a connection closed under it would fail this request.
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
  });

  it('keeps answering while 500 connections trickle their headers (slowloris)', async () => {
    const sockets = await Promise.all(
      Array.from({ length: 500 }, async () => {
        const socket = net.connect(server.port, '127.0.0.1');
        socket.on('error', () => undefined);
        await new Promise((resolve) => socket.once('connect', resolve));
        socket.write('POST /updates HTTP/1.1\r\nHost: overair\r\nX-Slow: ');
        return socket;
      }),
    );
    try {
      for (const socket of sockets) socket.write('a');
      const started = Date.now();
      const check = await server.device('POST', '/updates', deviceInfo({ app_id: APP }));
      expect(check.status).toBe(200);
      expect(Date.now() - started).toBeLessThan(2000);
    } finally {
      for (const socket of sockets) socket.destroy();
    }
  });
});
