/**
 * PostgreSQL stopped and started (`pg_ctl -m fast`) twice while update checks, stats batches and
 * release changes keep coming. The server runs in its own process, so a crash shows as an exit.
 * What it must hold: the process never exits; while the database is down, requests that need it
 * get 503 with Retry-After (never a 500, never a hang); every stats event answered 2xx and every
 * release change answered 2xx is in the database afterwards; everything works again without a
 * restart. Loopback only; the load is a fixed number of workers for a fixed time.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TEST_BACKEND } from '../helpers/backends.js';
import { startPostgres, type PostgresServer } from '../helpers/postgres.js';
import { ADMIN_TOKEN, deviceInfo, sendJson, uploadBundle } from '../helpers/server.js';
import { spawnServer, type SpawnedServer } from '../helpers/spawned-server.js';
import { waitFor } from '../helpers/wait.js';
import { makeZip } from '../helpers/zips.js';

const APP = 'com.example.pgrestart';
const WORKERS = 8;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe.runIf(TEST_BACKEND === 'postgres')('PostgreSQL restarted under load', () => {
  let postgres: PostgresServer;
  let databaseUrl: string;
  let dataDir: string;
  let server: SpawnedServer;

  const admin = (method: string, route: string, body?: unknown) =>
    sendJson(`${server.url}/api/v1${route}`, method, body, { authorization: `Bearer ${ADMIN_TOKEN}` });

  beforeAll(async () => {
    postgres = await startPostgres();
    databaseUrl = postgres.urlOf(await postgres.createDatabase());
    dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'overair-pgrestart-'));
    server = await spawnServer({
      OVERAIR_DATA_DIR: dataDir,
      OVERAIR_DATABASE_URL: databaseUrl,
      OVERAIR_STORAGE: 'fs',
      OVERAIR_ADMIN_TOKEN: ADMIN_TOKEN,
    });
  });

  afterAll(async () => {
    await server?.kill();
    await postgres?.destroy();
    if (dataDir) await fs.rm(dataDir, { recursive: true, force: true });
  });

  it('never exits, answers 503 while down, and keeps everything it acknowledged', async () => {
    expect((await admin('POST', '/apps', { id: APP })).status).toBe(201);
    for (const version of ['1.0.1', '1.0.2']) {
      const zip = await makeZip({ 'index.html': `<!doctype html><p>${version}</p>` });
      expect((await uploadBundle(server, APP, zip, { version })).status).toBe(201);
    }
    expect((await admin('PUT', `/apps/${APP}/channels/production/bundle`, { version: '1.0.1' })).status).toBe(
      200,
    );

    const statuses = new Map<string, Map<number, number>>();
    const count = (kind: string, status: number) => {
      const byStatus = statuses.get(kind) ?? new Map<number, number>();
      byStatus.set(status, (byStatus.get(status) ?? 0) + 1);
      statuses.set(kind, byStatus);
    };
    const acknowledgedEvents: string[] = [];
    const acknowledgedChannels: string[] = [];
    let acknowledgedReleases = 0;
    let sequence = 0;
    let stop = false;

    const worker = async (index: number) => {
      while (!stop) {
        const n = sequence++;
        try {
          if (n % 3 === 0) {
            const check = await sendJson(
              `${server.url}/updates`,
              'POST',
              deviceInfo({ app_id: APP, device_id: `device-${n % 1000}`, version_name: '1.0.0' }),
              {},
            );
            count('updates', check.status);
          } else if (n % 3 === 1) {
            const ids = [0, 1, 2].map((i) => `stat-${n}-${i}`);
            const batch = ids.map((id) => ({
              ...deviceInfo({ app_id: APP, device_id: id, version_name: '1.0.1' }),
              action: 'download_complete',
            }));
            const stats = await sendJson(`${server.url}/stats`, 'POST', batch, {});
            count('stats', stats.status);
            if (stats.status === 200) acknowledgedEvents.push(...ids);
          } else if (index !== 1) {
            const name = `c${n}`;
            const created = await admin('POST', `/apps/${APP}/channels`, { name });
            count('channels', created.status);
            if (created.status === 201) acknowledgedChannels.push(name);
          } else {
            // One worker switches the live bundle, from what the channel says now: a change that was
            // answered 503 may still have been committed, and switching to the live bundle adds
            // no history.
            const channel = await admin('GET', `/apps/${APP}/channels/production`);
            count('releases', channel.status);
            if (channel.status !== 200) continue;
            const version = channel.body.version === '1.0.1' ? '1.0.2' : '1.0.1';
            const released = await admin('PUT', `/apps/${APP}/channels/production/bundle`, { version });
            count('releases', released.status);
            if (released.status === 200) acknowledgedReleases++;
          }
        } catch {
          // A refused or reset connection would show here: counted as status 0.
          count('network', 0);
        }
      }
    };

    const load = Promise.all(Array.from({ length: WORKERS }, (_, index) => worker(index)));
    await sleep(1500);
    await postgres.stop();
    await sleep(4000);
    expect(server.alive(), server.output()).toBe(true);
    await postgres.start();
    await sleep(2500);
    await postgres.stop();
    await sleep(6000);
    expect(server.alive(), server.output()).toBe(true);
    await postgres.start();
    await sleep(4000);
    stop = true;
    await load;

    expect(server.alive(), server.output()).toBe(true);
    expect(server.output()).not.toMatch(/uncaught|unhandled/i);
    const seen = Object.fromEntries([...statuses].map(([kind, map]) => [kind, Object.fromEntries(map)]));
    for (const [kind, byStatus] of statuses) {
      for (const status of byStatus.keys()) {
        // 2xx, or 503 while the database was down; never a 500 nor a dropped connection.
        expect([200, 201, 503], `${kind}: ${JSON.stringify(seen)}`).toContain(status);
      }
    }
    expect(statuses.get('stats')?.get(503), JSON.stringify(seen)).toBeGreaterThan(0);
    expect(acknowledgedEvents.length).toBeGreaterThan(100);

    // Back to normal without a restart.
    await waitFor(async () => (await admin('GET', `/apps/${APP}`)).status === 200, { timeoutMs: 15_000 });

    const client = new pg.Client({ connectionString: databaseUrl });
    await client.connect();
    try {
      const events = await client.query<{ device_id: string }>(
        `select device_id from device_events where app_id = $1 and device_id like 'stat-%'`,
        [APP],
      );
      const stored = new Set(events.rows.map((row) => row.device_id));
      const missing = acknowledgedEvents.filter((id) => !stored.has(id));
      expect(
        missing,
        `${missing.length} of ${acknowledgedEvents.length} acknowledged events missing`,
      ).toEqual([]);
      const channels = await client.query<{ name: string }>(`select name from channels where app_id = $1`, [
        APP,
      ]);
      const names = new Set(channels.rows.map((row) => row.name));
      expect(acknowledgedChannels.filter((name) => !names.has(name))).toEqual([]);
      const history = await client.query<{ n: string }>(
        `select count(*) as n from channel_history where app_id = $1 and channel_name = 'production'`,
        [APP],
      );
      expect(Number(history.rows[0]!.n)).toBeGreaterThanOrEqual(acknowledgedReleases);
    } finally {
      await client.end();
    }
  }, 90_000);
});
