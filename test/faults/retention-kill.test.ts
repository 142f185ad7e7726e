/**
 * A retention cleanup cut off by `kill -9`: `overair serve` is killed once the cleanup has begun
 * deleting bytes. Whatever moment the kill hits, no half state is left: every bundle row still there
 * has its zip and every file its blob; every bundle gone is in the audit log; the blobs the killed
 * cleanup had no time to delete are referenced by nothing, and the sweep at the next start removes
 * them; a cleanup run again finishes the job. On each project's backend (SQLite + disk, PostgreSQL +
 * S3). Loopback only, bounded in time.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { openDatabase } from '../../src/db/connect.js';
import { Repos } from '../../src/db/index.js';
import { backendForServer } from '../helpers/backends.js';
import { buildZip, goodEntries } from '../helpers/hostile-zips.js';
import { ADMIN_TOKEN, sendJson, uploadBundle, type TestServer } from '../helpers/server.js';
import { spawnServer } from '../helpers/spawned-server.js';
import { shaOf, storedBlobs } from '../helpers/stored.js';
import { waitFor } from '../helpers/wait.js';

const APP = 'com.example.retained';
const BUNDLES = 10;
const FILES = 100;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

describe('kill -9 during a retention cleanup', () => {
  it('leaves whole bundles or none, and the next start and cleanup finish the job', async () => {
    const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'overair-retention-kill-'));
    const backend = await backendForServer();
    cleanups.push(async () => {
      await backend.cleanup();
      await fs.rm(dataDir, { recursive: true, force: true });
    });
    const env = {
      OVERAIR_DATA_DIR: dataDir,
      OVERAIR_ADMIN_TOKEN: ADMIN_TOKEN,
      // Short, so that the blobs the killed cleanup left are old enough by the restart.
      OVERAIR_BLOB_SWEEP_GRACE: '1s',
      ...backend.env,
    };
    const config = loadConfig(env);
    /** The stored blobs; listed again when one vanishes while it is listed (the cleanup deletes them). */
    const listed = async (): Promise<string[]> => {
      for (;;) {
        try {
          return (await storedBlobs({ config } as TestServer)).map(shaOf);
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
        }
      }
    };
    const auth = { authorization: `Bearer ${ADMIN_TOKEN}` };

    const first = await spawnServer(env);
    cleanups.push(() => first.kill());
    const admin = (url: string, method: string, route: string, body?: unknown) =>
      sendJson(`${url}/api/v1${route}`, method, body, auth);
    expect((await admin(first.url, 'POST', '/apps', { id: APP })).status).toBe(201);
    // Bundles of files of their own: each deleted bundle frees FILES + 1 blobs.
    for (let n = 1; n <= BUNDLES; n++) {
      const zip = buildZip(goodEntries(FILES, `v${n}`));
      const answer = await uploadBundle({ url: first.url }, APP, zip, { version: `1.${n}.0` });
      expect(answer.status).toBe(201);
    }
    const live = `1.${BUNDLES}.0`;
    expect(
      (await admin(first.url, 'PUT', `/apps/${APP}/channels/production/bundle`, { version: live })).status,
    ).toBe(200);
    const before = (await listed()).length;

    // Watched from the database itself: listing thousands of blobs is slower than deleting them.
    const database = await openDatabase(config.database);
    cleanups.push(() => database.close());
    const bundleRows = async () =>
      Number(
        (
          await database.db
            .selectFrom('bundles')
            .select((eb) => eb.fn.countAll().as('n'))
            .executeTakeFirstOrThrow()
        ).n,
      );
    const cleanup = admin(first.url, 'POST', `/apps/${APP}/bundles/cleanup`, { keep: 1 }).then(
      (answer) => `answered ${answer.status}`,
      () => 'cut off',
    );
    // Killed as soon as the rows are gone: the blobs are being deleted.
    await waitFor(async () => (await bundleRows()) < BUNDLES || !first.alive(), {
      timeoutMs: 20_000,
      intervalMs: 2,
    });
    await first.kill();
    const outcome = await cleanup;

    const repos = new Repos(database.db);
    const left = await listed();
    const stored = new Set(left);
    const rows = await database.db.selectFrom('bundles').select(['id', 'version', 'sha256']).execute();
    // No row without its bytes: each bundle's zip and every file's blob are there.
    for (const row of rows) {
      expect(stored.has(row.sha256), `zip of ${row.version}`).toBe(true);
      for (const file of await repos.bundles.filesOf([row.id]))
        expect(stored.has(file.stored_sha256), `${row.version}: ${file.path}`).toBe(true);
    }
    expect(rows.map((row) => row.version)).toContain(live);
    // Every bundle gone is audited (the audit entry is in the same transaction as the row).
    const audited = await database.db
      .selectFrom('audit_log')
      .select('target')
      .where('app_id', '=', APP)
      .where('action', '=', 'bundle.cleanup')
      .execute();
    expect(audited.length).toBe(BUNDLES - rows.length);
    const orphans = await repos.bundles.unreferencedBlobs(left);
    console.info(
      `retention kill: ${outcome}; ${BUNDLES - rows.length} bundles deleted, ${before - left.length} blobs deleted, ${orphans.length} left to the sweep`,
    );

    await sleep(1100);
    const second = await spawnServer(env);
    cleanups.push(() => second.kill());
    await waitFor(() => second.output().includes('orphan blob sweep done') || !second.alive(), {
      timeoutMs: 20_000,
    });
    expect(await repos.bundles.unreferencedBlobs(await listed())).toEqual([]);
    // Run again, the cleanup finishes: only the live bundle is left, with its bytes.
    const again = await admin(second.url, 'POST', `/apps/${APP}/bundles/cleanup`, { keep: 1 });
    expect(again.status).toBe(200);
    expect(again.body.blob_error).toBeNull();
    const after = await admin(second.url, 'GET', `/apps/${APP}/bundles`);
    expect(after.body.items.map((b: { version: string }) => b.version)).toEqual([live]);
    expect(await repos.bundles.unreferencedBlobs(await listed())).toEqual([]);
    expect((await listed()).length).toBe(FILES + 2); // the zip, index.html and its own files
    const zip = await fetch(`${second.url}/api/v1/apps/${APP}/bundles/${live}`, { headers: auth });
    expect(zip.status).toBe(200);
  }, 120_000);
});
