import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pluginApplyManifest, type ManifestEntry } from './helpers/plugin-delta.js';
import { VECTORS, deviceInfo, startTestServer, uploadBundle, type TestServer } from './helpers/server.js';
import { storedBlobs } from './helpers/stored.js';
import { makeZip } from './helpers/zips.js';

const APP = 'com.example.delta';

/** A web build of many files: small ones, large compressible ones, an empty one, nested folders. */
function release(changed: string): Record<string, string> {
  const files: Record<string, string> = {
    'index.html': '<!doctype html><script src="js/main.js"></script>',
    'js/main.js': `import { CapacitorUpdater } from '@capgo/capacitor-updater'; CapacitorUpdater.notifyAppReady(); // ${changed}`,
    'css/app.css': 'body { margin: 0 }\n'.repeat(2000),
    'assets/empty.txt': '',
    '.well-known/assetlinks.json': '[]',
  };
  for (let i = 0; i < 40; i++)
    files[`js/chunks/chunk-${i}.js`] = `export const v${i} = ${i};\n`.repeat(50 + i);
  return files;
}

describe('delta updates: a device downloads only the files that changed', () => {
  let server: TestServer;
  const first = release('one');
  const second = release('two');

  beforeAll(async () => {
    server = await startTestServer();
    await server.api('POST', '/apps', { id: APP });
    expect((await uploadBundle(server, APP, await makeZip(first), { version: '1.0.0' })).status).toBe(201);
    expect((await uploadBundle(server, APP, await makeZip(second), { version: '1.0.1' })).status).toBe(201);
    await server.api('PUT', `/apps/${APP}/channels/production/bundle`, { version: '1.0.1' });
  });
  afterAll(() => server.stop());

  it('lists every file of the new bundle in the manifest the plugin parses, beside the full zip', async () => {
    const answer = await server.device(
      'POST',
      '/updates',
      deviceInfo({ app_id: APP, version_name: '1.0.0' }),
    );
    expect(answer.body).toMatchObject({
      version: '1.0.1',
      url: expect.any(String),
      checksum: expect.any(String),
    });
    const manifest = answer.body.manifest as ManifestEntry[];
    expect(manifest.map((entry) => entry.file_name.replace(/\.br$/, '')).sort()).toEqual(
      Object.keys(second).sort(),
    );
    for (const entry of manifest) {
      expect(Object.keys(entry).sort()).toEqual(['download_url', 'file_hash', 'file_name']);
      expect(entry.file_hash).toMatch(/^[0-9a-f]{64}$/);
    }
    // Large compressible files travel brotli-compressed, as the Capgo CLI sends them; small ones as they are.
    expect(manifest.find((entry) => entry.file_name.startsWith('css/app.css'))?.file_name).toBe(
      'css/app.css.br',
    );
    expect(manifest.find((entry) => entry.file_name.startsWith('index.html'))?.file_name).toBe('index.html');
  });

  it('lets a device holding the first release fetch one file and end with the full second release', async () => {
    const local = new Map(Object.entries(first).map(([name, text]) => [name, Buffer.from(text)]));
    const answer = await server.device(
      'POST',
      '/updates',
      deviceInfo({ app_id: APP, version_name: '1.0.0' }),
    );
    const { tree, downloaded } = await pluginApplyManifest(answer.body.manifest, local);
    expect(downloaded).toEqual(['js/main.js']);
    expect(new Map([...tree].map(([name, bytes]) => [name, bytes.toString()]))).toEqual(
      new Map(Object.entries(second)),
    );
  });

  it('gives a device with nothing cached every file, each verified', async () => {
    const answer = await server.device(
      'POST',
      '/updates',
      deviceInfo({ app_id: APP, version_name: '1.0.0' }),
    );
    const { tree, downloaded } = await pluginApplyManifest(answer.body.manifest, new Map());
    // Identical files are one download for the plugin's cache, but each path is listed.
    expect(downloaded.length).toBeGreaterThan(40);
    expect(new Map([...tree].map(([name, bytes]) => [name, bytes.toString()]))).toEqual(
      new Map(Object.entries(second)),
    );
  });

  it('gzips a large manifest answer for clients that accept it', async () => {
    const response = await fetch(`${server.url}/updates`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'accept-encoding': 'gzip' },
      body: JSON.stringify(deviceInfo({ app_id: APP, version_name: '1.0.0' })),
    });
    expect(response.headers.get('content-encoding')).toBe('gzip');
    const plain = await server.device('POST', '/updates', deviceInfo({ app_id: APP, version_name: '1.0.0' }));
    expect(Number(response.headers.get('content-length'))).toBeLessThan(
      JSON.stringify(plain.body).length / 3,
    );
    expect(await response.json()).toEqual(plain.body);
  });

  it('sends only the full zip to plugins too old for manifests', async () => {
    const answer = await server.device(
      'POST',
      '/updates',
      deviceInfo({ app_id: APP, version_name: '1.0.0', plugin_version: '7.0.20' }),
    );
    expect(answer.body.version).toBe('1.0.1');
    expect(answer.body).not.toHaveProperty('manifest');
  });

  it('strips the single top folder of a zip, as the plugin flattens it', async () => {
    await uploadBundle(
      server,
      APP,
      await makeZip({ 'dist/index.html': '<html>', 'dist/app.js': 'notifyAppReady()' }),
      { version: '2.0.0' },
    );
    await server.api('POST', `/apps/${APP}/channels`, {
      name: 'nested',
      allow_self_assign: true,
      version: '2.0.0',
    });
    const answer = await server.device(
      'POST',
      '/updates',
      deviceInfo({ app_id: APP, defaultChannel: 'nested' }),
    );
    expect(answer.body.manifest.map((entry: ManifestEntry) => entry.file_name).sort()).toEqual([
      'app.js',
      'index.html',
    ]);
  });

  it('sends no manifest for encrypted bundles, whose per-file hashes only the key holder could seal', async () => {
    const enc = JSON.parse(await fs.readFile(path.join(VECTORS, 'encrypt-output.json'), 'utf8'));
    await uploadBundle(server, APP, await fs.readFile(path.join(VECTORS, 'bundle.encrypted.zip')), {
      version: '3.0.0',
      session_key: enc.ivSessionKey,
      checksum: enc.checksum,
    });
    await server.api('POST', `/apps/${APP}/channels`, {
      name: 'secure',
      allow_self_assign: true,
      version: '3.0.0',
    });
    const answer = await server.device(
      'POST',
      '/updates',
      deviceInfo({ app_id: APP, defaultChannel: 'secure', key_id: 'MIIBCgKCAQEA+EgVlAr0' }),
    );
    expect(answer.body).toMatchObject({ version: '3.0.0', session_key: enc.ivSessionKey });
    expect(answer.body).not.toHaveProperty('manifest');
  });

  it('stores a file shared by releases once, and deletes files with the last bundle using them', async () => {
    const stored = async () => (await storedBlobs(server)).length;
    const before = await stored();
    await uploadBundle(server, APP, await makeZip(release('three')), { version: '1.0.2' });
    // One new zip and one new main.js (in a new folder or not): far fewer than the release's files.
    expect((await stored()) - before).toBeLessThanOrEqual(4);
    await server.api('DELETE', `/apps/${APP}/bundles/1.0.2`);
    expect(await stored()).toBe(before);
    const answer = await server.device(
      'POST',
      '/updates',
      deviceInfo({ app_id: APP, version_name: '1.0.0' }),
    );
    const { tree } = await pluginApplyManifest(answer.body.manifest, new Map());
    expect(tree.size).toBe(Object.keys(second).length);
  });

  it('stores a bundle of hundreds of files (committed a few at once), serves each, and deletes them all', async () => {
    const app = `${APP}.many`;
    await server.api('POST', '/apps', { id: app });
    const files: Record<string, string> = { 'index.html': '<!doctype html>' };
    for (let i = 0; i < 300; i++) {
      // Small files, large compressible ones (brotli) and a few that compress badly, all different.
      files[`assets/f-${i}.js`] =
        i % 10 === 0
          ? Array.from({ length: 1200 }, (_, n) => ((n * 7919 + i * 104729) % 1_000_003).toString(36)).join(
              '',
            )
          : `export const f${i} = ${i};\n`.repeat(i % 3 === 0 ? 600 : 5);
    }
    const before = (await storedBlobs(server)).length;
    expect((await uploadBundle(server, app, await makeZip(files), { version: '1.0.0' })).status).toBe(201);
    // The zip and one blob per file.
    expect((await storedBlobs(server)).length - before).toBe(Object.keys(files).length + 1);
    await server.api('PUT', `/apps/${app}/channels/production/bundle`, { version: '1.0.0' });
    const answer = await server.device(
      'POST',
      '/updates',
      deviceInfo({ app_id: app, version_name: '0.9.0' }),
    );
    const manifest = answer.body.manifest as ManifestEntry[];
    expect(manifest.some((entry) => entry.file_name.endsWith('.br'))).toBe(true);
    const { tree } = await pluginApplyManifest(manifest, new Map());
    expect(new Map([...tree].map(([name, bytes]) => [name, bytes.toString()]))).toEqual(
      new Map(Object.entries(files)),
    );
    await server.api('DELETE', `/apps/${app}/bundles/1.0.0`);
    expect((await storedBlobs(server)).length).toBe(before);
  });
});
