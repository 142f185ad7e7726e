/**
 * Retention (issue #17), through the real server and the real CLI, on each project's backend:
 * `bundle cleanup` keeps every bundle a channel can still need (live, rolling out, the rollback
 * target of each channel) and deletes the others beyond `--keep` and `--older-than`; `--dry-run`
 * deletes nothing; bytes another bundle shares survive; every deletion is audited; the app's
 * `keep_bundles` is applied after each upload; a blob delete that fails leaves the rows consistent
 * and the orphan blob sweep finishes the job.
 */
import fs from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Repos } from '../src/db/index.js';
import { sweepOrphanBlobs } from '../src/services/blob-sweep.js';
import { cli, makeProject } from './helpers/cli.js';
import { ADMIN_TOKEN, deviceInfo, startTestServer, uploadBundle, type TestServer } from './helpers/server.js';
import { holdsBlob, storedBlobs } from './helpers/stored.js';
import { makeZip } from './helpers/zips.js';

const APP = 'com.example.retention';
const SHARED = 'com.example.shared';
const AUTO = 'com.example.auto';
const FAULT = 'com.example.faulty';

const zipOf = (version: string, extra: Record<string, string> = {}) =>
  makeZip({ 'index.html': `<html>${version}</html>`, 'app.js': 'notifyAppReady()', ...extra });

