/**
 * `overair serve` killed with SIGKILL in the middle of work, then started again on the same data:
 * everything it answered 2xx for is there (stats events, new channels, live-bundle changes), the
 * SQLite file passes `PRAGMA integrity_check`, and the restarted server serves. Runs on each
 * project's backend (SQLite + disk, PostgreSQL + S3). Loopback only, bounded in time.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { openDatabase } from '../../src/db/connect.js';
import { backendForServer } from '../helpers/backends.js';
import { ADMIN_TOKEN, deviceInfo, sendJson, uploadBundle } from '../helpers/server.js';
import { spawnServer, type SpawnedServer } from '../helpers/spawned-server.js';
import { stagingEntries, storedBlobs } from '../helpers/stored.js';
import type { TestServer } from '../helpers/server.js';
import { makeZip } from '../helpers/zips.js';

const APP = 'com.example.killed';
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A server's settings on a fresh data folder and this project's backend; removed after the test. */
async function freshState(): Promise<Record<string, string>> {
  const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'overair-kill-'));
  const backend = await backendForServer();
  cleanups.push(async () => {
    await backend.cleanup();
    await fs.rm(dataDir, { recursive: true, force: true });
  });
  return { OVERAIR_DATA_DIR: dataDir, OVERAIR_ADMIN_TOKEN: ADMIN_TOKEN, ...backend.env };
}

async function serve(env: Record<string, string>): Promise<SpawnedServer> {
  const server = await spawnServer(env);
  cleanups.push(() => server.kill());
  return server;
}

const admin = (server: SpawnedServer, method: string, route: string, body?: unknown) =>
  sendJson(`${server.url}/api/v1${route}`, method, body, { authorization: `Bearer ${ADMIN_TOKEN}` });

/** Runs `work` in `workers` loops until the server dies; each loop stops at its first network error. */
async function untilKilled(
  server: SpawnedServer,
  workers: number,
  killAfterMs: number,
  work: () => Promise<void>,
) {
  let stopped = false;
  const loop = async () => {
    while (!stopped) {
      try {
        await work();
      } catch {
        return; // the connection was cut by the kill
      }
    }
  };
  const loops = Promise.all(Array.from({ length: workers }, loop));
  await sleep(killAfterMs);
  await server.kill();
  // A loop still waiting for an answer sees its connection reset.
  const deadline = sleep(5000).then(() => (stopped = true));
  await Promise.race([loops, deadline]);
  stopped = true;
  await loops;
}

/** Opens the server's database directly; checks the SQLite file's integrity first. */
async function inspect<T>(
  env: Record<string, string>,
  look: (db: Awaited<ReturnType<typeof openDatabase>>) => Promise<T>,
) {
  const database = await openDatabase(loadConfig(env).database);
  try {
    if (database.dialect === 'sqlite') {
      const { rows } = await sql<{ integrity_check: string }>`pragma integrity_check`.execute(database.db);
      expect(rows).toEqual([{ integrity_check: 'ok' }]);
    }
    return await look(database);
  } finally {
    await database.close();
  }
}

