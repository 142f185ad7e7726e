/**
 * /metrics for operators (docs/metrics.md), through a real server: off by default; on the main port
 * behind a bearer token; on a listener of its own. Each scrape is parsed by a Prometheus text-format
 * parser (prom2javascript, not prom-client's code), and the counters must move by what
 * the test did: update checks of the three protocols, a download, device events, a webhook delivery,
 * an automatic halt. A hostile client must not be able to add label values (series) at will.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { TEST_BACKEND } from './helpers/backends.js';
import { parseScrape, type Scrape } from './helpers/prometheus.js';
import { deviceInfo, startTestServer, uploadBundle, type TestServer } from './helpers/server.js';
import { makeZip } from './helpers/zips.js';

const TOKEN = 'metrics-token-0123456789abcdef';
const APP = 'com.example.metrics';
/** Fast webhook retries, and loopback receivers allowed. */
const WEBHOOKS = { retryDelaysMs: [40], timeoutMs: 2000, pollMs: 100 };

async function get(url: string, token?: string) {
  const response = await fetch(url, { headers: token ? { authorization: `Bearer ${token}` } : {} });
  return { status: response.status, type: response.headers.get('content-type'), text: await response.text() };
}

async function waitFor<T>(probe: () => Promise<T>, ms = 5000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${probe.toString()}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

describe('/metrics, off by default', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(() => server.stop());

  it('is not served: the main port answers 404 JSON (not the dashboard), token or not', async () => {
    for (const token of [undefined, TOKEN]) {
      const answer = await get(`${server.url}/metrics`, token);
      expect(answer.status).toBe(404);
      expect(JSON.parse(answer.text)).toMatchObject({ error: 'not_found' });
    }
    expect(server.metricsUrl).toBeNull();
  });
});

