import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { createLogger } from '../src/log.js';
import { startServer } from '../src/server.js';
import { pluginApplyManifest } from './helpers/plugin-delta.js';
import { createBucket, deleteBucket, listIncompleteUploads, listKeys } from './helpers/radosgw.js';
import { s3Env } from './helpers/backends.js';
import {
  ADMIN_TOKEN,
  VECTORS,
  deviceInfo,
  startTestServer,
  uploadBundle,
  type TestServer,
} from './helpers/server.js';
import { makeZip } from './helpers/zips.js';

const APP = 'com.example.s3';
const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

async function stagingFiles(server: TestServer): Promise<string[]> {
  return fs.readdir(path.join(server.dataDir, '.tmp-s3')).catch(() => []);
}

/** Waits (up to 5 s) for the server to finish with a request it is still tearing down. */
async function eventually(check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('a server with its bundles in S3 (radosgw)', () => {
  let server: TestServer;
  let bucket: string;
  let zip: Buffer;
  let url: string;
  let sha: string;

  beforeAll(async () => {
    bucket = await createBucket(inject('s3'));
    server = await startTestServer(s3Env(bucket, 'srv/'));
    zip = await fs.readFile(path.join(VECTORS, 'bundle.zip'));
    expect((await server.api('POST', '/apps', { id: APP })).status).toBe(201);
  });
  afterAll(async () => {
    await server?.stop();
    if (bucket) await deleteBucket(inject('s3'), bucket);
  });

  it('stores an uploaded bundle in the bucket, not on local disk', async () => {
    const up = await uploadBundle(server, APP, zip, { version: '1.0.1', sha256: sha256(zip) });
    expect(up.status).toBe(201);
    ({ url, sha256: sha } = up.body);
    expect(sha).toBe(sha256(zip));
    const keys = await listKeys(inject('s3'), bucket);
    expect(keys).toContain(`srv/bundles/${sha.slice(0, 2)}/${sha}`);
    // The zip's files too, for delta updates; all under the prefix.
    expect(keys.length).toBeGreaterThan(1);
    expect(keys.every((key) => key.startsWith('srv/bundles/'))).toBe(true);
    expect(await fs.readdir(path.join(server.dataDir, 'bundles')).catch(() => [])).toEqual([]);
    expect(await stagingFiles(server)).toEqual([]);
  });

  it('answers a device update check with its own download URL, which redirects to a presigned one', async () => {
    await server.api('PUT', `/apps/${APP}/channels/production/bundle`, { version: '1.0.1' });
    const answer = await server.device(
      'POST',
      '/updates',
      deviceInfo({ app_id: APP, version_name: '1.0.0' }),
    );
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({
      version: '1.0.1',
      url: `${server.url}/download/${sha}`,
      checksum: sha,
    });

    const redirect = await fetch(answer.body.url, { redirect: 'manual' });
    expect(redirect.status).toBe(302);
    const location = new URL(redirect.headers.get('location')!);
    expect(location.origin).toBe(inject('s3').endpoint);
    expect(location.pathname).toBe(`/${bucket}/srv/bundles/${sha.slice(0, 2)}/${sha}`);
    expect(Number(location.searchParams.get('X-Amz-Expires'))).toBeLessThanOrEqual(7 * 86_400);
    // Cacheable by anyone, but only within the presign's life, and never served stale.
    const cacheControl = redirect.headers.get('cache-control')!;
    expect(cacheControl).toMatch(/^public, max-age=\d+, must-revalidate$/);
    expect(Number(/max-age=(\d+)/.exec(cacheControl)![1])).toBeLessThanOrEqual(3600);

    const followed = await fetch(answer.body.url);
    expect(followed.status).toBe(200);
    const bytes = Buffer.from(await followed.arrayBuffer());
    expect(sha256(bytes)).toBe(answer.body.checksum);
    // The same URL while the signing step lasts: devices and caches agree.
    const again = await fetch(answer.body.url, { redirect: 'manual' });
    expect(again.headers.get('location')).toBe(redirect.headers.get('location'));
  });

  it('resumes through the redirect with a byte range, and redirects HEAD to a presigned HEAD', async () => {
    const range = await fetch(url, { headers: { range: 'bytes=100-199' } });
    expect(range.status).toBe(206);
    expect(Buffer.from(await range.arrayBuffer()).equals(zip.subarray(100, 200))).toBe(true);
    const head = await fetch(url, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-length')).toBe(String(zip.length));
  });

  it('keeps the file name hint through the presigned URL, and still checks before redirecting', async () => {
    const named = await fetch(`${url}?name=release.zip`);
    expect(named.status).toBe(200);
    expect(named.headers.get('content-disposition')).toBe('attachment; filename="release.zip"');
    const unknown = await fetch(`${server.url}/download/${'0'.repeat(64)}`, { redirect: 'manual' });
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toMatchObject({ error: 'bundle_not_found' });
    const cached = await fetch(url, { headers: { 'if-none-match': `"${sha}"` }, redirect: 'manual' });
    expect(cached.status).toBe(304);
  });

  it('serves delta files through the same redirect, each verified by the plugin', async () => {
    const answer = await server.device(
      'POST',
      '/updates',
      deviceInfo({ app_id: APP, version_name: '1.0.0' }),
    );
    expect(answer.body.manifest.length).toBeGreaterThan(0);
    const first = await fetch(answer.body.manifest[0].download_url, { redirect: 'manual' });
    expect(first.status).toBe(302);
    const { tree } = await pluginApplyManifest(answer.body.manifest, new Map());
    expect(tree.size).toBe(answer.body.manifest.length);
  });

  it('leaves neither an object nor a temporary file when an upload is cut off mid-way', async () => {
    const before = await listKeys(inject('s3'), bucket);
    const big = await makeZip({ 'index.html': 'x'.repeat(3 * 1024 * 1024) });
    await new Promise<void>((resolve) => {
      const request = http.request(
        `${server.url}/api/v1/apps/${APP}/bundles/upload?version=1.0.9`,
        {
          method: 'POST',
          headers: {
            authorization: `Bearer ${ADMIN_TOKEN}`,
            'content-type': 'application/zip',
            'content-length': String(big.length),
          },
        },
        () => resolve(),
      );
      request.on('error', () => resolve());
      // Cut off once the server is visibly receiving it (its staging file exists).
      request.write(big.subarray(0, big.length / 2), () => {
        void eventually(async () => (await stagingFiles(server)).length > 0).finally(() => request.destroy());
      });
    });
    await eventually(async () => (await stagingFiles(server)).length === 0);
    expect(await listKeys(inject('s3'), bucket)).toEqual(before);
    expect(await listIncompleteUploads(inject('s3'), bucket)).toEqual([]);
    expect((await server.api('GET', `/apps/${APP}/bundles/1.0.9`)).status).toBe(404);
  });

  it('removes the objects of a deleted bundle (the zip and its files no other bundle uses)', async () => {
    const other = await makeZip({ 'index.html': '<!doctype html>other', 'app.js': 'console.log(2)' });
    expect((await uploadBundle(server, APP, other, { version: '2.0.0' })).status).toBe(201);
    const withBoth = await listKeys(inject('s3'), bucket);
    expect(withBoth).toContain(`srv/bundles/${sha256(other).slice(0, 2)}/${sha256(other)}`);
    expect((await server.api('DELETE', `/apps/${APP}/bundles/2.0.0`)).status).toBe(200);
    const after = await listKeys(inject('s3'), bucket);
    expect(after).not.toContain(`srv/bundles/${sha256(other).slice(0, 2)}/${sha256(other)}`);
    expect(after.length).toBeLessThan(withBoth.length);
    // The first bundle is untouched and still downloads.
    expect(after).toContain(`srv/bundles/${sha.slice(0, 2)}/${sha}`);
    expect((await server.api('DELETE', `/apps/${APP}/bundles/1.0.1`)).status).toBe(200);
    expect(await listKeys(inject('s3'), bucket)).toEqual([]);
  });
});

describe('private downloads with S3', () => {
  let server: TestServer;
  let bucket: string;

  beforeAll(async () => {
    bucket = await createBucket(inject('s3'));
    server = await startTestServer({
      ...s3Env(bucket, ''),
      OVERAIR_PRIVATE_DOWNLOADS: 'true',
      OVERAIR_DOWNLOAD_SECRET: 'a-download-secret-of-at-least-32-characters',
      OVERAIR_DOWNLOAD_URL_TTL: '1h',
    });
    await server.api('POST', '/apps', { id: APP });
  });
  afterAll(async () => {
    await server?.stop();
    if (bucket) await deleteBucket(inject('s3'), bucket);
  });

  it('redirects a signed link to a presigned URL that expires no later than the link, cached privately', async () => {
    const zip = await fs.readFile(path.join(VECTORS, 'bundle.zip'));
    const up = await uploadBundle(server, APP, zip, { version: '1.0.1' });
    expect(up.status).toBe(201);
    const link = new URL(up.body.url);
    const exp = Number(link.searchParams.get('exp'));
    expect(exp).toBeGreaterThan(Date.now() / 1000);

    const redirect = await fetch(link, { redirect: 'manual' });
    expect(redirect.status).toBe(302);
    expect(redirect.headers.get('cache-control')).toMatch(/^private, max-age=\d+$/);
    const location = new URL(redirect.headers.get('location')!);
    const amzDate = location.searchParams.get('X-Amz-Date')!;
    const signedAt =
      Date.UTC(
        Number(amzDate.slice(0, 4)),
        Number(amzDate.slice(4, 6)) - 1,
        Number(amzDate.slice(6, 8)),
        Number(amzDate.slice(9, 11)),
        Number(amzDate.slice(11, 13)),
        Number(amzDate.slice(13, 15)),
      ) / 1000;
    expect(signedAt + Number(location.searchParams.get('X-Amz-Expires'))).toBeLessThanOrEqual(exp);
    const bytes = await fetch(location);
    expect(bytes.status).toBe(200);
    expect(bytes.headers.get('cache-control')).toMatch(/^private/);
    expect(sha256(Buffer.from(await bytes.arrayBuffer()))).toBe(up.body.sha256);
  });

  it('refuses an unsigned or altered link before redirecting anywhere', async () => {
    const answer = await server.api('GET', `/apps/${APP}/bundles/1.0.1`);
    const link = new URL(answer.body.url);
    for (const bad of [`${link.origin}${link.pathname}`, `${link}x`]) {
      const response = await fetch(bad, { redirect: 'manual' });
      expect(response.status).toBe(403);
      expect(response.headers.get('location')).toBeNull();
      expect(response.headers.get('cache-control')).toBe('no-store');
    }
  });
});

describe('a server that cannot reach its bucket', () => {
  it('stops at start with a message naming the bucket and the endpoint, never the keys', async () => {
    const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'overair-s3-fail-'));
    const config = loadConfig({
      ...s3Env('no-such-bucket-here', ''),
      OVERAIR_DATA_DIR: dataDir,
      OVERAIR_PORT: '0',
      OVERAIR_HOST: '127.0.0.1',
      OVERAIR_LOG_LEVEL: 'silent',
    });
    const failure = await startServer(config, createLogger('silent'))
      .catch((error: Error) => error)
      .finally(() => fs.rm(dataDir, { recursive: true, force: true }));
    expect(failure).toBeInstanceOf(Error);
    const message = (failure as Error).message;
    expect(message).toContain('no-such-bucket-here');
    expect(message).toContain(inject('s3').endpoint);
    expect(message).not.toContain(inject('s3').secretKey);
  });
});
