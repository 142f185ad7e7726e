/**
 * Webhooks end to end: a real server POSTs signed events to a local receiver on release, rollout,
 * rollback, halt and upload; failed deliveries are retried on a (shortened) schedule and logged;
 * pending deliveries survive a restart; the CLI manages it all.
 */
import { createHash, createHmac } from 'node:crypto';
import fs from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli } from './helpers/cli.js';
import { ADMIN_TOKEN, startTestServer, uploadBundle, type TestServer } from './helpers/server.js';
import { makeZip } from './helpers/zips.js';

const APP = 'com.example.hooks';
const OTHER = 'com.example.other';
/** Fast retries: 6 attempts 40 ms apart instead of 5 s to 1 h. */
const FAST = { retryDelaysMs: [40, 40, 40, 40, 40], timeoutMs: 2000, pollMs: 200 };
/** The receivers here listen on loopback, which webhooks may reach only when allowed. */
const ALLOW_LOOPBACK = { OVERAIR_WEBHOOK_ALLOW_HOSTS: '127.0.0.1' };

interface Received {
  path: string;
  headers: http.IncomingHttpHeaders;
  body: string;
  json: any;
}

/** A webhook receiver on a free loopback port: records every request; answers per path. */
async function startReceiver() {
  const received: Received[] = [];
  /** Statuses to answer, per path, in turn; 200 once a path's list is used up. */
  const answers = new Map<string, number[]>();
  const server = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const body = Buffer.concat(chunks).toString();
      const url = request.url ?? '';
      received.push({ path: url, headers: request.headers, body, json: JSON.parse(body) });
      response.writeHead(answers.get(url)?.shift() ?? 200, { 'content-type': 'text/plain' });
      response.end('receiver says hi');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    base,
    answers,
    at: (where: string) => received.filter((request) => request.path === where),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

type Truthy<T> = Exclude<T, false | 0 | '' | null | undefined>;

/** Polls `probe` until it returns something truthy (or fails the test after `ms`). */
async function waitFor<T>(probe: () => T | Promise<T>, ms = 5000): Promise<Truthy<Awaited<T>>> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value) return value as Truthy<Awaited<T>>;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${probe.toString()}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** What a receiver should do with a request: check the signature over "<timestamp>.<body>". */
function verify(request: Received, secret: string): boolean {
  const timestamp = String(request.headers['x-overair-timestamp']);
  const expected =
    'sha256=' + createHmac('sha256', secret).update(`${timestamp}.${request.body}`).digest('hex');
  return request.headers['x-overair-signature'] === expected;
}

