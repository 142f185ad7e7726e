/**
 * The orphan blob sweep: blobs no row references are deleted once older than the grace period,
 * and only those. In process first (exact and quick), then for real: `overair serve` killed with
 * SIGKILL while it unpacks a bundle of thousands of files leaves committed blobs and no row; once
 * restarted on the same data, its start-up sweep removes every one of them and nothing else.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { openDatabase } from '../../src/db/connect.js';
import { Repos } from '../../src/db/index.js';
import { now } from '../../src/db/time.js';
import { sweepOrphanBlobs } from '../../src/services/blob-sweep.js';
import { backendForServer } from '../helpers/backends.js';
import { buildZip, goodEntries } from '../helpers/hostile-zips.js';
import {
  ADMIN_TOKEN,
  filesSettled,
  sendJson,
  startTestServer,
  uploadBundle,
  type TestServer,
} from '../helpers/server.js';
import { spawnServer } from '../helpers/spawned-server.js';
import { shaOf, storedBlobs } from '../helpers/stored.js';

const APP = 'com.example.sweep';
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('orphan blob sweep', () => {
  let server: TestServer;
  let repos: Repos;

  beforeAll(async () => {
    server = await startTestServer();
    repos = new Repos(server.db);
    expect((await server.api('POST', '/apps', { id: APP })).status).toBe(201);
  });
  afterAll(() => server?.stop());

  async function orphan(): Promise<string> {
    const staged = await server.services.store.stage(Readable.from([randomBytes(100)]), { maxBytes: 1000 });
    await server.services.store.commit(staged);
    return staged.sha256;
  }

  it('deletes only unreferenced blobs older than the grace period', async () => {
    expect((await uploadBundle(server, APP, buildZip(goodEntries(5)), { version: '1.0.0' })).status).toBe(
      201,
    );
    // A native build's blob is referenced by its row only.
    const native = await orphan();
    await repos.nativeBuilds.insert({
      app_id: APP,
      platform: 'android',
      version: '1.0.0',
      version_code: null,
      channel: 'production',
      sha256: native,
      size: 100,
      file_kind: 'apk',
      notes: null,
      created_at: now(),
      created_by: 'test',
    });
    const referenced = (await storedBlobs(server)).map(shaOf).sort();
    expect(referenced).toHaveLength(8); // the zip, index.html, 5 files, the native build
    const orphans = [await orphan(), await orphan()];
    const store = server.services.store;

    const young = await sweepOrphanBlobs(repos, store, { graceMs: 60_000 });
    expect(young.deleted).toEqual([]);
    expect(young.scanned).toBe(10);

    const later = await sweepOrphanBlobs(repos, store, { graceMs: 60_000, now: Date.now() + 120_000 });
    expect(later.deleted.sort()).toEqual(orphans.sort());
    expect(later.freedBytes).toBe(200);
    expect((await storedBlobs(server)).map(shaOf).sort()).toEqual(referenced);
  });
});

/** Polls `value` until it gives something, for up to 20 s (or until `alive` says the server died). */
async function waitFor<T>(
  value: () => T | undefined | Promise<T | undefined>,
  failure: () => string,
  alive: () => boolean = () => true,
): Promise<T> {
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline && alive()) {
    const found = await value();
    if (found !== undefined) return found;
    await sleep(50);
  }
  throw new Error(failure());
}

describe("kill -9 while a bundle's files are prepared", () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  it('prepares them again at the next start, and leaves no blob unreferenced', async () => {
    const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'overair-kill-'));
    const backend = await backendForServer();
    cleanups.push(async () => {
      await backend.cleanup();
      await fs.rm(dataDir, { recursive: true, force: true });
    });
    const env = {
      OVERAIR_DATA_DIR: dataDir,
      OVERAIR_ADMIN_TOKEN: ADMIN_TOKEN,
      // Short, so that anything the killed preparation left is old enough for the sweep at the restart.
      OVERAIR_BLOB_SWEEP_GRACE: '1s',
      ...backend.env,
    };
    const config = loadConfig(env);
    const listed = async () => (await storedBlobs({ config } as TestServer)).map(shaOf);
    // Where the preparation unpacks the files before they are stored (the store's staging folder).
    const scratch =
      config.storage === 's3' ? path.join(dataDir, '.tmp-s3') : path.join(config.blobDir, '.tmp');
    const scratchFiles = async () =>
      (await fs.readdir(scratch, { recursive: true, withFileTypes: true }).catch(() => [])).filter((entry) =>
        entry.isFile(),
      ).length;

    const first = await spawnServer(env);
    cleanups.push(() => first.kill());
    const auth = { authorization: `Bearer ${ADMIN_TOKEN}` };
    expect((await sendJson(`${first.url}/api/v1/apps`, 'POST', { id: APP }, auth)).status).toBe(201);
    const kept = buildZip(goodEntries(3, 'kept'));
    expect(
      (await uploadBundle({ url: first.url } as TestServer, APP, kept, { version: '1.0.0' })).status,
    ).toBe(201);

    // Thousands of files: preparing them takes seconds, and the server dies in the middle of it.
    const big = buildZip(goodEntries(3_000, 'doomed'));
    const upload = await uploadBundle(
      { url: first.url } as TestServer,
      APP,
      big,
      { version: '2.0.0' },
      { waitFiles: false },
    );
    expect(upload.status).toBe(201);
    expect(upload.body.files).toBe('preparing');
    await waitFor(
      async () => ((await scratchFiles()) >= 100 ? true : undefined),
      () => `the preparation of the big bundle's files did not start:\n${first.output()}`,
      first.alive,
    );
    await first.kill();

    const database = await openDatabase(config.database);
    cleanups.push(() => database.close());
    const repos = new Repos(database.db);
    expect((await repos.bundles.find(APP, '2.0.0'))?.files_state).toBe('preparing');

    await sleep(1100);
    const second = await spawnServer(env);
    cleanups.push(() => second.kill());
    const ready = await filesSettled({ url: second.url }, APP, '2.0.0', 90_000);
    expect(ready).toMatchObject({ files: 'ready', files_error: null });
    // Every file of the bundle is stored once, and nothing stored is unreferenced.
    const bundle = (await repos.bundles.find(APP, '2.0.0'))!;
    const rows = await repos.bundles.filesOf([bundle.id]);
    expect(rows).toHaveLength(3_000 + 1);
    const stored = new Set(await listed());
    expect(rows.filter((row) => !stored.has(row.stored_sha256))).toEqual([]);
    expect(await repos.bundles.unreferencedBlobs([...stored])).toEqual([]);
    // The folder the killed attempt unpacked into went with the next attempt.
    expect((await fs.readdir(scratch)).filter((name) => name.startsWith('bundle-files'))).toEqual([]);
  }, 120_000);
});
