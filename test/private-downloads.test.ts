/**
 * Private download links (OVERAIR_PRIVATE_DOWNLOADS): every link the server hands out is signed and
 * expires, the download route serves only such links, and the generated secret outlives a restart.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { downloadSignature } from '../src/http/download.js';
import { SettingsRepo } from '../src/db/settings.js';
import { DOWNLOAD_SECRET_FILE, DOWNLOAD_SECRET_SETTING } from '../src/storage/download-secret.js';
import { VECTORS, deviceInfo, startTestServer, uploadBundle, type TestServer } from './helpers/server.js';

const APP = 'com.example.private';
const SIGNED = /^http:\/\/127\.0\.0\.1:\d+\/download\/([0-9a-f]{64})\?exp=(\d+)&sig=([A-Za-z0-9_-]{43})$/;
const SEVEN_DAYS = 7 * 86_400;

describe('private downloads', () => {
  let server: TestServer;
  let zip: Buffer;
  let url: string;
  let sha: string;
  let secret: string;

  beforeAll(async () => {
    server = await startTestServer({ OVERAIR_PRIVATE_DOWNLOADS: 'true' });
    zip = await fs.readFile(path.join(VECTORS, 'bundle.zip'));
    await server.api('POST', '/apps', { id: APP });
    const upload = await uploadBundle(server, APP, zip, { version: '1.0.0' });
    expect(upload.status).toBe(201);
    ({ url, sha256: sha } = upload.body);
    await server.api('PUT', `/apps/${APP}/channels/production/bundle`, { version: '1.0.0' });
    secret = (await new SettingsRepo(server.db).get(DOWNLOAD_SECRET_SETTING)) ?? '';
  });
  afterAll(() => server.stop());

  /** The link with one query parameter (or the path's sha) replaced; undefined drops it. */
  const altered = (changes: { sha?: string; exp?: string; sig?: string | undefined }) => {
    const link = new URL(url);
    if (changes.sha) link.pathname = `/download/${changes.sha}`;
    for (const key of ['exp', 'sig'] as const) {
      if (!(key in changes)) continue;
      const value = changes[key];
      if (value === undefined) link.searchParams.delete(key);
      else link.searchParams.set(key, value);
    }
    return link.toString();
  };

  it('generates a secret of 32+ characters into the database (shared by instances), not the data folder', async () => {
    expect(secret.length).toBeGreaterThanOrEqual(32);
    await expect(fs.access(path.join(server.dataDir, DOWNLOAD_SECRET_FILE))).rejects.toThrow();
  });

  it('hands out signed links that expire in about 7 days, from the admin API', () => {
    const [, linkSha, exp, sig] = SIGNED.exec(url) ?? [];
    expect(linkSha).toBe(sha);
    const lifetime = Number(exp) - Date.now() / 1000;
    expect(lifetime).toBeGreaterThan(SEVEN_DAYS - 5);
    expect(lifetime).toBeLessThanOrEqual(SEVEN_DAYS + 3600);
    expect(sig).toBe(downloadSignature(secret, sha, Number(exp)));
  });

  /** Checks that a link is this bundle's, signed with the server's secret, as the admin API's is. */
  const expectSigned = (link: string, origin = server.url, of = sha) => {
    const [, linkSha, exp, sig] = SIGNED.exec(link.replace(origin, server.url)) ?? [];
    expect(linkSha, link).toBe(of);
    expect(sig, link).toBe(downloadSignature(secret, of, Number(exp)));
  };

  it('hands out signed links in update checks (Node fast path and Hono), /check and bundle lists', async () => {
    // Links made within the same step (up to an hour) are the same; across a boundary, both valid.
    const check = await server.device('POST', '/updates', deviceInfo({ app_id: APP, version_name: '0.9.0' }));
    expect(check.body).toMatchObject({ version: '1.0.0' });
    expectSigned(check.body.url);
    // The files of a delta (manifest) update are links too, each signed for its own bytes.
    const manifest = check.body.manifest as Array<{ download_url: string }>;
    expect(manifest.length).toBeGreaterThan(0);
    for (const file of manifest) {
      const fileSha = /\/download\/([0-9a-f]{64})\?/.exec(file.download_url)?.[1];
      // `kind=file` (served as application/octet-stream) is outside the signature: it sets only the type.
      expect(file.download_url).toMatch(/&kind=file$/);
      expectSigned(file.download_url.replace(/&kind=file$/, ''), server.url, fileSha);
    }
    expect((await fetch(manifest[0]!.download_url)).status).toBe(200);
    const unsigned = manifest[0]!.download_url.replace(/\?.*$/, '');
    expect((await fetch(unsigned)).status).toBe(403);
    const viaHono = await server.app.request('/updates', {
      method: 'POST',
      body: JSON.stringify(deviceInfo({ app_id: APP, version_name: '0.9.0' })),
      headers: { 'content-type': 'application/json' },
    });
    // app.request() has no socket: its origin is http://localhost.
    expectSigned(((await viaHono.json()) as { url: string }).url, 'http://localhost');
    const simple = await server.device('POST', '/check', { app_id: APP, version: '0.9.0' });
    expect(simple.body).toMatchObject({ version: '1.0.0' });
    expectSigned(simple.body.url);
    const listed = await server.api('GET', `/apps/${APP}/bundles`);
    expectSigned(listed.body.items[0].url);
  });

  it('serves a valid link, with byte ranges, HEAD and a private cache policy', async () => {
    const whole = await fetch(url);
    expect(whole.status).toBe(200);
    expect(Buffer.from(await whole.arrayBuffer()).equals(zip)).toBe(true);
    expect(whole.headers.get('cache-control')).toMatch(/^private, max-age=\d+$/);
    expect(whole.headers.get('cache-control')).not.toContain('public');

    const resumed = await fetch(url, { headers: { range: 'bytes=1000-' } });
    expect(resumed.status).toBe(206);
    expect(resumed.headers.get('content-range')).toBe(`bytes 1000-${zip.length - 1}/${zip.length}`);
    expect(Buffer.from(await resumed.arrayBuffer()).equals(zip.subarray(1000))).toBe(true);

    const head = await fetch(url, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-length')).toBe(String(zip.length));
  });

  it('refuses missing, altered and expired links with a 403 JSON error, before looking the bundle up', async () => {
    const link = new URL(url);
    const sig = link.searchParams.get('sig')!;
    const exp = link.searchParams.get('exp')!;
    const flip = (text: string, at: number) =>
      text.slice(0, at) + (text[at] === 'A' ? 'B' : 'A') + text.slice(at + 1);
    const pastExp = Math.floor(Date.now() / 1000) - 60;
    const cases: Array<[string, string, string]> = [
      ['no signature', altered({ sig: undefined }), 'invalid_download_link'],
      ['no expiry', altered({ exp: undefined }), 'invalid_download_link'],
      ['neither', `${server.url}/download/${sha}`, 'invalid_download_link'],
      ['neither, .zip', `${server.url}/download/${sha}.zip`, 'invalid_download_link'],
      ['altered signature', altered({ sig: flip(sig, 10) }), 'invalid_download_link'],
      ['altered last signature character', altered({ sig: flip(sig, 42) }), 'invalid_download_link'],
      ['truncated signature', altered({ sig: sig.slice(0, 42) }), 'invalid_download_link'],
      ['padded signature', altered({ sig: `${sig}=` }), 'invalid_download_link'],
      ['altered sha256', altered({ sha: flip(sha, 0).replace(/[AB]/, 'c') }), 'invalid_download_link'],
      ['unknown sha256', altered({ sha: '0'.repeat(64) }), 'invalid_download_link'],
      ['longer expiry', altered({ exp: String(Number(exp) + 86_400) }), 'invalid_download_link'],
      ['malformed expiry', altered({ exp: `${exp}.0` }), 'invalid_download_link'],
      [
        'expired (genuinely signed)',
        altered({ exp: String(pastExp), sig: downloadSignature(secret, sha, pastExp) }),
        'download_link_expired',
      ],
      [
        'signed with another secret',
        altered({ sig: downloadSignature('x'.repeat(43), sha, Number(exp)) }),
        'invalid_download_link',
      ],
    ];
    const problems: string[] = [];
    for (const [name, target, error] of cases) {
      for (const method of ['GET', 'HEAD']) {
        const response = await fetch(target, { method, headers: { 'if-none-match': `"${sha}"` } });
        const body =
          method === 'GET' ? ((await response.json()) as { error: string; message: string }) : null;
        const wrong =
          response.status !== 403 ||
          response.headers.get('cache-control') !== 'no-store' ||
          (body !== null && (body.error !== error || typeof body.message !== 'string'));
        if (wrong) problems.push(`${method} ${name}: ${response.status} ${JSON.stringify(body)}`);
      }
    }
    expect(problems).toEqual([]);
  });

  it('leaves external bundles alone', async () => {
    const external = 'https://cdn.example.com/app-2.0.0.zip';
    const answer = await server.api('POST', `/apps/${APP}/bundles`, {
      version: '2.0.0',
      url: external,
      sha256: 'ab'.repeat(32),
    });
    expect(answer).toMatchObject({ status: 201, body: { url: external } });
  });

  it('keeps the generated secret across a restart, so links handed out before still work', async () => {
    const again = await startTestServer({
      OVERAIR_PRIVATE_DOWNLOADS: 'true',
      ...server.stateEnv,
    });
    try {
      const onRestarted = url.replace(server.url, again.url);
      expect((await fetch(onRestarted)).status).toBe(200);
      const fresh = await again.api('GET', `/apps/${APP}/bundles/1.0.0`);
      expectSigned(fresh.body.url, again.url);
    } finally {
      await again.close();
      await fs.rm(again.dataDir, { recursive: true, force: true });
    }
  });
});