/** A port nothing listens on. */
async function closedPort(): Promise<number> {
  const probe = http.createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

describe('webhooks', () => {
  let server: TestServer;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;

  const addWebhook = async (body: Record<string, unknown>) => {
    const answer = await server.api('POST', '/webhooks', body);
    expect(answer.status).toBe(201);
    return answer.body as { id: number; secret: string; url: string };
  };
  const deliveries = async (id: number) => (await server.api('GET', `/webhooks/${id}/deliveries`)).body.items;
  const settled = (id: number, count: number) =>
    waitFor(async () => {
      const items = await deliveries(id);
      return items.length === count && items.every((d: any) => d.status !== 'pending') && items;
    });
  const zip = (marker: string) => makeZip({ 'index.html': `<html>${marker}</html>` });

  beforeAll(async () => {
    receiver = await startReceiver();
    server = await startTestServer(ALLOW_LOOPBACK, { webhooks: FAST });
    for (const id of [APP, OTHER]) expect((await server.api('POST', '/apps', { id })).status).toBe(201);
  });
  afterAll(async () => {
    await server.stop();
    await receiver.close();
  });

  it('POSTs one signed delivery per upload, release, rollout, rollback and halt', async () => {
    const hook = await addWebhook({ url: `${receiver.base}/all`, events: '*', app_id: APP });
    expect(hook.secret).toMatch(/^whsec_[A-Za-z0-9_-]{43}$/);
    const bytes = await zip('one');
    expect((await uploadBundle(server, APP, bytes, { version: '1.0.0' })).status).toBe(201);
    expect((await uploadBundle(server, APP, await zip('two'), { version: '1.0.1' })).status).toBe(201);
    const channel = `/apps/${APP}/channels/production`;
    expect((await server.api('PUT', `${channel}/bundle`, { version: '1.0.0' })).status).toBe(200);
    // Setting the bundle that is already live changes nothing, and announces nothing.
    expect((await server.api('PUT', `${channel}/bundle`, { version: '1.0.0' })).status).toBe(200);
    expect((await server.api('POST', `${channel}/rollout`, { version: '1.0.1', percent: 50 })).status).toBe(
      200,
    );
    expect((await server.api('POST', `${channel}/rollback`, { reason: 'crashes' })).status).toBe(200);
    expect((await server.api('POST', `${channel}/rollout`, { version: '1.0.1', percent: 10 })).status).toBe(
      200,
    );
    await server.services.channels.halt(APP, 'production', 'failure rate 40% over 20 devices');

    const requests = await waitFor(() => receiver.at('/all').length >= 7 && receiver.at('/all'));
    await settled(hook.id, 7);
    expect(requests).toHaveLength(7);
    const byEvent = (event: string) => requests.filter((r) => r.json.event === event).map((r) => r.json);
    const actor = 'token:OVERAIR_ADMIN_TOKEN';

    expect(byEvent('bundle.uploaded').map((e) => e.data)).toEqual(
      expect.arrayContaining([
        {
          version: '1.0.0',
          sha256: createHash('sha256').update(bytes).digest('hex'),
          size: bytes.length,
          location: 'blob',
          actor,
        },
        expect.objectContaining({ version: '1.0.1' }),
      ]),
    );
    expect(byEvent('bundle.uploaded')).toHaveLength(2);
    expect(byEvent('channel.released').map((e) => e.data)).toEqual([
      { channel: 'production', version: '1.0.0', actor },
    ]);
    expect(byEvent('channel.rollout').map((e) => e.data)).toEqual(
      expect.arrayContaining([
        { channel: 'production', version: '1.0.1', percent: 50, actor },
        { channel: 'production', version: '1.0.1', percent: 10, actor },
      ]),
    );
    expect(byEvent('channel.rollback').map((e) => e.data)).toEqual([
      { channel: 'production', from: '1.0.1', to: '1.0.0', actor, reason: 'crashes' },
    ]);
    expect(byEvent('release.halted').map((e) => e.data)).toEqual([
      { channel: 'production', from: '1.0.1', to: '1.0.0', reason: 'failure rate 40% over 20 devices' },
    ]);

    const deliveryIds = new Set<string>();
    for (const request of requests) {
      expect(verify(request, hook.secret)).toBe(true);
      expect(verify(request, 'whsec_some-other-secret')).toBe(false);
      expect(request.headers['content-type']).toBe('application/json');
      expect(request.headers['x-overair-event']).toBe(request.json.event);
      const timestamp = Number(request.headers['x-overair-timestamp']);
      expect(Math.abs(timestamp - Date.now() / 1000)).toBeLessThan(60);
      deliveryIds.add(String(request.headers['x-overair-delivery']));
      expect(request.json).toMatchObject({ id: expect.stringMatching(/^evt_/), app_id: APP });
      expect(Date.parse(request.json.created_at)).toBeGreaterThan(Date.now() - 60_000);
      expect(Object.keys(request.json).sort()).toEqual(['app_id', 'created_at', 'data', 'event', 'id']);
    }
    expect(deliveryIds.size).toBe(7);

    // The delivery log has each of them, delivered at the first attempt.
    const log = await deliveries(hook.id);
    expect(log.map((d: any) => String(d.id)).sort()).toEqual([...deliveryIds].sort());
    for (const delivery of log) {
      expect(delivery).toMatchObject({
        webhook_id: hook.id,
        status: 'delivered',
        attempts: 1,
        response_status: 200,
        last_error: null,
        next_attempt_at: null,
      });
      expect(delivery.delivered_at >= delivery.created_at).toBe(true);
      expect(delivery.payload.event).toBe(delivery.event);
    }
    expect((await server.api('DELETE', `/webhooks/${hook.id}`)).body).toEqual({ deleted: true });
  });

  it('filters by event and by app', async () => {
    const releasesOfOther = await addWebhook({
      url: `${receiver.base}/other-releases`,
      events: ['channel.released'],
      app_id: OTHER,
    });
    const allUploads = await addWebhook({ url: `${receiver.base}/uploads`, events: ['bundle.uploaded'] });
    for (const app of [APP, OTHER]) {
      expect((await uploadBundle(server, app, await zip(`f-${app}`), { version: '2.0.0' })).status).toBe(201);
      expect(
        (await server.api('PUT', `/apps/${app}/channels/production/bundle`, { version: '2.0.0' })).status,
      ).toBe(200);
    }
    await settled(allUploads.id, 2);
    await settled(releasesOfOther.id, 1);
    expect(
      receiver
        .at('/uploads')
        .map((r) => [r.json.event, r.json.app_id])
        .sort(),
    ).toEqual([
      ['bundle.uploaded', APP],
      ['bundle.uploaded', OTHER],
    ]);
    expect(receiver.at('/other-releases').map((r) => [r.json.event, r.json.app_id])).toEqual([
      ['channel.released', OTHER],
    ]);
    expect(verify(receiver.at('/other-releases')[0]!, releasesOfOther.secret)).toBe(true);

    const listed = await server.api('GET', '/webhooks');
    expect(listed.body.items).toEqual(
      expect.arrayContaining([
        {
          id: releasesOfOther.id,
          app_id: OTHER,
          url: `${receiver.base}/other-releases`,
          events: ['channel.released'],
          created_at: expect.any(String),
        },
        expect.objectContaining({ id: allUploads.id, app_id: null, events: ['bundle.uploaded'] }),
      ]),
    );
    expect((await server.api('GET', `/webhooks?app=${OTHER}`)).body.items.map((w: any) => w.id)).toEqual([
      releasesOfOther.id,
    ]);
    for (const hook of [releasesOfOther, allUploads]) await server.api('DELETE', `/webhooks/${hook.id}`);
  });

  it('never shows a secret again: not in the list, nor in the audit log', async () => {
    const hook = await addWebhook({ url: `${receiver.base}/quiet`, events: ['release.halted'] });
    const listed = await server.api('GET', '/webhooks');
    expect(listed.body.items.find((w: any) => w.id === hook.id)).not.toHaveProperty('secret');
    expect(JSON.stringify(listed.body)).not.toContain(hook.secret);
    expect(JSON.stringify((await server.api('GET', '/audit?limit=500')).body)).not.toContain(hook.secret);
    await server.api('DELETE', `/webhooks/${hook.id}`);
  });

  it('retries a receiver that answers 500, then 200: delivered at the second attempt', async () => {
    const hook = await addWebhook({ url: `${receiver.base}/flaky` });
    receiver.answers.set('/flaky', [500]);
    const queued = await server.api('POST', `/webhooks/${hook.id}/test`);
    expect(queued).toMatchObject({ status: 202, body: { event: 'webhook.test', status: 'pending' } });
    const [delivery] = await settled(hook.id, 1);
    expect(delivery).toMatchObject({
      id: queued.body.id,
      status: 'delivered',
      attempts: 2,
      response_status: 200,
    });
    const requests = receiver.at('/flaky');
    expect(requests).toHaveLength(2);
    // The same delivery and body twice, each signed with its own timestamp.
    expect(requests.map((r) => r.headers['x-overair-delivery'])).toEqual([
      String(queued.body.id),
      String(queued.body.id),
    ]);
    expect(requests[0]!.body).toBe(requests[1]!.body);
    expect(requests.every((r) => verify(r, hook.secret))).toBe(true);
    expect(requests[0]!.json).toMatchObject({
      event: 'webhook.test',
      app_id: null,
      data: { webhook_id: hook.id },
    });
  });

  it('keeps the status of a 4xx/5xx answer in the log while retrying, never its body', async () => {
    const hook = await addWebhook({ url: `${receiver.base}/broken` });
    receiver.answers.set('/broken', [503, 503, 503, 503, 503, 503]);
    await server.api('POST', `/webhooks/${hook.id}/test`);
    const [delivery] = await settled(hook.id, 1);
    expect(delivery).toMatchObject({
      status: 'failed',
      attempts: 6,
      response_status: 503,
      last_error: 'HTTP 503',
      next_attempt_at: null,
      delivered_at: null,
    });
    expect(receiver.at('/broken')).toHaveLength(6);
    // What a receiver answers is its own business: none of it reaches the delivery log.
    const log = await server.api('GET', `/webhooks/${hook.id}/deliveries`);
    expect(JSON.stringify(log.body)).not.toContain('receiver says hi');
  });

  it('gives up on a receiver that is down after the last attempt', async () => {
    const hook = await addWebhook({ url: `http://127.0.0.1:${await closedPort()}/down` });
    await server.api('POST', `/webhooks/${hook.id}/test`);
    const [delivery] = await settled(hook.id, 1);
    expect(delivery).toMatchObject({
      status: 'failed',
      attempts: 6,
      response_status: null,
      last_error: 'ECONNREFUSED',
    });
  });

  it('pages the delivery log newest first', async () => {
    const hook = await addWebhook({ url: `${receiver.base}/paged` });
    for (let i = 0; i < 3; i++) await server.api('POST', `/webhooks/${hook.id}/test`);
    await settled(hook.id, 3);
    const first = await server.api('GET', `/webhooks/${hook.id}/deliveries?limit=2`);
    expect(first.body.items).toHaveLength(2);
    expect(first.body.items[0].id).toBeGreaterThan(first.body.items[1].id);
    const rest = await server.api(
      'GET',
      `/webhooks/${hook.id}/deliveries?limit=2&cursor=${first.body.next_cursor}`,
    );
    expect(rest.body).toMatchObject({ items: [{ id: first.body.items[1].id - 1 }], next_cursor: null });
  });

  it.each([
    [{ url: 'ftp://example.com/hook' }, 400],
    [{ url: 'file:///etc/passwd' }, 400],
    [{ url: 'not a url' }, 400],
    [{ url: 'https://user:secret@example.com/hook' }, 400],
    [{ url: 'https://token@example.com/hook' }, 400],
    [{ url: 'http://127.0.0.2/hook' }, 400],
    [{ url: 'http://localhost/hook' }, 400],
    [{ url: 'https://example.com/hook', events: ['bundle.deleted'] }, 400],
    [{ url: 'https://example.com/hook', events: [] }, 400],
    [{ url: 'https://example.com/hook', events: 'bundle.uploaded' }, 400],
    [{ url: 'https://example.com/hook', secret: 'mine' }, 400],
    [{ url: 'https://example.com/hook', app_id: 'com.example.none' }, 404],
    [{ events: '*' }, 400],
  ])('refuses to create %j', async (body, status) => {
    const before = (await server.api('GET', '/webhooks')).body.items.length;
    const answer = await server.api('POST', '/webhooks', body);
    expect(answer.status).toBe(status);
    expect(typeof answer.body.error).toBe('string');
    expect(typeof answer.body.message).toBe('string');
    expect((await server.api('GET', '/webhooks')).body.items.length).toBe(before);
  });

  it('answers an unknown or malformed webhook id with a JSON 404 or 400', async () => {
    for (const [method, route] of [
      ['DELETE', '/webhooks/999999'],
      ['GET', '/webhooks/999999/deliveries'],
      ['POST', '/webhooks/999999/test'],
    ] as const) {
      expect(await server.api(method, route)).toMatchObject({
        status: 404,
        body: { error: 'webhook_not_found' },
      });
    }
    expect((await server.api('DELETE', '/webhooks/abc')).status).toBe(400);
    expect((await server.api('GET', '/webhooks/1/deliveries?limit=0')).status).toBe(400);
  });

  it('never lets emitting fail the caller', () => {
    expect(server.services.webhooks.emit('com.example.nowhere', 'channel.released', {})).toBeUndefined();
    const circular: Record<string, unknown> = {};
    circular.self = circular;
    expect(() => server.services.webhooks.emit(APP, 'channel.released', circular)).not.toThrow();
  });
});

describe('webhook deliveries across a restart', () => {
  it('sends what was left pending when the server comes back', async () => {
    const receiver = await startReceiver();
    const first = await startTestServer(ALLOW_LOOPBACK, { webhooks: FAST });
    const { dataDir } = first;
    let second: TestServer | undefined;
    try {
      const hook = (await first.api('POST', '/webhooks', { url: `${receiver.base}/later` })).body;
      // As if the server stopped before sending: nothing goes out, the delivery stays pending.
      await first.services.webhooks.dispatcher.stop();
      const queued = (await first.api('POST', `/webhooks/${hook.id}/test`)).body;
      await first.close();
      expect(receiver.at('/later')).toHaveLength(0);

      second = await startTestServer({ ...first.stateEnv, ...ALLOW_LOOPBACK }, { webhooks: FAST });
      const [request] = await waitFor(() => receiver.at('/later').length > 0 && receiver.at('/later'));
      expect(request!.headers['x-overair-delivery']).toBe(String(queued.id));
      expect(verify(request!, hook.secret)).toBe(true);
      await waitFor(async () => {
        const items = (await second!.api('GET', `/webhooks/${hook.id}/deliveries`)).body.items;
        return items[0]?.status === 'delivered';
      });
    } finally {
      await second?.close();
      await receiver.close();
      for (const dir of [dataDir, second?.dataDir])
        if (dir) await fs.rm(dir, { recursive: true, force: true });
    }
  });

  it('stops promptly on close, handing an attempt in flight back for the next start', async () => {
    // A receiver that never answers: the attempt is aborted by close, not counted.
    const hanging = http.createServer(() => undefined);
    await new Promise<void>((resolve) => hanging.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(hanging.address() as AddressInfo).port}/hang`;
    const server = await startTestServer(ALLOW_LOOPBACK, { webhooks: { ...FAST, timeoutMs: 30_000 } });
    try {
      const hook = (await server.api('POST', '/webhooks', { url })).body;
      await server.api('POST', `/webhooks/${hook.id}/test`);
      await new Promise((resolve) => setTimeout(resolve, 200));
      const started = Date.now();
      await server.services.webhooks.close();
      expect(Date.now() - started).toBeLessThan(2000);
      const [delivery] = (await server.api('GET', `/webhooks/${hook.id}/deliveries`)).body.items;
      expect(delivery).toMatchObject({ status: 'pending', attempts: 0 });
      expect(Date.parse(delivery.next_attempt_at)).toBeLessThanOrEqual(Date.now());
    } finally {
      await server.stop();
      hanging.closeAllConnections();
      await new Promise<void>((resolve) => hanging.close(() => resolve()));
    }
  });
});

describe('overair webhook CLI', () => {
  let server: TestServer;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  let cwd: string;
  const run = (...args: string[]) =>
    cli(args, { cwd, env: { OVERAIR_SERVER: server.url, OVERAIR_TOKEN: ADMIN_TOKEN } });

  beforeAll(async () => {
    receiver = await startReceiver();
    server = await startTestServer(ALLOW_LOOPBACK, { webhooks: FAST });
    cwd = await fs.mkdtemp(path.join(os.tmpdir(), 'overair-webhook-cli-'));
    expect((await server.api('POST', '/apps', { id: APP })).status).toBe(201);
  });
  afterAll(async () => {
    await server.stop();
    await receiver.close();
    await fs.rm(cwd, { recursive: true, force: true });
  });

  it('adds, lists, tests, shows deliveries and removes a webhook', async () => {
    const added = await run(
      'webhook',
      'add',
      `${receiver.base}/cli`,
      '--app',
      APP,
      '--events',
      'channel.released, channel.rollback',
    );
    expect(added.code).toBe(0);
    const secret = /whsec_\S+/.exec(added.stdout)?.[0];
    expect(secret).toBeDefined();
    expect(added.stdout).toContain('not shown again');

    const addedJson = await run('webhook', 'add', `${receiver.base}/cli-all`, '--json');
    expect(addedJson.code).toBe(0);
    expect(addedJson.json).toMatchObject({
      app_id: null,
      events: '*',
      secret: expect.stringMatching(/^whsec_/),
    });

    const list = await run('webhook', 'list');
    expect(list.code).toBe(0);
    expect(list.stdout).toContain(`${receiver.base}/cli`);
    expect(list.stdout).toContain('channel.released,channel.rollback');
    expect(list.stdout).not.toContain(secret);
    const listJson = await run('webhook', 'list', '--json');
    expect(listJson.json).toHaveLength(2);
    expect(JSON.stringify(listJson.json)).not.toContain('whsec_');
    const id = String(listJson.json.find((w: any) => w.app_id === APP).id);

    const tested = await run('webhook', 'test', id, '--json');
    expect(tested.code).toBe(0);
    expect(tested.json).toMatchObject({ event: 'webhook.test', webhook_id: Number(id) });
    const [request] = await waitFor(() => receiver.at('/cli').length > 0 && receiver.at('/cli'));
    expect(verify(request!, secret!)).toBe(true);

    const shown = await waitFor(async () => {
      const result = await run('webhook', 'deliveries', id, '--json');
      return result.json?.[0]?.status === 'delivered' && result;
    });
    expect(shown.json).toMatchObject([{ event: 'webhook.test', attempts: 1, response_status: 200 }]);
    const table = await run('webhook', 'deliveries', id);
    expect(table.stdout).toMatch(/webhook\.test\s+delivered\s+1\s+200/);

    const removed = await run('webhook', 'remove', id, '--json');
    expect(removed).toMatchObject({ code: 0, json: { removed: Number(id) } });
    expect((await run('webhook', 'list', '--json')).json).toHaveLength(1);
    const missing = await run('webhook', 'remove', id);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('webhook_not_found');
    expect((await run('webhook', 'remove', 'abc')).stderr).toContain('expected a webhook id');
    expect((await run('webhook', 'add', 'ftp://example.com/x')).stderr).toContain('http(s)');
    // Only 127.0.0.1 is allowed here: another internal target is refused, with the reason.
    const inside = await run('webhook', 'add', 'http://169.254.169.254/latest/meta-data/');
    expect(inside.code).toBe(1);
    expect(inside.stderr).toContain('webhook_target_refused');
    expect(inside.stderr).toContain('a cloud metadata address');
  });
});
