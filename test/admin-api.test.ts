import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runSql, tableNames } from './helpers/sql.js';
import { holdsBlob, stagingEntries, storedBlobs } from './helpers/stored.js';
import { makeZip } from './helpers/zips.js';
import {
  ADMIN_TOKEN,
  VECTORS,
  deviceInfo,
  startTestServer,
  uploadBundle,
  type TestServer,
} from './helpers/server.js';

const APP = 'com.example.admin';

const bundleZip = (marker: string) =>
  makeZip({ 'index.html': `<html>${marker}</html>`, 'js/app.js': 'notifyAppReady()' });

describe('admin API', () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer();
    await server.api('POST', '/apps', { id: APP, name: 'Admin test' });
  });
  afterAll(() => server.stop());

  describe('authentication and scopes', () => {
    it('refuses requests without a valid token, with a JSON error and no details', async () => {
      const missing = await fetch(`${server.url}/api/v1/apps`);
      expect(missing.status).toBe(401);
      expect(missing.headers.get('www-authenticate')).toMatch(/^Bearer/);
      expect(await missing.json()).toMatchObject({ error: 'unauthorized' });
      const wrong = await server.api('GET', '/apps', undefined, `${ADMIN_TOKEN}x`);
      expect(wrong).toMatchObject({ status: 401, body: { error: 'invalid_token' } });
    });

    it('mints scoped tokens whose secret is shown once and enforces their scope', async () => {
      const created = await server.api('POST', '/tokens', { name: 'ci', scope: 'publish' });
      expect(created.status).toBe(201);
      const secret = created.body.token as string;
      expect(secret).toMatch(/^oat_/);
      const listed = await server.api('GET', '/tokens');
      expect(JSON.stringify(listed.body)).not.toContain(secret);
      expect(listed.body.items.find((t: { name: string }) => t.name === 'ci')).not.toHaveProperty('hash');

      expect((await server.api('GET', '/whoami', undefined, secret)).body).toMatchObject({
        name: 'ci',
        roles: { server_admin: false, all: 'publish', apps: {} },
      });
      // publish may release, but not create apps or mint tokens
      expect((await server.api('POST', '/apps', { id: 'com.example.ci' }, secret)).status).toBe(403);
      expect((await server.api('POST', '/tokens', { name: 'x', scope: 'admin' }, secret)).status).toBe(403);
      expect((await server.api('DELETE', `/apps/${APP}`, undefined, secret)).body.error).toBe('forbidden');

      const reader = (await server.api('POST', '/tokens', { name: 'dash', scope: 'read' })).body
        .token as string;
      expect((await server.api('GET', `/apps/${APP}/channels`, undefined, reader)).status).toBe(200);
      expect(
        (await server.api('PUT', `/apps/${APP}/channels/production/bundle`, { version: '1.0.0' }, reader))
          .status,
      ).toBe(403);

      const revoked = await server.api('DELETE', `/tokens/${created.body.id}`);
      expect(revoked.status).toBe(200);
      expect((await server.api('GET', '/whoami', undefined, secret)).status).toBe(401);
    });

    it('will not revoke the last admin token', async () => {
      const tokens = (await server.api('GET', '/tokens')).body.items as {
        id: number;
        roles: { server_admin: boolean };
      }[];
      const admin = tokens.find((t) => t.roles.server_admin)!;
      expect((await server.api('DELETE', `/tokens/${admin.id}`)).body.error).toBe('last_admin_token');
    });

    it('stores tokens hashed only', async () => {
      // Every row of every table, whichever database the suite runs on.
      const tables = await Promise.all(
        (await tableNames(server)).map((name) => runSql(server, `SELECT * FROM "${name}"`)),
      );
      const db = JSON.stringify(tables);
      expect(db).not.toContain(ADMIN_TOKEN);
      expect(db).toContain(createHash('sha256').update(ADMIN_TOKEN).digest('hex'));
    });
  });

  describe('apps', () => {
    it('creates, lists, gets and refuses duplicates', async () => {
      expect((await server.api('POST', '/apps', { id: 'com.example.two' })).status).toBe(201);
      expect((await server.api('POST', '/apps', { id: 'com.example.two' })).status).toBe(409);
      const list = await server.api('GET', '/apps');
      expect(list.body.items.map((a: { id: string }) => a.id)).toEqual(
        expect.arrayContaining([APP, 'com.example.two']),
      );
      expect((await server.api('GET', '/apps/com.example.two')).body).toMatchObject({
        id: 'com.example.two',
      });
      const channels = await server.api('GET', '/apps/com.example.two/channels');
      expect(channels.body.items).toEqual([
        expect.objectContaining({ name: 'production', is_default: true, version: null }),
      ]);
    });

    it('deletes an app with its bundles and their bytes', async () => {
      await server.api('POST', '/apps', { id: 'com.example.gone' });
      const zip = await bundleZip('gone');
      const up = await uploadBundle(server, 'com.example.gone', zip, { version: '1.0.0' });
      expect(await holdsBlob(server, up.body.sha256)).toBe(true);
      expect((await server.api('DELETE', '/apps/com.example.gone')).status).toBe(200);
      expect((await server.api('GET', '/apps/com.example.gone')).status).toBe(404);
      expect(await holdsBlob(server, up.body.sha256)).toBe(false);
    });
  });

  describe('bundle uploads', () => {
    it('refuses a second upload of the same version with 409 and keeps the first', async () => {
      const first = await uploadBundle(server, APP, await bundleZip('dup-a'), { version: '0.9.0' });
      expect(first.status).toBe(201);
      const second = await uploadBundle(server, APP, await bundleZip('dup-b'), { version: '0.9.0' });
      expect(second).toMatchObject({ status: 409, body: { error: 'version_exists' } });
      expect((await server.api('GET', `/apps/${APP}/bundles/0.9.0`)).body.sha256).toBe(first.body.sha256);
    });

    it('keeps nothing when the sha256 the client sent does not match', async () => {
      const before = await storedBlobs(server);
      const wrong = await uploadBundle(server, APP, await bundleZip('mismatch'), {
        version: '0.9.1',
        sha256: 'a'.repeat(64),
      });
      expect(wrong).toMatchObject({ status: 400, body: { error: 'checksum_mismatch' } });
      expect((await server.api('GET', `/apps/${APP}/bundles/0.9.1`)).status).toBe(404);
      expect(await storedBlobs(server)).toEqual(before);
      expect(await stagingEntries(server)).toEqual([]);
    });

    it('refuses zips with unsafe entries or without index.html', async () => {
      const evil = await uploadBundle(server, APP, await makeZip({ 'index.html': 'x', '../evil.js': 'x' }), {
        version: '0.9.2',
      });
      expect(evil.status).toBe(400);
      expect(evil.body.error).toMatch(/invalid_zip/);
      const noIndex = await uploadBundle(server, APP, await makeZip({ 'app.js': 'x' }), { version: '0.9.2' });
      expect(noIndex.body.error).toBe('index_html_not_found');
      const notZip = await uploadBundle(server, APP, Buffer.from('hello'), { version: '0.9.2' });
      expect(notZip.body.error).toBe('invalid_zip');
      // A single top folder holding index.html is what the plugin flattens: accepted.
      const nested = await uploadBundle(server, APP, await makeZip({ 'dist/index.html': 'x' }), {
        version: '0.9.2',
      });
      expect(nested.status).toBe(201);
    });

    it('refuses an upload larger than the limit with 413 and keeps nothing', async () => {
      const small = await startTestServer({ OVERAIR_MAX_UPLOAD_SIZE: '2kb' });
      try {
        await small.api('POST', '/apps', { id: APP });
        const big = await uploadBundle(small, APP, Buffer.alloc(64 * 1024, 1), { version: '1.0.0' });
        expect(big).toMatchObject({ status: 413, body: { error: 'payload_too_large' } });
        expect(await storedBlobs(small)).toEqual([]);
        expect(await stagingEntries(small)).toEqual([]);
      } finally {
        await small.stop();
      }
    });

    it('leaves no file and no row behind when the client disconnects mid-upload', async () => {
      const url = new URL(`${server.url}/api/v1/apps/${APP}/bundles/upload?version=0.9.3`);
      await new Promise<void>((resolve) => {
        const request = http.request(url, {
          method: 'POST',
          headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-length': String(10 * 1024 * 1024) },
        });
        request.on('error', () => resolve());
        request.write(Buffer.alloc(256 * 1024, 7));
        setTimeout(() => {
          request.destroy();
          resolve();
        }, 200);
      });
      // The server notices the abort asynchronously.
      for (let i = 0; i < 50 && (await stagingEntries(server)).length > 0; i++)
        await new Promise((r) => setTimeout(r, 50));
      expect(await stagingEntries(server)).toEqual([]);
      expect((await server.api('GET', `/apps/${APP}/bundles/0.9.3`)).status).toBe(404);
    });

    it('stores identical bytes once and keeps them while another bundle uses them', async () => {
      const zip = await bundleZip('shared');
      const a = await uploadBundle(server, APP, zip, { version: '0.8.0' });
      const b = await uploadBundle(server, APP, zip, { version: '0.8.1' });
      expect(a.body.sha256).toBe(b.body.sha256);
      await server.api('DELETE', `/apps/${APP}/bundles/0.8.0`);
      const download = await fetch(b.body.url);
      expect(download.status).toBe(200);
      await download.arrayBuffer();
    });

    it('records an encrypted upload with its session key and serves the encrypted checksum', async () => {
      const enc = JSON.parse(await fs.readFile(path.join(VECTORS, 'encrypt-output.json'), 'utf8')) as {
        checksum: string;
        ivSessionKey: string;
      };
      const bytes = await fs.readFile(path.join(VECTORS, 'bundle.encrypted.zip'));
      const up = await uploadBundle(server, APP, bytes, {
        version: '3.0.0-enc',
        session_key: enc.ivSessionKey,
        checksum: enc.checksum,
      });
      expect(up.status).toBe(201);
      expect(up.body).toMatchObject({
        encrypted: true,
        checksum: enc.checksum,
        session_key: enc.ivSessionKey,
      });
      const half = await uploadBundle(server, APP, bytes, {
        version: '3.0.1-enc',
        session_key: enc.ivSessionKey,
      });
      expect(half.body.error).toBe('incomplete_encryption');
    });
  });

  describe('external bundles', () => {
    it('registers a URL with its checksum and hands it to devices as is', async () => {
      await server.api('POST', '/apps', { id: 'com.example.ext' });
      const sha = 'b'.repeat(64);
      const reg = await server.api('POST', '/apps/com.example.ext/bundles', {
        version: '5.0.0',
        url: 'https://cdn.example.com/app-5.0.0.zip',
        sha256: sha,
      });
      expect(reg.status).toBe(201);
      expect(reg.body).toMatchObject({
        location: 'external',
        url: 'https://cdn.example.com/app-5.0.0.zip',
        checksum: sha,
      });
      await server.api('PUT', '/apps/com.example.ext/channels/production/bundle', { version: '5.0.0' });
      const answer = await server.device('POST', '/updates', deviceInfo({ app_id: 'com.example.ext' }));
      expect(answer.body).toEqual({
        version: '5.0.0',
        url: 'https://cdn.example.com/app-5.0.0.zip',
        checksum: sha,
      });
    });
  });

  describe('listing', () => {
    it('pages bundles newest first', async () => {
      await server.api('POST', '/apps', { id: 'com.example.pages' });
      for (const version of ['1.0.0', '1.0.1', '1.0.2', '1.0.3', '1.0.4']) {
        await server.api('POST', '/apps/com.example.pages/bundles', {
          version,
          url: `https://cdn.example.com/${version}.zip`,
          sha256: createHash('sha256').update(version).digest('hex'),
        });
      }
      const seen: string[] = [];
      let cursor: string | null = null;
      do {
        const page: { body: { items: { version: string }[]; next_cursor: string | null } } = await server.api(
          'GET',
          `/apps/com.example.pages/bundles?limit=2${cursor ? `&cursor=${cursor}` : ''}`,
        );
        seen.push(...page.body.items.map((b) => b.version));
        cursor = page.body.next_cursor;
      } while (cursor);
      expect(seen).toEqual(['1.0.4', '1.0.3', '1.0.2', '1.0.1', '1.0.0']);
    });
  });

  describe('channels, history and rollback', () => {
    const CH = `/apps/${APP}/channels`;

    it('rolls back to the previous live bundle and records every change', async () => {
      await server.api('POST', CH, { name: 'stable' });
      for (const version of ['4.0.0', '4.0.1', '4.0.2']) {
        expect((await uploadBundle(server, APP, await bundleZip(version), { version })).status).toBe(201);
        expect((await server.api('PUT', `${CH}/stable/bundle`, { version })).body.version).toBe(version);
      }
      const rolled = await server.api('POST', `${CH}/stable/rollback`, { reason: 'crash on start' });
      expect(rolled.body.version).toBe('4.0.1');
      const device = await server.device(
        'POST',
        '/updates',
        deviceInfo({ app_id: APP, version_name: '4.0.2' }),
      );
      expect(device.body.kind).toBe('up_to_date'); // device is on production, not stable
      await server.api('PUT', `/apps/${APP}/devices/roll-dev/channel`, { channel: 'stable' });
      const onStable = await server.device(
        'POST',
        '/updates',
        deviceInfo({ app_id: APP, device_id: 'roll-dev', version_name: '4.0.2' }),
      );
      expect(onStable.body.version).toBe('4.0.1');

      const history = await server.api('GET', `${CH}/stable/history`);
      expect(
        history.body.items.map((h: { action: string; version: string; previous_version: string | null }) => [
          h.action,
          h.version,
          h.previous_version,
        ]),
      ).toEqual([
        ['rollback', '4.0.1', '4.0.2'],
        ['set', '4.0.2', '4.0.1'],
        ['set', '4.0.1', '4.0.0'],
        ['set', '4.0.0', null],
      ]);
      expect(history.body.items[0]).toMatchObject({
        reason: 'crash on start',
        actor: 'token:OVERAIR_ADMIN_TOKEN',
      });
    });

    it('falls back to the bundle live before when the live bundle is deleted, or to none', async () => {
      await server.api('POST', CH, { name: 'fallback' });
      for (const version of ['6.0.0', '6.0.1']) {
        await uploadBundle(server, APP, await bundleZip(version), { version });
        await server.api('PUT', `${CH}/fallback/bundle`, { version });
      }
      const deleted = await server.api('DELETE', `/apps/${APP}/bundles/6.0.1`);
      expect(deleted.body).toEqual({ deleted: true, channels: { fallback: '6.0.0' } });
      expect((await server.api('GET', `${CH}/fallback`)).body.version).toBe('6.0.0');
      const again = await server.api('DELETE', `/apps/${APP}/bundles/6.0.0`);
      expect(again.body.channels).toEqual({ fallback: null });
      const history = await server.api('GET', `${CH}/fallback/history`);
      expect(history.body.items.slice(0, 2)).toEqual([
        expect.objectContaining({
          action: 'bundle_deleted',
          version: null,
          previous_version: '6.0.0',
          reason: 'bundle 6.0.0 was deleted',
        }),
        expect.objectContaining({ action: 'bundle_deleted', version: '6.0.0', previous_version: '6.0.1' }),
      ]);
      expect((await server.api('POST', `${CH}/fallback/rollback`)).body.error).toBe('nothing_to_roll_back');
    });

    it('keeps exactly one default channel per app', async () => {
      await server.api('POST', CH, { name: 'other', allow_self_assign: true });
      const updated = await server.api('PATCH', `${CH}/other`, { is_default: true });
      expect(updated.body).toMatchObject({ is_default: true, allow_self_assign: true });
      const all = (await server.api('GET', CH)).body.items as { name: string; is_default: boolean }[];
      expect(all.filter((c) => c.is_default).map((c) => c.name)).toEqual(['other']);
      expect((await server.api('PATCH', `${CH}/other`, { is_default: false })).status).toBe(409);
      await server.api('PATCH', `${CH}/production`, { is_default: true });
    });

    it('deletes a channel and releases devices pinned to it', async () => {
      await server.api('POST', CH, { name: 'doomed' });
      await server.api('PUT', `/apps/${APP}/devices/pinned/channel`, { channel: 'doomed' });
      expect((await server.api('DELETE', `${CH}/doomed`)).status).toBe(200);
      expect((await server.api('GET', `/apps/${APP}/devices/pinned`)).body.channel_override).toBeNull();
    });
  });

  it('keeps an audit log of admin actions', async () => {
    const audit = await server.api('GET', `/audit?app=${APP}&limit=500`);
    const actions = new Set(audit.body.items.map((entry: { action: string }) => entry.action));
    for (const action of [
      'app.create',
      'bundle.upload',
      'channel.set',
      'channel.rollback',
      'bundle.delete',
      'device.override',
    ]) {
      expect(actions).toContain(action);
    }
  });
});