describe('/metrics on the main port, behind a bearer token', () => {
  let server: TestServer;
  let receiver: http.Server;
  let receiverUrl: string;
  const scrape = async (): Promise<Scrape> => {
    const answer = await get(`${server.url}/metrics`, TOKEN);
    expect(answer.status).toBe(200);
    return await parseScrape(answer.text);
  };

  beforeAll(async () => {
    receiver = http.createServer((request, response) => {
      request.resume();
      request.on('end', () => response.end('ok'));
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
    server = await startTestServer(
      { OVERAIR_METRICS_TOKEN: TOKEN, OVERAIR_WEBHOOK_ALLOW_HOSTS: '127.0.0.1' },
      { webhooks: WEBHOOKS },
    );
    expect((await server.api('POST', '/apps', { id: APP })).status).toBe(201);
  });
  afterAll(async () => {
    await server.stop();
    await new Promise((resolve) => receiver.close(resolve));
  });

  it('refuses a scrape without the token, or with another, as 401 JSON', async () => {
    const cases = [undefined, 'wrong', `${TOKEN}x`, TOKEN.slice(0, -1), TOKEN.toUpperCase()];
    for (const token of cases) {
      const answer = await get(`${server.url}/metrics`, token);
      expect(answer.status, String(token)).toBe(401);
      expect(answer.type).toMatch(/application\/json/);
      expect(JSON.parse(answer.text)).toEqual({ error: 'metrics_unauthorized', message: expect.any(String) });
      expect(answer.text).not.toContain(TOKEN);
    }
    // Basic auth, or the token as a query parameter, is not the bearer token.
    const basic = await fetch(`${server.url}/metrics?token=${TOKEN}`, {
      headers: { authorization: `Basic ${Buffer.from(`x:${TOKEN}`).toString('base64')}` },
    });
    expect(basic.status).toBe(401);
    const ok = await get(`${server.url}/metrics`, TOKEN);
    expect(ok.status).toBe(200);
    expect(ok.type).toBe('text/plain; version=0.0.4; charset=utf-8');
  });

  it('counts checks, downloads, device events, webhook deliveries and halts by what happened', async () => {
    const before = await scrape();
    const zip = await makeZip({ 'index.html': '<html>metrics</html>', 'app.js': 'console.log(1)' });
    expect((await uploadBundle(server, APP, zip, { version: '1.0.0' })).status).toBe(201);
    expect(
      (await uploadBundle(server, APP, await makeZip({ 'index.html': 'two' }), { version: '1.1.0' })).status,
    ).toBe(201);
    const hook = await server.api('POST', '/webhooks', { url: receiverUrl, events: '*', app_id: APP });
    expect(hook.status).toBe(201);
    const channel = `/apps/${APP}/channels/production`;
    expect((await server.api('PUT', `${channel}/bundle`, { version: '1.0.0' })).status).toBe(200);

    // Capgo (POST /updates): 2 updates, 3 up to date (plugin 7 and 8), 1 bad body, 1 unknown app.
    const updates: any[] = [];
    for (const id of ['d1', 'd2']) {
      const device = deviceInfo({ app_id: APP, device_id: id, version_name: '0.9.0' });
      const answer = await server.device('POST', '/updates', device);
      expect(answer.body.version, JSON.stringify(answer.body)).toBe('1.0.0');
      updates.push(answer.body);
    }
    for (const plugin of ['7.2.0', '8.1.0', '8.51.23']) {
      const answer = await server.device(
        'POST',
        '/updates',
        deviceInfo({ app_id: APP, device_id: `u${plugin}`, version_name: '1.0.0', plugin_version: plugin }),
      );
      expect(answer.body.kind).toBe('up_to_date');
    }
    expect((await server.device('POST', '/updates', '{"app_id": 1')).status).toBe(400);
    expect((await server.device('POST', '/updates', deviceInfo({ app_id: 'com.example.none' }))).status).toBe(
      404,
    );
    // The plain /check and Capawesome's latest-bundle check: one update each.
    expect((await server.device('POST', '/check', { app_id: APP, version: 'builtin' })).body.version).toBe(
      '1.0.0',
    );
    const latest = await get(
      `${server.url}/v1/apps/${APP}/bundles/latest?deviceId=cw1&platform=0&pluginVersion=7.1.0`,
    );
    expect(latest.status).toBe(200);

    // A download of the bundle: streamed here on local disk, a redirect to S3 otherwise.
    const download = await fetch(updates[0].url, { redirect: 'manual' });
    const bytes = download.status === 200 ? (await download.arrayBuffer()).byteLength : 0;
    expect(download.status).toBe(TEST_BACKEND === 'sqlite' ? 200 : 302);
    if (download.status === 200) expect(bytes).toBe(zip.length);

    // Device events: three known actions and one the plugin may add one day.
    const event = {
      ...deviceInfo({ app_id: APP, device_id: 'd1' }),
      version_name: '1.0.0',
      old_version_name: 'builtin',
    };
    const stats = await server.device('POST', '/stats', [
      { ...event, action: 'download_complete' },
      { ...event, action: 'set' },
      { ...event, action: 'set' },
      { ...event, action: 'some_future_action' },
    ]);
    expect(stats.status).toBe(200);

    // An automatic halt: 1.1.0 released, and both devices that try it fail to start it.
    await server.api('PATCH', channel, { failure_threshold: 0.5, failure_min_devices: 2 });
    expect((await server.api('PUT', `${channel}/bundle`, { version: '1.1.0' })).status).toBe(200);
    const failed = ['h1', 'h2'].map((id) => ({
      ...deviceInfo({ app_id: APP, device_id: id }),
      action: 'update_fail',
      version_name: '1.1.0',
      old_version_name: '1.0.0',
    }));
    expect((await server.device('POST', '/stats', failed)).status).toBe(200);
    await server.services.activity.flush();
    expect((await server.api('GET', channel)).body).toMatchObject({ version: '1.0.0' });

    // Webhook deliveries: uploads, releases and the halt, all delivered.
    const delivered = await waitFor(async () => {
      const items = (await server.api('GET', `/webhooks/${hook.body.id}/deliveries`)).body.items as any[];
      return items.length > 0 && items.every((item) => item.status === 'delivered') && items.length;
    });

    const after = await scrape();
    const moved = (name: string, labels: Record<string, string> = {}) =>
      after.value(name, labels) - before.value(name, labels);
    const checks = (labels: Record<string, string>) => moved('overair_update_checks_total', labels);
    expect(checks({ plugin: 'capgo', plugin_major: '8', outcome: 'update' })).toBe(2);
    expect(checks({ plugin: 'capgo', plugin_major: '7', outcome: 'up_to_date' })).toBe(1);
    expect(checks({ plugin: 'capgo', plugin_major: '8', outcome: 'up_to_date' })).toBe(2);
    expect(checks({ plugin: 'capgo', plugin_major: 'unknown', outcome: 'invalid' })).toBe(2);
    expect(checks({ plugin: 'plain', plugin_major: 'unknown', outcome: 'update' })).toBe(1);
    expect(checks({ plugin: 'capawesome', plugin_major: '7', outcome: 'update' })).toBe(1);

    // Every POST /updates above was timed, by the status class of its answer.
    const timed = (labels: Record<string, string>) =>
      after.count('overair_http_request_duration_seconds', labels) -
      before.count('overair_http_request_duration_seconds', labels);
    expect(timed({ route: '/updates', method: 'POST', status_class: '2xx' })).toBe(5);
    expect(timed({ route: '/updates', method: 'POST', status_class: '4xx' })).toBe(2);
    // Other routes by their pattern, never by their path.
    expect(timed({ route: '/v1/apps/:appId/bundles/latest', method: 'GET', status_class: '2xx' })).toBe(1);
    expect(
      timed({ route: '/api/v1/apps/:appId/channels/:channel/bundle', method: 'PUT', status_class: '2xx' }),
    ).toBe(2);

    if (TEST_BACKEND === 'sqlite') {
      expect(moved('overair_downloads_total', { kind: 'bundle', answer: 'full' })).toBe(1);
      expect(moved('overair_download_bytes_total', { kind: 'bundle' })).toBe(zip.length);
    } else {
      expect(moved('overair_downloads_total', { kind: 'bundle', answer: 'redirect' })).toBe(1);
      expect(moved('overair_download_bytes_total', { kind: 'bundle' })).toBe(0);
    }

    expect(moved('overair_device_events_total', { action: 'download_complete' })).toBe(1);
    expect(moved('overair_device_events_total', { action: 'set' })).toBe(2);
    expect(moved('overair_device_events_total', { action: 'other' })).toBe(1);
    expect(moved('overair_device_events_total', { action: 'update_fail' })).toBe(2);

    expect(moved('overair_release_halts_total', { trigger: 'automatic' })).toBe(1);
    expect(moved('overair_webhook_deliveries_total', { outcome: 'delivered' })).toBe(delivered);
    expect(moved('overair_webhook_deliveries_total', { outcome: 'failed' })).toBe(0);

    // Checks answered from memory are hits; the release cache is loaded at least once per change.
    expect(moved('overair_release_cache_lookups_total', { result: 'hit' })).toBeGreaterThan(0);
    expect(moved('overair_release_cache_lookups_total', { result: 'miss' })).toBeGreaterThan(0);

    // The process: memory and event-loop delay (prom-client's defaults); the pool on PostgreSQL.
    expect(after.value('process_resident_memory_bytes')).toBeGreaterThan(10_000_000);
    expect(after.families.get('nodejs_eventloop_lag_p99_seconds')?.type).toBe('gauge');
    if (TEST_BACKEND === 'postgres') {
      expect(after.value('overair_database_pool_connections', { state: 'total' })).toBeGreaterThan(0);
      expect(after.families.get('overair_database_pool_connections')?.data).toHaveLength(3);
    } else expect(after.families.has('overair_database_pool_connections')).toBe(false);
    expect(after.families.get('overair_database_errors_total')?.type).toBe('counter');
  });

  it('counts on each instance what that instance answered (Prometheus scrapes each)', async () => {
    const other = await startTestServer({ ...server.stateEnv, OVERAIR_METRICS_TOKEN: TOKEN });
    try {
      const scrapeOf = async (url: string) => parseScrape((await get(`${url}/metrics`, TOKEN)).text);
      const checks = (scraped: Scrape) =>
        scraped.value('overair_update_checks_total', {
          plugin: 'capgo',
          plugin_major: '7',
          outcome: 'up_to_date',
        });
      const [beforeHere, beforeThere] = [await scrapeOf(server.url), await scrapeOf(other.url)];
      const device = deviceInfo({
        app_id: APP,
        device_id: 'both',
        version_name: '1.0.0',
        plugin_version: '7.0.0',
      });
      for (let i = 0; i < 3; i++) await server.device('POST', '/updates', device);
      await fetch(`${other.url}/updates`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(device),
      });
      expect(checks(await scrapeOf(server.url)) - checks(beforeHere)).toBe(3);
      expect(checks(await scrapeOf(other.url)) - checks(beforeThere)).toBe(1);
    } finally {
      await other.stop();
    }
  });

  it('keeps its label sets bounded whatever a hostile client sends', async () => {
    const before = await scrape();
    const marker = 'zz9hostile';
    const requests: Promise<unknown>[] = [];
    for (let i = 0; i < 300; i++) {
      const noise = `${marker}${i}`;
      requests.push(
        // Paths, methods, app ids, device ids, plugin versions and stats actions nobody registered.
        fetch(`${server.url}/${noise}/x?${noise}=1`, { method: i % 2 ? 'GET' : 'PROPFIND' }),
        fetch(`${server.url}/api/v1/apps/${noise}/channels/${noise}`, {
          headers: { authorization: `Bearer ${noise}` },
        }),
        fetch(`${server.url}/download/${noise}`),
        server.device(
          'POST',
          '/updates',
          deviceInfo({ app_id: `com.${noise}`, device_id: noise, plugin_version: `${i}.0.${noise}` }),
        ),
        server.device(
          'POST',
          '/updates',
          deviceInfo({ app_id: APP, device_id: noise, plugin_version: `${i}.1.0` }),
        ),
        server.device('POST', '/stats', {
          ...deviceInfo({ app_id: APP, device_id: noise }),
          action: noise,
          version_name: noise,
          old_version_name: '',
        }),
        get(
          `${server.url}/v1/apps/${noise}/bundles/latest?deviceId=${noise}&platform=1&pluginVersion=${noise}`,
        ),
      );
      if (requests.length >= 70) await Promise.all(requests.splice(0));
    }
    await Promise.all(requests);
    const text = (await get(`${server.url}/metrics`, TOKEN)).text;
    expect(text).not.toContain(marker);
    const after = await parseScrape(text);
    // Only the overair_* series: prom-client's own (heap spaces, GC kinds) are the runtime's.
    const ours = (scrape: Scrape) => scrape.series().filter((name) => name.startsWith('overair_'));
    const added = ours(after).filter((name) => !ours(before).includes(name));
    // 2,100 requests of new values each added a few series of fixed label values at most
    // (new outcomes, majors up to "other", methods as "other", "unmatched" routes).
    expect(added.length).toBeLessThan(40);
    expect(after.value('overair_device_events_total', { action: 'other' })).toBeGreaterThanOrEqual(300);
    const majors = (
      after.families.get('overair_update_checks_total')!.data as { labels: Record<string, string> }[]
    ).map((sample) => sample.labels.plugin_major);
    expect(new Set(majors).size).toBeLessThanOrEqual(18);
  });
});

describe('/metrics on a listener of its own', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ OVERAIR_METRICS_LISTEN: '127.0.0.1:0' });
  });
  afterAll(() => server.stop());

  it('serves /metrics there only, without a token, and nothing else there', async () => {
    expect(server.metricsUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
    expect(server.metricsUrl).not.toContain(`:${server.port}/`);
    await server.device('POST', '/updates', deviceInfo({ app_id: 'com.example.none' }));
    const answer = await get(server.metricsUrl!);
    expect(answer.status).toBe(200);
    const scraped = await parseScrape(answer.text);
    expect(
      scraped.value('overair_update_checks_total', {
        plugin: 'capgo',
        plugin_major: 'unknown',
        outcome: 'invalid',
      }),
    ).toBe(1);
    // The main port does not serve it, and the metrics port serves nothing else.
    expect((await get(`${server.url}/metrics`)).status).toBe(404);
    const other = await get(server.metricsUrl!.replace('/metrics', '/api/v1/apps'));
    expect(other.status).toBe(404);
    expect(JSON.parse(other.text)).toMatchObject({ error: 'not_found' });
    const post = await fetch(server.metricsUrl!, { method: 'POST' });
    expect(post.status).toBe(405);
  });

  it('asks for the token there too when both are set, and stops with the server', async () => {
    const both = await startTestServer({
      OVERAIR_METRICS_LISTEN: '127.0.0.1:0',
      OVERAIR_METRICS_TOKEN: TOKEN,
    });
    try {
      expect((await get(both.metricsUrl!)).status).toBe(401);
      expect((await get(both.metricsUrl!, 'another-token-0123456789abcdef')).status).toBe(401);
      expect((await get(both.metricsUrl!, TOKEN)).status).toBe(200);
      expect((await get(`${both.url}/metrics`, TOKEN)).status).toBe(404);
    } finally {
      await both.stop();
    }
    await expect(fetch(both.metricsUrl!)).rejects.toThrow();
  });
});