describe('private downloads with a configured secret and lifetime', () => {
  let server: TestServer;
  const secret = 'a-configured-download-secret-of-40-chars!';

  beforeAll(async () => {
    server = await startTestServer({
      OVERAIR_PRIVATE_DOWNLOADS: 'true',
      OVERAIR_DOWNLOAD_SECRET: secret,
      OVERAIR_DOWNLOAD_URL_TTL: '1h',
    });
  });
  afterAll(() => server.stop());

  it('signs with it, stores no secret, and expires links after the lifetime', async () => {
    await server.api('POST', '/apps', { id: APP });
    const zip = await fs.readFile(path.join(VECTORS, 'bundle.zip'));
    const { body } = await uploadBundle(server, APP, zip, { version: '1.0.0' });
    const [, sha, exp, sig] = SIGNED.exec(body.url) ?? [];
    expect(sig).toBe(downloadSignature(secret, sha!, Number(exp)));
    const lifetime = Number(exp) - Date.now() / 1000;
    expect(lifetime).toBeGreaterThan(3600 - 5);
    expect(lifetime).toBeLessThanOrEqual(3600 + 360);
    await expect(fs.access(path.join(server.dataDir, DOWNLOAD_SECRET_FILE))).rejects.toThrow();
    expect(await new SettingsRepo(server.db).get(DOWNLOAD_SECRET_SETTING)).toBeUndefined();
    const download = await fetch(body.url);
    expect(download.status).toBe(200);
    await download.arrayBuffer();
  });
});

describe('public downloads (the default)', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(() => server.stop());

  it('hands out plain links that anyone may fetch, and keeps no secret', async () => {
    await server.api('POST', '/apps', { id: APP });
    const zip = await fs.readFile(path.join(VECTORS, 'bundle.zip'));
    const { body } = await uploadBundle(server, APP, zip, { version: '1.0.0' });
    expect(body.url).toBe(`${server.url}/download/${body.sha256}`);
    const response = await fetch(body.url);
    expect(response.status).toBe(200);
    await response.arrayBuffer();
    expect(response.headers.get('cache-control')).toContain('public');
    await expect(fs.access(path.join(server.dataDir, DOWNLOAD_SECRET_FILE))).rejects.toThrow();
  });
});
