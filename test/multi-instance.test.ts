/**
 * Scale-out (docs/architecture.md): two Overair instances on one PostgreSQL database and one S3 bucket, each
 * with a data folder of its own, behave as one server. Nothing may live only in one instance: what
 * is released through one is served by the other within the documented bound, links signed by one
 * are good on the other, they start together on an empty database, share webhook work without
 * sending twice, and share the failed-login limit. PostgreSQL only (SQLite is one instance's file).
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it, vi } from 'vitest';
import { loadConfig } from '../src/config.js';
import { openPostgres, type DatabaseHandle } from '../src/db/connect.js';
import { Repos } from '../src/db/index.js';
import { createLogger } from '../src/log.js';
import { startServer, type RunningServer } from '../src/server.js';
import { ChannelService } from '../src/services/channels.js';
import { ReleaseCache } from '../src/services/release-cache.js';
import { TokenService } from '../src/services/tokens.js';
import { UserService } from '../src/services/users.js';
import { backendForServer, TEST_BACKEND } from './helpers/backends.js';
import { createBucket, deleteBucket } from './helpers/radosgw.js';
import { deviceInfo, sendJson, VECTORS } from './helpers/server.js';
import { runSql } from './helpers/sql.js';
import { waitFor } from './helpers/wait.js';

const APP = 'com.example.scaled';
const ADMIN_USER = 'operator';
const ADMIN_PASSWORD = 'correct-horse-battery-staple';
/** Failed authentications per address before 429s, counted over both instances. */
const MAX_FAILURES = 4;

interface Instance {
  server: RunningServer;
  dataDir: string;
  api(method: string, route: string, body?: unknown, token?: string): ReturnType<typeof sendJson>;
  check(info?: Record<string, unknown>): ReturnType<typeof sendJson>;
  close(): Promise<void>;
}

/**
 * One `overair serve`, configured from the environment as in production, with a data folder of its
 * own. `token`: the admin token its `api` sends (known only once both have started: one minted it).
 */
