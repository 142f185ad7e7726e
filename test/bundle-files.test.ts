/**
 * A bundle's files for delta updates are prepared after its upload has answered
 * (src/services/bundle-files.ts, docs/devices.md#delta-updates): the answer says `files:
 * preparing`, devices get the whole zip until the files are `ready`, then the manifest. Preparation
 * runs beside deletions of other bundles that share its files (content-addressed blobs): the blob
 * lock keeps a deletion from taking a blob the new bundle's rows are about to name. To see the
 * in-between states for sure, the tests hold that lock themselves: the preparation waits for it
 * before it writes its rows. On both backends (SQLite and local disk; PostgreSQL and S3).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../src/db/connect.js';
import { Repos } from '../src/db/index.js';
import {
  deviceInfo,
  filesSettled,
  startTestServer,
  uploadBundle,
  type TestServer,
} from './helpers/server.js';
import { shaOf, storedBlobs } from './helpers/stored.js';
import { makeZip } from './helpers/zips.js';

const APP = 'com.example.files';

/** A bundle of `count` files (all different from one version to the next unless `shared`). */
function bundle(version: string, count: number, shared = 'shared') {
  const files: Record<string, string> = { 'index.html': `<html>${version}</html>` };
  for (let i = 0; i < count; i++)
    files[`assets/${shared}-${i}.js`] = `export const v${i} = '${shared}';\n`.repeat(40);
  files['app.js'] = `notifyAppReady() // ${version}`;
  return makeZip(files);
}

/** Holds the server's blob lock until the returned function is called. */
async function holdBlobLock(repos: Repos): Promise<() => void> {
  let release!: () => void;
  const held = new Promise<void>((resolve) => (release = resolve));
  let taken!: () => void;
  const isTaken = new Promise<void>((resolve) => (taken = resolve));
  void repos.blobLock.run(async () => {
    taken();
    await held;
  });
  await isTaken;
  return release;
}

describe('bundle files prepared after the upload', () => {
  let server: TestServer;
  let repos: Repos;

  beforeAll(async () => {
    server = await startTestServer();
    // The same database handle as the server's: the same blob lock.
    repos = new Repos(server.db);
    expect((await server.api('POST', '/apps', { id: APP })).status).toBe(201);
  });
  afterAll(() => server?.stop());

  const check = (version_name: string) =>
    server.device('POST', '/updates', deviceInfo({ app_id: APP, version_name }));

  it('answers the upload at once, serves the whole zip until the files are ready, then the manifest', async () => {
    const release = await holdBlobLock(repos);
    let settled = false;
    try {
      const upload = await uploadBundle(
        server,
        APP,
        await bundle('1.0.0', 50),
        { version: '1.0.0' },
        { waitFiles: false },
      );
      expect(upload.status).toBe(201);
      expect(upload.body).toMatchObject({ files: 'preparing', files_error: null });
      expect(
        (await server.api('PUT', `/apps/${APP}/channels/production/bundle`, { version: '1.0.0' })).status,
      ).toBe(200);
      const early = await check('0.9.0');
      expect(early.body).toMatchObject({ version: '1.0.0' });
      expect(early.body.url).toBeTruthy();
      expect(early.body.manifest).toBeUndefined();
      void filesSettled(server, APP, '1.0.0').then(() => (settled = true));
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(settled, 'ready while its rows could not be written').toBe(false);
    } finally {
      release();
    }
    expect(await filesSettled(server, APP, '1.0.0')).toMatchObject({ files: 'ready', files_error: null });
    const later = await check('0.9.0');
    expect(later.body.manifest).toHaveLength(52);
    // Every file the manifest names is stored.
    const stored = new Set((await storedBlobs(server)).map(shaOf));
    const bundleRow = (await repos.bundles.find(APP, '1.0.0'))!;
    const rows = await repos.bundles.filesOf([bundleRow.id]);
    expect(rows.filter((row) => !stored.has(row.stored_sha256))).toEqual([]);
  });

  it('keeps the files it shares with a bundle deleted while it is prepared', async () => {
    // 2.0.0 shares 200 files with 1.1.0; 1.1.0 is deleted while 2.0.0's files are prepared.
    expect(
      (await uploadBundle(server, APP, await bundle('1.1.0', 200, 'lib'), { version: '1.1.0' })).status,
    ).toBe(201);
    const release = await holdBlobLock(repos);
    let deleted: Promise<{ status: number }>;
    try {
      const upload = await uploadBundle(
        server,
        APP,
        await bundle('2.0.0', 200, 'lib'),
        { version: '2.0.0' },
        { waitFiles: false },
      );
      expect(upload.status).toBe(201);
      // The deletion takes its rows away now and waits for the lock to delete the blobs no row names.
      deleted = server.api('DELETE', `/apps/${APP}/bundles/1.1.0`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    } finally {
      release();
    }
    expect((await deleted).status).toBe(200);
    expect(await filesSettled(server, APP, '2.0.0')).toMatchObject({ files: 'ready' });
    const stored = new Set((await storedBlobs(server)).map(shaOf));
    const row = (await repos.bundles.find(APP, '2.0.0'))!;
    const rows = await repos.bundles.filesOf([row.id]);
    expect(rows).toHaveLength(202);
    expect(rows.filter((file) => !stored.has(file.stored_sha256))).toEqual([]);
  });

  it('stores nothing for a bundle deleted before its files are ready', async () => {
    const before = new Set((await storedBlobs(server)).map(shaOf));
    const release = await holdBlobLock(repos);
    try {
      const upload = await uploadBundle(
        server,
        APP,
        await bundle('3.0.0', 80, 'gone'),
        { version: '3.0.0' },
        { waitFiles: false },
      );
      expect(upload.status).toBe(201);
      // Its row goes now; its zip's blob waits for the lock.
      const deleting = server.api('DELETE', `/apps/${APP}/bundles/3.0.0`);
      await new Promise((resolve) => setTimeout(resolve, 200));
      release();
      expect((await deleting).status).toBe(200);
    } finally {
      release();
    }
    await server.services.bundleFiles.settle();
    const after = (await storedBlobs(server)).map(shaOf);
    expect(after.filter((sha) => !before.has(sha))).toEqual([]);
  });
});

describe.skipIf(process.env.OVERAIR_TEST_BACKEND !== 'postgres')('the blob lock across instances', () => {
  it('lets one instance at a time decide on blobs (an advisory lock on PostgreSQL)', async () => {
    const server = await startTestServer();
    const other = await openDatabase(server.config.database);
    try {
      // Two handles on one database, as two instances have: each its own in-process mutex.
      const first = new Repos(server.db).blobLock;
      const second = new Repos(other.db).blobLock;
      expect(first).not.toBe(second);
      const order: string[] = [];
      const one = first.run(async () => {
        order.push('first in');
        await new Promise((resolve) => setTimeout(resolve, 300));
        order.push('first out');
      });
      await new Promise((resolve) => setTimeout(resolve, 50));
      const two = second.run(async () => void order.push('second in'));
      await Promise.all([one, two]);
      expect(order).toEqual(['first in', 'first out', 'second in']);
    } finally {
      await other.close();
      await server.stop();
    }
  });
});
