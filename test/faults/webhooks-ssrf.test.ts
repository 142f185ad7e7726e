/**
 * Webhooks cannot reach inside (SSRF): an admin token's URL must not turn the server into a proxy to
 * its own network. Real servers on loopback: the "internal service" is a receiver on 127.0.0.1, which
 * a webhook may reach only when OVERAIR_WEBHOOK_ALLOW_HOSTS lists it. Names are answered by an injected
 * resolver where public DNS would be needed (a public-looking name that resolves to loopback).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ResolvedAddress, WebhookDeliveryOptions } from '../../src/services/webhook-dispatcher.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { waitFor } from '../helpers/wait.js';

/** Fast retries, so that a delivery that would be retried shows it within the test. */
const FAST: WebhookDeliveryOptions = { retryDelaysMs: [40, 40, 40], timeoutMs: 2000, pollMs: 100 };

/** An internal service on loopback: counts requests, answers per path (200 "internal secret" unless told). */
async function startInternalService() {
  const hits: string[] = [];
  const answers = new Map<string, { status: number; headers?: Record<string, string> }>();
  const server = http.createServer((request, response) => {
    request.resume();
    request.on('end', () => {
      hits.push(request.url ?? '');
      const answer = answers.get(request.url ?? '') ?? { status: 200 };
      response.writeHead(answer.status, { 'content-type': 'text/plain', ...answer.headers });
      response.end('internal secret: aws_secret_access_key=EXAMPLE');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    hits,
    answers,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

type Service = Awaited<ReturnType<typeof startInternalService>>;

/** A resolver with fixed answers: anything else is not found, as public DNS would say. */
function resolverOf(answers: Record<string, string[]>) {
  const calls: string[] = [];
  const lookup = async (hostname: string): Promise<ResolvedAddress[]> => {
    calls.push(hostname);
    const addresses = answers[hostname];
    if (!addresses)
      throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' });
    return addresses.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
  };
  return { lookup, calls };
}

async function settledDelivery(server: TestServer, hookId: number) {
  return waitFor(async () => {
    const [delivery] = (await server.api('GET', `/webhooks/${hookId}/deliveries`)).body.items;
    return delivery?.status !== 'pending' && delivery;
  });
}

describe('without OVERAIR_WEBHOOK_ALLOW_HOSTS', () => {
  let server: TestServer;
  let service: Service;

  beforeAll(async () => {
    service = await startInternalService();
    server = await startTestServer({}, { webhooks: FAST });
  });
  afterAll(async () => {
    await server.stop();
    await service.close();
  });

  it.each([
    ['127.0.0.1', (port: number) => `http://127.0.0.1:${port}/`, 'a loopback address'],
    ['[::1]', (port: number) => `http://[::1]:${port}/`, 'a loopback address'],
    ['0.0.0.0', (port: number) => `http://0.0.0.0:${port}/`, 'an unspecified address'],
    ['2130706433', (port: number) => `http://2130706433:${port}/`, 'a loopback address'],
    ['0x7f.1', (port: number) => `http://0x7f.1:${port}/`, 'a loopback address'],
    ['[::ffff:127.0.0.1]', (port: number) => `http://[::ffff:127.0.0.1]:${port}/`, 'a loopback address'],
    ['localhost', (port: number) => `http://localhost:${port}/`, 'an internal name'],
    ['169.254.169.254', () => 'http://169.254.169.254/latest/meta-data/', 'a cloud metadata address'],
    ['[fd00:ec2::254]', () => 'http://[fd00:ec2::254]/latest/meta-data/', 'a cloud metadata address'],
    ['metadata.google.internal', () => 'http://metadata.google.internal/', 'a cloud metadata name'],
    ['10.0.0.5', () => 'https://10.0.0.5/hook', 'a private address'],
    ['100.64.0.1', () => 'https://100.64.0.1/hook', 'a shared (CGNAT) address'],
    ['192.168.1.10', () => 'http://192.168.1.10/hook', 'a private address'],
  ])('refuses a webhook to %s at creation with a 400', async (_name, urlOf, problem) => {
    const before = (await server.api('GET', '/webhooks')).body.items.length;
    const answer = await server.api('POST', '/webhooks', { url: urlOf(service.port) });
    expect(answer.status).toBe(400);
    expect(answer.body).toEqual({
      error: 'webhook_target_refused',
      message: expect.stringContaining(problem),
    });
    expect(answer.body.message).toContain('OVERAIR_WEBHOOK_ALLOW_HOSTS');
    expect((await server.api('GET', '/webhooks')).body.items.length).toBe(before);
    expect(service.hits).toEqual([]);
  });

  it('refuses credentials in the URL, even to a public host', async () => {
    for (const url of ['https://user:pass@hooks.example.com/x', 'https://user@hooks.example.com/x']) {
      const answer = await server.api('POST', '/webhooks', { url });
      expect(answer).toMatchObject({
        status: 400,
        body: { error: 'invalid_request', message: 'url: must not contain a user name or password' },
      });
    }
  });

  it('refuses, at delivery, a webhook stored before the rule: failed at once, nothing sent', async () => {
    // As if created by an earlier version, which took any URL.
    for (const url of [`http://localhost:${service.port}/old`, `http://127.0.0.1:${service.port}/old`]) {
      const { id } = await server.db
        .insertInto('webhooks')
        .values({ app_id: null, url, secret: 'whsec_old', events: '*', created_at: new Date().toISOString() })
        .returning('id')
        .executeTakeFirstOrThrow();
      expect((await server.api('POST', `/webhooks/${id}/test`)).status).toBe(202);
      const delivery = await settledDelivery(server, id);
      expect(delivery).toMatchObject({
        status: 'failed',
        attempts: 1,
        response_status: null,
        last_error: expect.stringMatching(
          /^refused: (localhost is an internal name|127\.0\.0\.1 is a loopback address)$/,
        ),
        next_attempt_at: null,
      });
    }
    expect(service.hits).toEqual([]);
  });
});

describe('a name that resolves inside (DNS rebinding)', () => {
  let service: Service;
  let server: TestServer | undefined;

  beforeAll(async () => {
    service = await startInternalService();
  });
  afterEach(async () => {
    await server?.stop();
    server = undefined;
  });
  afterAll(() => service.close());

  it('accepts a public-looking name at creation, then refuses the loopback address it resolves to', async () => {
    const resolver = resolverOf({
      'hooks.example.com': ['127.0.0.1'],
      'mixed.example.com': ['93.184.215.14', '127.0.0.1'],
      'mapped.example.com': ['::ffff:127.0.0.1'],
    });
    server = await startTestServer({}, { webhooks: { ...FAST, lookup: resolver.lookup } });
    const expected = {
      'hooks.example.com': 'refused: hooks.example.com resolves to 127.0.0.1, a loopback address',
      'mixed.example.com': 'refused: mixed.example.com resolves to 127.0.0.1, a loopback address',
      'mapped.example.com': 'refused: mapped.example.com resolves to ::ffff:127.0.0.1, a loopback address',
    };
    for (const [name, error] of Object.entries(expected)) {
      const hook = await server.api('POST', '/webhooks', { url: `http://${name}:${service.port}/hook` });
      expect(hook.status).toBe(201);
      await server.api('POST', `/webhooks/${hook.body.id}/test`);
      expect(await settledDelivery(server, hook.body.id)).toMatchObject({
        status: 'failed',
        attempts: 1,
        response_status: null,
        last_error: error,
      });
    }
    expect(service.hits).toEqual([]);
  });

  it('connects to exactly the address it checked: one resolution per attempt, never a second', async () => {
    // The first answer is the allowed receiver; any later one points elsewhere. Were the name resolved
    // again to connect, the request would not arrive (and the resolver would count two calls).
    let answered = 0;
    const calls: string[] = [];
    const lookup = async (hostname: string): Promise<ResolvedAddress[]> => {
      calls.push(hostname);
      return [{ address: answered++ === 0 ? '127.0.0.1' : '10.255.255.1', family: 4 }];
    };
    server = await startTestServer(
      { OVERAIR_WEBHOOK_ALLOW_HOSTS: '127.0.0.1' },
      { webhooks: { ...FAST, lookup } },
    );
    const hook = await server.api('POST', '/webhooks', {
      url: `http://hooks.example.com:${service.port}/pinned`,
    });
    expect(hook.status).toBe(201);
    await server.api('POST', `/webhooks/${hook.body.id}/test`);
    expect(await settledDelivery(server, hook.body.id)).toMatchObject({
      status: 'delivered',
      attempts: 1,
      response_status: 200,
    });
    expect(service.hits).toEqual(['/pinned']);
    expect(calls).toEqual(['hooks.example.com']);
  });

  it('retries a name that does not resolve (it may yet), unlike a refused one', async () => {
    const resolver = resolverOf({});
    server = await startTestServer({}, { webhooks: { ...FAST, lookup: resolver.lookup } });
    const hook = await server.api('POST', '/webhooks', { url: 'https://nowhere.example.com/hook' });
    await server.api('POST', `/webhooks/${hook.body.id}/test`);
    expect(await settledDelivery(server, hook.body.id)).toMatchObject({
      status: 'failed',
      attempts: 4,
      last_error: 'ENOTFOUND',
    });
  });
});

describe('with OVERAIR_WEBHOOK_ALLOW_HOSTS', () => {
  let service: Service;
  let server: TestServer | undefined;

  beforeAll(async () => {
    service = await startInternalService();
  });
  afterEach(async () => {
    await server?.stop();
    server = undefined;
    service.hits.length = 0;
  });
  afterAll(() => service.close());

  it('reaches a listed internal name wherever it resolves, and nothing else inside', async () => {
    const resolver = resolverOf({ 'hooks.internal': ['127.0.0.1'], 'other.example.com': ['127.0.0.1'] });
    server = await startTestServer(
      { OVERAIR_WEBHOOK_ALLOW_HOSTS: 'hooks.internal, 10.0.0.5' },
      { webhooks: { ...FAST, lookup: resolver.lookup } },
    );
    const allowed = await server.api('POST', '/webhooks', {
      url: `http://hooks.internal:${service.port}/in`,
    });
    expect(allowed.status).toBe(201);
    expect((await server.api('POST', '/webhooks', { url: 'http://10.0.0.5/hook' })).status).toBe(201);
    // Not listed: still refused, by name at creation or by address at delivery.
    expect((await server.api('POST', '/webhooks', { url: 'http://db.internal/' })).status).toBe(400);
    expect((await server.api('POST', '/webhooks', { url: `http://127.0.0.1:${service.port}/` })).status).toBe(
      400,
    );
    const other = await server.api('POST', '/webhooks', {
      url: `http://other.example.com:${service.port}/out`,
    });
    expect(other.status).toBe(201);

    await server.api('POST', `/webhooks/${allowed.body.id}/test`);
    await server.api('POST', `/webhooks/${other.body.id}/test`);
    expect(await settledDelivery(server, allowed.body.id)).toMatchObject({ status: 'delivered' });
    expect(await settledDelivery(server, other.body.id)).toMatchObject({
      status: 'failed',
      attempts: 1,
      last_error: 'refused: other.example.com resolves to 127.0.0.1, a loopback address',
    });
    expect(service.hits).toEqual(['/in']);
  });

  it('never follows a redirect, and keeps the status without a word of the answer', async () => {
    server = await startTestServer(
      { OVERAIR_WEBHOOK_ALLOW_HOSTS: '127.0.0.1' },
      { webhooks: { ...FAST, retryDelaysMs: [] } },
    );
    // An allowed receiver that redirects into the internal service's admin path.
    service.answers.set('/redirect', {
      status: 302,
      headers: { location: `http://127.0.0.1:${service.port}/admin` },
    });
    service.answers.set('/error', { status: 500 });
    const redirect = await server.api('POST', '/webhooks', {
      url: `http://127.0.0.1:${service.port}/redirect`,
    });
    const error = await server.api('POST', '/webhooks', { url: `http://127.0.0.1:${service.port}/error` });
    await server.api('POST', `/webhooks/${redirect.body.id}/test`);
    await server.api('POST', `/webhooks/${error.body.id}/test`);
    expect(await settledDelivery(server, redirect.body.id)).toMatchObject({
      status: 'failed',
      response_status: 302,
      last_error: 'HTTP 302 (redirects are not followed)',
    });
    expect(await settledDelivery(server, error.body.id)).toMatchObject({
      status: 'failed',
      response_status: 500,
      last_error: 'HTTP 500',
    });
    expect(service.hits.sort()).toEqual(['/error', '/redirect']);
    const log = [redirect, error].map((hook) => server!.api('GET', `/webhooks/${hook.body.id}/deliveries`));
    expect(JSON.stringify(await Promise.all(log))).not.toContain('secret');
  });
});