describe('metrics settings', () => {
  const refusal = (env: Record<string, string>) => {
    try {
      loadConfig(env);
    } catch (error) {
      return (error as Error).message;
    }
    return null;
  };

  it('are off unless given; refuse a bad address, the main port, or a short token, naming the setting', () => {
    expect(loadConfig({})).toMatchObject({ metricsListen: undefined, metricsToken: undefined });
    expect(loadConfig({ OVERAIR_METRICS_LISTEN: '127.0.0.1:9464' }).metricsListen).toEqual({
      host: '127.0.0.1',
      port: 9464,
    });
    expect(loadConfig({ OVERAIR_METRICS_LISTEN: ':9464' }).metricsListen).toEqual({
      host: '0.0.0.0',
      port: 9464,
    });
    expect(loadConfig({ OVERAIR_METRICS_LISTEN: '[::1]:9464' }).metricsListen).toEqual({
      host: '::1',
      port: 9464,
    });
    for (const bad of [
      '9464',
      'localhost',
      '127.0.0.1:99999',
      'http://127.0.0.1:9464',
      '[nope]:1',
      'a b:1',
    ]) {
      expect(refusal({ OVERAIR_METRICS_LISTEN: bad }), bad).toMatch(
        /^invalid configuration:\n {2}OVERAIR_METRICS_LISTEN/,
      );
    }
    expect(refusal({ OVERAIR_PORT: '3000', OVERAIR_METRICS_LISTEN: '127.0.0.1:3000' })).toMatch(
      /OVERAIR_METRICS_LISTEN: port 3000 is the main port/,
    );
    const short = refusal({ OVERAIR_METRICS_TOKEN: 'short-secret-token' });
    expect(short).toMatch(/OVERAIR_METRICS_TOKEN \(18 characters\): must be at least 24 characters/);
    expect(short).not.toContain('short-secret-token');
    expect(refusal({ OVERAIR_METRICS_TOKEN: 'a token with spaces 0123456789' })).toMatch(
      /OVERAIR_METRICS_TOKEN \(30 characters\): must not contain spaces/,
    );
  });
});
