/**
 * The S3 gateway (radosgw) stopped and started again while bundles are uploaded, devices check for
 * updates, and Capawesome devices download files streamed through the server from the bucket. The server runs in its own process. What it must hold: the process
 * never exits; update checks keep being answered from the release cache; an upload that needs the
 * store while it is down fails with a 503 `storage_unavailable` (never a 500, never a hang); every
 * upload answered 201 has its bytes in the bucket; no multipart upload is left open; everything
 * works again without a restart. Its own gateway (stopping the suite's would disturb other tests);
 * run once, in the project whose storage is S3. Loopback only, bounded in time.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TEST_BACKEND } from '../helpers/backends.js';
import {
  createBucket,
  listIncompleteUploads,
  listKeys,
  startRadosgw,
  type Radosgw,
} from '../helpers/radosgw.js';
import { ADMIN_TOKEN, deviceInfo, filesSettled, sendJson } from '../helpers/server.js';
import { spawnServer, type SpawnedServer } from '../helpers/spawned-server.js';
import { waitFor } from '../helpers/wait.js';
import { makeZip } from '../helpers/zips.js';

const APP = 'com.example.s3restart';
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe.runIf(TEST_BACKEND === 'postgres')('the S3 gateway restarted under load', () => {
  let radosgw: Radosgw;
  let bucket: string;
  let dataDir: string;
  let server: SpawnedServer;

  beforeAll(async () => {
    radosgw = await startRadosgw();
    bucket = await createBucket(radosgw);
    dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'overair-s3restart-'));
    server = await spawnServer({
      OVERAIR_DATA_DIR: dataDir,
      OVERAIR_ADMIN_TOKEN: ADMIN_TOKEN,
      OVERAIR_STORAGE: 's3',
      OVERAIR_S3_BUCKET: bucket,
      OVERAIR_S3_ENDPOINT: radosgw.endpoint,
      OVERAIR_S3_REGION: radosgw.region,
      OVERAIR_S3_ACCESS_KEY: radosgw.accessKey,
      OVERAIR_S3_SECRET_KEY: radosgw.secretKey,
    });
  }, 120_000);

  afterAll(async () => {
    await server?.kill();
    await radosgw?.stop();
    if (dataDir) await fs.rm(dataDir, { recursive: true, force: true });
  });

  const upload = async (version: string) => {
    const zip = await makeZip({
      'index.html': `<!doctype html><script src="app.js"></script><p>${version}</p>`,
      'app.js': randomBytes(200_000).toString('base64'),
    });
    const response = await fetch(`${server.url}/api/v1/apps/${APP}/bundles/upload?version=${version}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/zip' },
      body: new Uint8Array(zip),
      signal: AbortSignal.timeout(30_000),
    });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  };

  it('never exits, answers 503 for what needs the store while it is down, and keeps what it acknowledged', async () => {
    const admin = (method: string, route: string, body?: unknown) =>
      sendJson(`${server.url}/api/v1${route}`, method, body, { authorization: `Bearer ${ADMIN_TOKEN}` });
    expect((await admin('POST', '/apps', { id: APP })).status).toBe(201);
    expect((await upload('1.0.0')).status).toBe(201);
    expect(await filesSettled(server, APP, '1.0.0')).toMatchObject({ files: 'ready' });
    expect((await admin('PUT', `/apps/${APP}/channels/production/bundle`, { version: '1.0.0' })).status).toBe(
      200,
    );

    const statuses: Record<string, Record<number, number>> = {};
    const count = (kind: string, status: number) => {
      statuses[kind] ??= {};
      statuses[kind][status] = (statuses[kind][status] ?? 0) + 1;
    };
    const uploaded: Array<{ version: string; sha256: string }> = [];
    let stop = false;
    let sequence = 0;
    const uploader = async () => {
      while (!stop) {
        const version = `2.0.${sequence++}`;
        const answer = await upload(version).catch(() => ({
          status: 0,
          body: {} as Record<string, unknown>,
        }));
        count('upload', answer.status);
        if (answer.status === 201) uploaded.push({ version, sha256: String(answer.body.sha256) });
        else expect(answer.body, JSON.stringify(answer.body)).toMatchObject({ error: 'storage_unavailable' });
      }
    };
    const checker = async () => {
      while (!stop) {
        const check = await sendJson(
          `${server.url}/updates`,
          'POST',
          deviceInfo({ app_id: APP, version_name: 'builtin' }),
          {},
        ).catch(() => ({ status: 0, body: {} }));
        count('updates', check.status);
        await sleep(5);
      }
    };
    // Capawesome's files are streamed through the server from the bucket (brotli-decoded on the way):
    // the one download path where the server reads S3 while it answers.
    const fileUrl = `${server.url}/v1/apps/${APP}/bundles/1.0.0/files?href=app.js`;
    const streamed = await fetch(fileUrl);
    expect(streamed.status).toBe(200);
    const appJs = Buffer.from(await streamed.arrayBuffer());
    const streamer = async () => {
      while (!stop) {
        try {
          const response = await fetch(fileUrl, { signal: AbortSignal.timeout(30_000) });
          const bytes = Buffer.from(await response.arrayBuffer());
          count('files', response.status);
          // Whole and right, or refused: never a cut file answered 200 in full.
          if (response.status === 200) expect(bytes.equals(appJs)).toBe(true);
        } catch {
          count('files', 0); // cut mid-stream when the gateway went away
        }
        await sleep(20);
      }
    };
    const load = Promise.all([uploader(), uploader(), checker(), checker(), streamer()]);
    await sleep(1500);
    await radosgw.stopGateway();
    await sleep(5000);
    expect(server.alive(), server.output()).toBe(true);
    await radosgw.startGateway();
    await sleep(3000);
    stop = true;
    await load;

    expect(server.alive(), server.output()).toBe(true);
    expect(statuses.updates, JSON.stringify(statuses)).toEqual({ 200: expect.any(Number) });
    expect(Object.keys(statuses.upload!).sort(), JSON.stringify(statuses)).toEqual(['201', '503']);
    for (const status of Object.keys(statuses.files!)) {
      expect(['0', '200', '503'], JSON.stringify(statuses)).toContain(status);
    }
    expect((await fetch(fileUrl)).status).toBe(200);

    // Works again without a restart.
    await waitFor(async () => (await upload(`3.0.${Date.now()}`)).status === 201, { timeoutMs: 20_000 });
    const keys = new Set(await listKeys(radosgw, bucket));
    for (const { version, sha256 } of uploaded) {
      expect(
        [...keys].some((key) => key.endsWith(sha256)),
        `bundle ${version} has its bytes`,
      ).toBe(true);
    }
    expect(await listIncompleteUploads(radosgw, bucket)).toEqual([]);
    // Files being prepared when the store went away are prepared again once it is back (every 10 s).
    for (const { version } of uploaded) {
      expect(await filesSettled(server, APP, version, 40_000)).toMatchObject({
        files: 'ready',
        files_error: null,
      });
    }
  }, 120_000);
});