describe('kill -9 mid-work', () => {
  it('loses no stats event it acknowledged during a burst', async () => {
    const env = await freshState();
    const first = await serve(env);
    expect((await admin(first, 'POST', '/apps', { id: APP })).status).toBe(201);

    const acknowledged: string[] = [];
    let sequence = 0;
    await untilKilled(first, 16, 2000, async () => {
      const n = sequence++;
      const ids = Array.from({ length: 20 }, (_, i) => `burst-${n}-${i}`);
      const batch = ids.map((id) => ({
        ...deviceInfo({ app_id: APP, device_id: id, version_name: '1.0.0' }),
        action: 'download_complete',
      }));
      const answer = await sendJson(`${first.url}/stats`, 'POST', batch, {});
      if (answer.status === 200) acknowledged.push(...ids);
    });
    expect(acknowledged.length).toBeGreaterThan(200);
    console.info(`stats burst: ${acknowledged.length} events acknowledged before the kill`);

    const stored = await inspect(env, async ({ db }) => {
      const rows = await db
        .selectFrom('device_events')
        .select('device_id')
        .where('app_id', '=', APP)
        .execute();
      return new Set(rows.map((row) => row.device_id));
    });
    const missing = acknowledged.filter((id) => !stored.has(id));
    expect(missing, `${missing.length} of ${acknowledged.length} acknowledged events missing`).toEqual([]);

    // The restarted server serves, and counts the events of the burst.
    const second = await serve(env);
    const stats = await admin(second, 'GET', `/apps/${APP}/stats`);
    expect(stats.status).toBe(200);
    expect(stats.body.versions[0].downloads).toBeGreaterThanOrEqual(acknowledged.length);
  }, 60_000);

  it('loses no channel or release change it acknowledged', async () => {
    const env = await freshState();
    const first = await serve(env);
    expect((await admin(first, 'POST', '/apps', { id: APP })).status).toBe(201);
    for (const version of ['1.0.1', '1.0.2']) {
      const zip = await makeZip({ 'index.html': `<!doctype html><p>${version}</p>` });
      expect((await uploadBundle(first, APP, zip, { version })).status).toBe(201);
    }

    const channels: string[] = [];
    let lastLive: string | undefined;
    let sequence = 0;
    await untilKilled(first, 6, 1500, async () => {
      const n = sequence++;
      if (n % 2 === 0) {
        const created = await admin(first, 'POST', `/apps/${APP}/channels`, { name: `k${n}` });
        if (created.status === 201) channels.push(`k${n}`);
      } else {
        const version = n % 4 === 1 ? '1.0.1' : '1.0.2';
        const released = await admin(first, 'PUT', `/apps/${APP}/channels/production/bundle`, { version });
        // The last change acknowledged; a later one may have been committed without an answer.
        if (released.status === 200) lastLive = version;
      }
    });
    expect(channels.length).toBeGreaterThan(5);
    expect(lastLive).toBeDefined();

    const second = await serve(env);
    const list = await admin(second, 'GET', `/apps/${APP}/channels`);
    expect(list.status).toBe(200);
    const names = new Set((list.body.items as Array<{ name: string }>).map((channel) => channel.name));
    expect(channels.filter((name) => !names.has(name))).toEqual([]);
    const production = await admin(second, 'GET', `/apps/${APP}/channels/production`);
    expect(['1.0.1', '1.0.2']).toContain(production.body.version);
    await second.kill();
    await inspect(env, async () => undefined);
  }, 60_000);

  it('leaves no staged file, blob or row of an upload cut by the kill', async () => {
    const env = await freshState();
    const first = await serve(env);
    expect((await admin(first, 'POST', '/apps', { id: APP })).status).toBe(201);
    const zip = await makeZip({
      'index.html': '<!doctype html><script src="app.js"></script>',
      'app.js': randomBytes(3_000_000).toString('base64'),
    });
    const request = http.request(`${first.url}/api/v1/apps/${APP}/bundles/upload?version=9.9.9`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${ADMIN_TOKEN}`,
        'content-type': 'application/zip',
        'content-length': zip.length,
      },
    });
    request.on('error', () => undefined); // reset by the kill
    // Half the body, then the kill while the server is staging it.
    request.write(zip.subarray(0, zip.length / 2));
    await sleep(500);
    await first.kill();
    request.destroy();

    const second = await serve(env);
    const config = loadConfig(env);
    const stored = { config, dataDir: env.OVERAIR_DATA_DIR } as unknown as TestServer;
    const staging = await stagingEntries(stored);
    if (config.storage === 's3') {
      // Instances may share the data folder that S3 stages in, so a start removes only staging files
      // older than 6 h; the cut upload's file waits for that. No multipart upload is left open.
      expect(staging.every((name) => name.startsWith('upload-'))).toBe(true);
    } else {
      expect(staging).toEqual([]);
    }
    expect(await storedBlobs(stored)).toEqual([]);
    const bundles = await admin(second, 'GET', `/apps/${APP}/bundles`);
    expect(bundles.body.items).toEqual([]);
    // The version is free: the cut upload left nothing that says otherwise.
    expect((await uploadBundle(second, APP, zip, { version: '9.9.9' })).status).toBe(201);
  }, 60_000);
});