describe('retention', () => {
  let server: TestServer;
  let project: string;
  let env: Record<string, string>;
  const run = (...args: string[]) => cli(args, { cwd: project, env });
  const upload = async (appId: string, version: string, zip?: Buffer) => {
    const answer = await uploadBundle(server, appId, zip ?? (await zipOf(version)), { version });
    expect(answer.status, JSON.stringify(answer.body)).toBe(201);
    return answer.body;
  };
  const versions = async (appId: string) =>
    ((await server.api('GET', `/apps/${appId}/bundles`)).body.items as { version: string }[]).map(
      (b) => b.version,
    );
  const audited = async (appId: string, action: string) =>
    ((await server.api('GET', `/audit?app=${appId}&limit=500`)).body.items as any[]).filter(
      (row) => row.action === action,
    );

  beforeAll(async () => {
    server = await startTestServer();
    env = { OVERAIR_SERVER: server.url, OVERAIR_TOKEN: ADMIN_TOKEN };
    project = await makeProject({ appId: APP, version: '9.0.0' });
    for (const app of [APP, SHARED, AUTO, FAULT])
      expect((await server.api('POST', '/apps', { id: app })).status).toBe(201);
  });
  afterAll(async () => {
    await server.stop();
    await fs.rm(project, { recursive: true, force: true });
  });

  it('keeps every bundle a channel can still need, deletes the rest beyond --keep, and --dry-run nothing', async () => {
    const bundles: Record<string, { sha256: string }> = {};
    for (const version of ['1.0.0', '1.1.0', '1.2.0', '1.3.0', '1.4.0', '1.5.0', '1.6.0', '1.7.0'])
      bundles[version] = await upload(APP, version);
    const channels = `/apps/${APP}/channels`;
    // production: 1.0.0 then 1.2.0 live (its rollback target: 1.0.0); beta: 1.1.0 live, 1.5.0 rolling out.
    expect((await server.api('PUT', `${channels}/production/bundle`, { version: '1.0.0' })).status).toBe(200);
    expect((await server.api('PUT', `${channels}/production/bundle`, { version: '1.2.0' })).status).toBe(200);
    expect((await server.api('POST', channels, { name: 'beta', version: '1.1.0' })).status).toBe(201);
    expect(
      (await server.api('POST', `${channels}/beta/rollout`, { version: '1.5.0', percent: 10 })).status,
    ).toBe(200);
    const blobsBefore = await storedBlobs(server);

    const dry = await run('bundle', 'cleanup', '--app', APP, '--keep', '2', '--dry-run', '--json');
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.json).toMatchObject({ keep: 2, dry_run: true, blobs_deleted: 0 });
    expect(dry.json.deleted.map((b: { version: string }) => b.version)).toEqual(['1.4.0', '1.3.0']);
    expect(dry.json.kept).toEqual([
      { version: '1.5.0', reasons: ['rolling out on beta'] },
      { version: '1.2.0', reasons: ['live on production'] },
      { version: '1.1.0', reasons: ['live on beta'] },
      { version: '1.0.0', reasons: ['rollback target of production'] },
    ]);
    expect(await versions(APP)).toHaveLength(8);
    expect(await storedBlobs(server)).toEqual(blobsBefore);
    expect(await audited(APP, 'bundle.cleanup')).toEqual([]);
    const text = await run('bundle', 'cleanup', '--app', APP, '--keep', '2', '--dry-run');
    expect(text.stdout).toContain('Would delete 2 bundles');
    expect(text.stdout).toContain('Kept 1.0.0: rollback target of production');
    expect(text.stdout).toContain('Dry run: nothing was deleted.');

    const done = await run('bundle', 'cleanup', '--app', APP, '--keep', '2', '--json');
    expect(done.code, done.stderr).toBe(0);
    expect(done.json.deleted.map((b: { version: string }) => b.version)).toEqual(['1.4.0', '1.3.0']);
    // Each deleted its zip and its index.html (app.js is shared by every bundle).
    expect(done.json).toMatchObject({ dry_run: false, blobs_deleted: 4, blob_error: null });
    expect(await versions(APP)).toEqual(['1.7.0', '1.6.0', '1.5.0', '1.2.0', '1.1.0', '1.0.0']);
    expect(await holdsBlob(server, bundles['1.3.0']!.sha256)).toBe(false);
    expect(await holdsBlob(server, bundles['1.2.0']!.sha256)).toBe(true);
    const entries = await audited(APP, 'bundle.cleanup');
    expect(entries.map((row) => row.target).sort()).toEqual(['1.3.0', '1.4.0']);
    expect(entries[0]).toMatchObject({
      actor: 'token:OVERAIR_ADMIN_TOKEN',
      detail: { keep: 2, older_than_days: null },
    });

    // Rolled back, production serves 1.0.0 and would roll back to 1.2.0: both stay, 1.6.0 goes.
    expect((await server.api('POST', `${channels}/production/rollback`, {})).body.version).toBe('1.0.0');
    const again = await server.api('POST', `/apps/${APP}/bundles/cleanup`, { keep: 1 });
    expect(again.status).toBe(200);
    expect(again.body.deleted.map((b: { version: string }) => b.version)).toEqual(['1.6.0']);
    expect(again.body.kept).toContainEqual({ version: '1.2.0', reasons: ['rollback target of production'] });
    expect((await server.api('POST', `${channels}/production/rollback`, {})).body.version).toBe('1.2.0');
    const check = await server.device('POST', '/updates', deviceInfo({ app_id: APP, version_name: '0.0.1' }));
    expect(check.body.version).toBe('1.2.0');
    expect((await fetch(check.body.url)).status).toBe(200);
  });

  it('deletes only bundles older than --older-than, and needs a limit', async () => {
    const app = `/apps/${APP}`;
    // 1.7.0 and 1.5.0 uploaded 40 days ago; 1.7.0 is needed by no channel, 1.5.0 rolls out.
    const longAgo = new Date(Date.now() - 40 * 86_400_000).toISOString();
    await server.db
      .updateTable('bundles')
      .set({ created_at: longAgo })
      .where('app_id', '=', APP)
      .where('version', 'in', ['1.7.0', '1.5.0'])
      .execute();
    const none = await server.api('POST', `${app}/bundles/cleanup`, {});
    expect(none.status).toBe(400);
    expect(none.body.message).toContain('nothing to clean up');
    expect((await run('bundle', 'cleanup', '--app', APP)).stderr).toContain('nothing to clean up');
    const bare = await run('bundle', 'cleanup', '--app', APP, '--older-than', '30');
    expect(bare.code).toBe(1);
    expect(bare.stderr).toContain('expected a duration with its unit');

    const old = await run('bundle', 'cleanup', '--app', APP, '--older-than', '30d', '--json');
    expect(old.code, old.stderr).toBe(0);
    expect(old.json).toMatchObject({ keep: null, older_than_days: 30 });
    expect(old.json.deleted.map((b: { version: string }) => b.version)).toEqual(['1.7.0']);
    expect(old.json.kept).toEqual([{ version: '1.5.0', reasons: ['rolling out on beta'] }]);
    expect(await versions(APP)).toEqual(['1.5.0', '1.2.0', '1.1.0', '1.0.0']);
    for (const body of [{ keep: 0 }, { older_than_days: -1 }, { keep: 1.5 }, { dry: true }])
      expect((await server.api('POST', `${app}/bundles/cleanup`, body)).status, JSON.stringify(body)).toBe(
        400,
      );
    expect((await server.api('POST', '/apps/com.example.none/bundles/cleanup', { keep: 1 })).status).toBe(
      404,
    );
  });

  it('keeps bytes another bundle or file still shares', async () => {
    const shared = { 'vendor.js': 'export const shared = 1;'.repeat(50) };
    const first = await zipOf('a', shared);
    const a = await upload(SHARED, '1.0.0', first);
    // The same bytes again under another version: one zip blob for both.
    const b = await upload(SHARED, '1.1.0', first);
    expect(b.sha256).toBe(a.sha256);
    const c = await upload(SHARED, '1.2.0', await zipOf('c', shared));
    expect(
      (await server.api('PUT', `/apps/${SHARED}/channels/production/bundle`, { version: '1.2.0' })).status,
    ).toBe(200);
    const keepTwo = await server.api('POST', `/apps/${SHARED}/bundles/cleanup`, { keep: 2 });
    expect(keepTwo.body).toMatchObject({ blobs_deleted: 0 });
    expect(keepTwo.body.deleted.map((x: { version: string }) => x.version)).toEqual(['1.0.0']);
    expect(await holdsBlob(server, a.sha256)).toBe(true);

    const keepOne = await server.api('POST', `/apps/${SHARED}/bundles/cleanup`, { keep: 1 });
    expect(keepOne.body.deleted.map((x: { version: string }) => x.version)).toEqual(['1.1.0']);
    // The zip and its index.html go; vendor.js and app.js stay for 1.2.0.
    expect(keepOne.body.blobs_deleted).toBe(2);
    expect(await holdsBlob(server, a.sha256)).toBe(false);
    expect(await holdsBlob(server, c.sha256)).toBe(true);
    const check = await server.device(
      'POST',
      '/updates',
      deviceInfo({ app_id: SHARED, version_name: '0.0.1' }),
    );
    expect(check.body.version).toBe('1.2.0');
    for (const entry of check.body.manifest) expect((await fetch(entry.download_url)).status).toBe(200);
  });

  it('applies the app’s keep_bundles after each upload, and says what it deleted', async () => {
    const cwd = await makeProject({ appId: AUTO, version: '1.0.0' });
    const runIn = (...args: string[]) => cli(args, { cwd, env });
    try {
      const bad = await runIn('app', 'update', '--keep-bundles', '0');
      expect(bad.code).toBe(1);
      expect(bad.stderr).toContain('--keep-bundles must be a whole number');
      expect((await server.api('PATCH', `/apps/${AUTO}`, { keep_bundles: 0 })).status).toBe(400);
      const on = await runIn('app', 'update', '--keep-bundles', '2');
      expect(on.code, on.stderr).toBe(0);
      expect(on.stdout).toContain('the 2 newest bundles are kept');
      expect((await server.api('GET', `/apps/${AUTO}`)).body.keep_bundles).toBe(2);
      expect((await audited(AUTO, 'app.update'))[0].detail).toEqual({ keep_bundles: 2 });

      const first = await runIn('bundle', 'upload', '--bundle', '1.0.0', '--channel', 'production');
      expect(first.code, first.stderr).toBe(0);
      expect(first.stdout).toContain('Retention (keep 2): nothing to delete');
      await upload(AUTO, '1.1.0');
      // 1.0.0 is live: kept beyond the two newest.
      const third = await upload(AUTO, '1.2.0');
      expect(third.retention).toEqual({ keep: 2, deleted: [], error: null });
      const fourth = await runIn('bundle', 'upload', '--bundle', '1.3.0', '--json');
      expect(fourth.json.retention).toEqual({ keep: 2, deleted: ['1.1.0'], error: null });
      const one = await upload(AUTO, '1.4.0');
      expect(one.retention.deleted).toEqual(['1.2.0']);
      expect(await versions(AUTO)).toEqual(['1.4.0', '1.3.0', '1.0.0']);
      const text = await runIn('bundle', 'upload', '--bundle', '1.5.0');
      expect(text.stdout).toContain('Retention (keep 2): deleted 1.3.0');
      const entries = await audited(AUTO, 'bundle.cleanup');
      expect(entries.map((row) => row.target).sort()).toEqual(['1.1.0', '1.2.0', '1.3.0']);
      expect(entries.find((row) => row.target === '1.1.0').detail).toMatchObject({
        keep: 2,
        trigger: 'upload of 1.3.0',
      });
      // The bytes go in the background of the answer: once it is done, nothing is left unreferenced.
      await server.services.bundles.settle();
      const repos = new Repos(server.db);
      expect(await repos.bundles.unreferencedBlobs((await storedBlobs(server)).map(shaOf))).toEqual([]);

      const off = await runIn('app', 'update', '--no-keep-bundles', '--json');
      expect(off.json.keep_bundles).toBeNull();
      expect(await upload(AUTO, '1.6.0')).not.toHaveProperty('retention');
      expect(await versions(AUTO)).toHaveLength(4);
    } finally {
      await fs.rm(cwd, { recursive: true, force: true });
    }
  });

  it('keeps the rows consistent when the bytes cannot be deleted, and the sweep finishes', async () => {
    // Bytes of their own (another app's 1.0.0 has the same files as this one's would).
    for (const version of ['1.0.0', '1.1.0', '1.2.0'])
      await upload(FAULT, version, await zipOf(`${FAULT} ${version}`));
    const gone = (
      await server.db
        .selectFrom('bundles')
        .select('sha256')
        .where('app_id', '=', FAULT)
        .where('version', 'in', ['1.0.0', '1.1.0'])
        .execute()
    ).map((row) => row.sha256);
    const store = server.services.store;
    const { delete: original, deleteMany: originalMany } = store;
    // Storage down (S3 unreachable, a read-only disk): every delete fails, one by one or many at once.
    const unreachable = async () => {
      throw new Error('storage is unreachable');
    };
    store.delete = unreachable;
    if (originalMany) store.deleteMany = unreachable;
    let answer;
    try {
      answer = await server.api('POST', `/apps/${FAULT}/bundles/cleanup`, { keep: 1 });
    } finally {
      store.delete = original;
      if (originalMany) store.deleteMany = originalMany;
    }
    expect(answer.status).toBe(200);
    expect(answer.body.deleted.map((x: { version: string }) => x.version)).toEqual(['1.1.0', '1.0.0']);
    expect(answer.body.blob_error).toContain('storage is unreachable');
    expect(answer.body.blob_error).toContain('orphan blob sweep');
    // The rows are gone with their files' rows, audited; the bytes are left, referenced by nothing.
    expect(await versions(FAULT)).toEqual(['1.2.0']);
    expect((await audited(FAULT, 'bundle.cleanup')).map((row) => row.target).sort()).toEqual([
      '1.0.0',
      '1.1.0',
    ]);
    for (const sha of gone) expect(await holdsBlob(server, sha)).toBe(true);
    const repos = new Repos(server.db);
    const orphans = await repos.bundles.unreferencedBlobs((await storedBlobs(server)).map(shaOf));
    expect(orphans).toEqual(expect.arrayContaining(gone));
    expect(orphans).toHaveLength(4);

    const sweep = await sweepOrphanBlobs(repos, store, { graceMs: 0, now: Date.now() + 1000 });
    expect(sweep.deleted.sort()).toEqual(orphans.sort());
    for (const sha of gone) expect(await holdsBlob(server, sha)).toBe(false);
    expect(await repos.bundles.unreferencedBlobs((await storedBlobs(server)).map(shaOf))).toEqual([]);
  });
});

/** "ab/SHA SIZE" (fs) or "bundles/ab/SHA" (S3) -> SHA. */
function shaOf(listed: string): string {
  return /([0-9a-f]{64})/.exec(listed)![1]!;
}