async function startInstance(env: Record<string, string>, token: () => string): Promise<Instance> {
  const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'overair-instance-'));
  const config = loadConfig({
    OVERAIR_DATA_DIR: dataDir,
    OVERAIR_PORT: '0',
    OVERAIR_HOST: '127.0.0.1',
    OVERAIR_LOG_LEVEL: 'silent',
    ...env,
  });
  // Both dispatchers look for due deliveries all the time, so that they race for each one.
  const server = await startServer(config, createLogger(config.logLevel), {
    webhooks: { retryDelaysMs: [50, 50], timeoutMs: 2000, pollMs: 25 },
  });
  return {
    server,
    dataDir,
    api(method, route, body, as = token()) {
      return sendJson(`${server.url}/api/v1${route}`, method, body, { authorization: `Bearer ${as}` });
    },
    check: (info = {}) => sendJson(`${server.url}/updates`, 'POST', deviceInfo({ app_id: APP, ...info }), {}),
    async close() {
      await server.close();
      await fs.rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** A device on a version older than any uploaded here: it is offered whatever its channel serves. */
const OLD_DEVICE = { version_name: '0.9.0', version_build: '0.9.0' };

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

describe.skipIf(TEST_BACKEND !== 'postgres')('two instances on one database and one bucket', () => {
  let a: Instance;
  let b: Instance;
  let adminToken = '';
  let cleanupDatabase: () => Promise<void> = async () => {};
  let bucket: string | undefined;
  let initialTokens: (string | null)[];
  let zip: Buffer;
  /**
   * The bound the README states for a release made through one instance to be served by every
   * other: the release cache's TTL plus one load of it (allowed 1 s on a busy test machine). With
   * LISTEN/NOTIFY it is milliseconds; the TTL is the fallback when a notice is lost.
   */
  let boundMs: number;

  beforeAll(async () => {
    const database = await backendForServer();
    cleanupDatabase = database.cleanup;
    const s3 = inject('s3');
    bucket = await createBucket(s3);
    const env = {
      ...database.env,
      OVERAIR_STORAGE: 's3',
      OVERAIR_S3_ENDPOINT: s3.endpoint,
      OVERAIR_S3_REGION: s3.region,
      OVERAIR_S3_BUCKET: bucket,
      OVERAIR_S3_ACCESS_KEY: s3.accessKey,
      OVERAIR_S3_SECRET_KEY: s3.secretKey,
      OVERAIR_PRIVATE_DOWNLOADS: 'true',
      OVERAIR_ADMIN_USER: ADMIN_USER,
      OVERAIR_ADMIN_PASSWORD: ADMIN_PASSWORD,
      OVERAIR_AUTH_MAX_FAILURES: String(MAX_FAILURES),
      // The webhook receiver below listens on loopback.
      OVERAIR_WEBHOOK_ALLOW_HOSTS: '127.0.0.1',
    };
    // Together, on an empty database: both migrate it, and race to create the first token and user.
    const started = await Promise.all([0, 1].map(() => startInstance(env, () => adminToken)));
    [a, b] = started as [Instance, Instance];
    initialTokens = started.map((instance) => instance.server.initialToken);
    adminToken = initialTokens.find((token) => token !== null) ?? '';
    boundMs = a.server.services.cache.ttlMs + 1000;
    zip = await fs.readFile(path.join(VECTORS, 'bundle.zip'));
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await cleanupDatabase();
    if (bucket) await deleteBucket(inject('s3'), bucket);
  });

  const upload = async (through: Instance, version: string) => {
    const response = await fetch(
      `${through.server.url}/api/v1/apps/${APP}/bundles/upload?${new URLSearchParams({ version })}`,
      {
        method: 'POST',
        headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/zip' },
        body: new Uint8Array(zip),
      },
    );
    expect(response.status, await response.clone().text()).toBe(201);
    return (await response.json()) as { url: string; sha256: string };
  };

  /** Polls a device's check through `instance` until it is offered `version`; resolves to the wait. */
  const offered = async (instance: Instance, version: string, since: number) => {
    const answer = await waitFor(
      async () => {
        const check = await instance.check(OLD_DEVICE);
        return check.body?.version === version && check;
      },
      { timeoutMs: boundMs, intervalMs: 10 },
    );
    return { answer, waitedMs: Date.now() - since };
  };

  it('start together on an empty database: migrated once, one admin token minted, one admin user', async () => {
    expect(initialTokens.filter((token) => token !== null)).toHaveLength(1);
    expect(await runSql(a.server, 'select name from tokens')).toEqual([{ name: 'initial admin' }]);
    expect(await runSql(a.server, 'select username, server_admin from users')).toEqual([
      { username: ADMIN_USER, server_admin: 1 },
    ]);
    const applied = await runSql(a.server, 'select name from kysely_migration');
    expect(new Set(applied.map((row) => row.name)).size).toBe(applied.length);
    expect(applied.map((row) => row.name)).toContain('0012_settings');
    // One download secret, in the database, and none in either data folder.
    expect(await runSql(a.server, "select key from settings where key = 'download_secret'")).toHaveLength(1);
    for (const instance of [a, b]) {
      await expect(fs.access(path.join(instance.dataDir, 'download-secret'))).rejects.toThrow();
      expect((await instance.api('GET', '/whoami')).status).toBe(200);
    }
  });

  it('serves through B a bundle uploaded and made live through A, within the stated bound', async () => {
    expect((await a.api('POST', '/apps', { id: APP })).status).toBe(201);
    // B has the app in its release cache, with nothing live: what it serves must change.
    const before = await b.check(OLD_DEVICE);
    expect(before.status).toBe(200);
    expect(before.body.version).toBeUndefined();
    const heardOfIt = vi.spyOn(b.server.services.cache, 'drop');

    const uploaded = await upload(a, '1.0.0');
    const live = await a.api('PUT', `/apps/${APP}/channels/production/bundle`, { version: '1.0.0' });
    expect(live.status).toBe(200);
    const { answer, waitedMs } = await offered(b, '1.0.0', Date.now());
    expect(waitedMs).toBeLessThanOrEqual(boundMs);
    expect(answer.body.checksum).toBe(uploaded.sha256);
    // B was told (PostgreSQL NOTIFY) rather than left to wait for its cache to expire.
    expect(heardOfIt).toHaveBeenCalledWith(APP);

    // The bytes are in the shared bucket: B's signed link downloads the bundle A stored.
    const download = await fetch(answer.body.url);
    expect(download.status).toBe(200);
    expect(sha256(new Uint8Array(await download.arrayBuffer()))).toBe(uploaded.sha256);
  });

  it('serves through A a rollback made through B, within the stated bound', async () => {
    await upload(a, '1.0.1');
    expect((await a.api('PUT', `/apps/${APP}/channels/production/bundle`, { version: '1.0.1' })).status).toBe(
      200,
    );
    await offered(a, '1.0.1', Date.now());
    const rollback = await b.api('POST', `/apps/${APP}/channels/production/rollback`, {});
    expect(rollback.status, JSON.stringify(rollback.body)).toBe(200);
    expect(rollback.body).toMatchObject({ version: '1.0.0' });
    const { waitedMs } = await offered(a, '1.0.0', Date.now());
    expect(waitedMs).toBeLessThanOrEqual(boundMs);
  });

  it('downloads through B a private link handed out by A', async () => {
    const check = await a.check(OLD_DEVICE);
    expect(check.body.url).toMatch(new RegExp(`^${a.server.url}/download/[0-9a-f]{64}\\?exp=\\d+&sig=`));
    const throughB = check.body.url.replace(a.server.url, b.server.url);
    const download = await fetch(throughB);
    expect(download.status).toBe(200);
    expect(sha256(new Uint8Array(await download.arrayBuffer()))).toBe(check.body.checksum);
    // And a link B did not sign is refused there, as anywhere.
    const forged = await fetch(throughB.replace(/sig=[^&]+/, `sig=${'A'.repeat(43)}`));
    expect(forged.status).toBe(403);
    await forged.arrayBuffer();
  });

  it('sends each webhook delivery once, with both instances looking for work', async () => {
    const received: string[] = [];
    const receiver = http.createServer((request, response) => {
      received.push(String(request.headers['x-overair-delivery']));
      request.resume();
      request.on('end', () => response.end('ok'));
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
      const hook = await a.api('POST', '/webhooks', { url, app_id: APP, events: '*' });
      expect(hook.status).toBe(201);
      // Events recorded through either instance; each dispatcher also polls for the other's.
      const ids: string[] = [];
      for (let i = 0; i < 10; i++) {
        const through = i % 2 === 0 ? a : b;
        const queued = await through.api('POST', `/webhooks/${hook.body.id}/test`);
        expect(queued.status).toBe(202);
        ids.push(String(queued.body.id));
      }
      // A release event too, recorded by the instance that made the change.
      expect(
        (await b.api('PUT', `/apps/${APP}/channels/production/bundle`, { version: '1.0.1' })).status,
      ).toBe(200);
      const items = await waitFor(async () => {
        const log = (await a.api('GET', `/webhooks/${hook.body.id}/deliveries?limit=100`)).body.items as {
          id: number;
          status: string;
          attempts: number;
          event: string;
        }[];
        return log.length === 11 && log.every((item) => item.status === 'delivered') && log;
      });
      // Delivered means no longer claimable: every send that will ever happen has happened.
      expect(items.every((item) => item.attempts === 1)).toBe(true);
      expect(items.filter((item) => item.event === 'channel.released')).toHaveLength(1);
      expect([...received].sort()).toEqual(items.map((item) => String(item.id)).sort());
      expect(received).toEqual(expect.arrayContaining(ids));
    } finally {
      receiver.closeAllConnections();
      await new Promise<void>((resolve) => receiver.close(() => resolve()));
    }
  });

  // Last: it leaves this machine's address refused for the rest of the window.
  it('counts failed logins over both instances', async () => {
    const wrong = 'oat_not-a-token-0123456789abcdef';
    for (const instance of [a, a, b])
      expect((await instance.api('GET', '/whoami', undefined, wrong)).status).toBe(401);
    // The 4th failure, wherever it lands, blocks the address: B refuses even a valid token now.
    expect((await b.api('GET', '/whoami', undefined, wrong)).status).toBe(401);
    expect((await b.api('GET', '/whoami')).status).toBe(429);
    // A learns of the block at its next failure there (one guess more, not MAX_FAILURES more).
    expect((await a.api('GET', '/whoami', undefined, wrong)).status).toBe(401);
    const refused = await a.api('GET', '/whoami');
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
  });
});

describe.skipIf(TEST_BACKEND !== 'postgres')('first start of several instances at once', () => {
  const INSTANCES = 6;
  let cleanup: () => Promise<void> = async () => {};
  let handles: DatabaseHandle[] = [];
  let instances: { tokens: TokenService; users: UserService }[] = [];

  beforeAll(async () => {
    const database = await backendForServer();
    cleanup = database.cleanup;
    const url = database.env.OVERAIR_DATABASE_URL!;
    // A pool each, as separate processes would have: their transactions really run side by side.
    handles = await Promise.all(Array.from({ length: INSTANCES }, () => openPostgres(url, { max: 2 })));
    instances = handles.map(({ db }) => {
      const repos = new Repos(db);
      return { tokens: new TokenService(repos), users: new UserService(repos) };
    });
  });
  afterAll(async () => {
    for (const handle of handles) await handle.close();
    await cleanup();
  });

  it('mints one admin token, not one per instance', async () => {
    const minted = await Promise.all(instances.map(({ tokens }) => tokens.ensureAdminToken(undefined)));
    expect(minted.filter((secret) => secret !== null)).toHaveLength(1);
    expect(await new Repos(handles[0]!.db).tokens.count()).toBe(1);
  });

  it('adopts a configured admin token once, without failing on the others', async () => {
    const configured = 'oat_configured-admin-token-0123456789';
    await Promise.all(instances.map(({ tokens }) => tokens.ensureAdminToken(configured)));
    const names = (await new Repos(handles[0]!.db).tokens.list()).map((token) => token.name);
    expect(names.filter((name) => name === 'OVERAIR_ADMIN_TOKEN')).toHaveLength(1);
  });

  it('creates the admin user once', async () => {
    const created = await Promise.all(
      instances.map(({ users }) => users.ensureAdminUser(ADMIN_USER, ADMIN_PASSWORD)),
    );
    expect(created.filter(Boolean)).toHaveLength(1);
    expect(await new Repos(handles[0]!.db).users.count()).toBe(1);
  });

  it('halts a failing release once when every instance judges it at the same moment', async () => {
    const app = 'com.example.halting';
    const repos = new Repos(handles[0]!.db);
    await repos.apps.insert(app, app);
    await repos.channels.insert({
      app_id: app,
      name: 'production',
      bundle_id: null,
      is_default: 1,
      allow_self_assign: 0,
    });
    const bundle = (version: string) =>
      repos.bundles.insert({
        app_id: app,
        version,
        sha256: version.replace(/\./g, '').padEnd(64, '0'),
        location: 'external',
        external_url: `https://cdn.example.com/${version}.zip`,
        checksum: 'c'.repeat(64),
        created_at: new Date().toISOString(),
      });
    await bundle('1.0.0');
    const failing = await bundle('1.0.1');
    const channels = handles.map(({ db }) => {
      const own = new Repos(db);
      return new ChannelService(own, new ReleaseCache(own));
    });
    await channels[0]!.setLive(app, 'production', '1.0.0', 'test');
    await channels[0]!.setLive(app, 'production', '1.0.1', 'test');

    const halts = await Promise.all(
      channels.map((service) => service.halt(app, 'production', 'fails too often', failing.id)),
    );
    expect(halts.filter((view) => view !== null)).toHaveLength(1);
    expect(await channels[0]!.get(app, 'production')).toMatchObject({ version: '1.0.0' });
    const history = await channels[0]!.history(app, 'production', 10);
    expect(history.filter((entry) => entry.action === 'halt')).toHaveLength(1);
  });
});
