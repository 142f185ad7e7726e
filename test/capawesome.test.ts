import { createHash, createVerify, createSign, generateKeyPairSync } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, uploadBundle, type TestServer } from './helpers/server.js';
import { makeZip } from './helpers/zips.js';

const MANIFEST = 'capawesome-live-update-manifest.json';
const sha256 = (bytes: Buffer | string) => createHash('sha256').update(bytes).digest('hex');

interface ManifestItem {
  href: string;
  checksum: string;
  sizeInBytes: number;
}

/**
 * A device running @capawesome/capacitor-live-update 8.4.3, making exactly the requests of its
 * LiveUpdate.java: the latest-bundle check with all its query parameters (a null one, such as
 * bundleId on the builtin bundle, goes out bare as OkHttp's addQueryParameter writes it), then the
 * zip or, for a manifest, the file list and each missing file as `?href=`, verified as verifyFile does.
 */
class CapawesomeDevice {
  bundleId: string | null = null;
  /** The files of the bundle it runs (the builtin one has none here: no manifest to compare). */
  tree = new Map<string, Buffer>();
  downloaded: string[] = [];

  constructor(
    private readonly server: TestServer,
    private readonly appId: string,
    private readonly options: {
      platform?: '0' | '1';
      deviceId?: string;
      channel?: string;
      publicKey?: string;
      pluginVersion?: string;
    } = {},
  ) {}

  private get base() {
    return `${this.server.url}/v1/apps/${this.appId}`;
  }

  private get deviceId() {
    return this.options.deviceId ?? '0b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9';
  }

  fetchLatestBundle() {
    const params: [string, string | null][] = [
      ['appVersionCode', '10'],
      ['appVersionName', '1.0.0'],
      ['bundleId', this.bundleId],
      ['channelName', this.options.channel ?? null],
      ['customId', null],
      ['deviceId', this.deviceId],
      ['osVersion', '34'],
      ['platform', this.options.platform ?? '0'],
      ['pluginVersion', this.options.pluginVersion ?? '8.4.3'],
    ];
    const query = params
      .map(([name, value]) => (value === null ? name : `${name}=${encodeURIComponent(value)}`))
      .join('&');
    return this.get(`${this.base}/bundles/latest?${query}`);
  }

  private get(url: string) {
    return fetch(url, { headers: { 'X-Capawesome-Device-Id': this.deviceId } });
  }

  /** verifyFile: with a public key the signature is required; else the checksum, when there is one. */
  private verify(bytes: Buffer, checksum: string | null, signature: string | null) {
    if (this.options.publicKey) {
      if (!signature) throw new Error('signature missing');
      const ok = createVerify('sha256').update(bytes).verify(this.options.publicKey, signature, 'base64');
      if (!ok) throw new Error('signature verification failed');
    } else if (checksum !== null && sha256(bytes) !== checksum) {
      throw new Error('checksum mismatch');
    }
  }

  /** downloadAndVerifyFile: checksum and signature from the answer, else from the download's headers. */
  private async download(url: string, checksum: string | null = null, signature: string | null = null) {
    const response = await this.get(url);
    if (!response.ok) throw new Error(`download failed: ${response.status} ${await response.text()}`);
    const bytes = Buffer.from(await response.arrayBuffer());
    this.verify(
      bytes,
      checksum ?? response.headers.get('X-Checksum'),
      signature ?? response.headers.get('X-Signature'),
    );
    return bytes;
  }

  /** sync(): null when there is no bundle (any non-2xx), else the bundle set as next. */
  async sync(): Promise<{ bundleId: string; artifactType: string; zip?: Buffer } | null> {
    const response = await this.fetchLatestBundle();
    if (!response.ok) return null;
    const answer = (await response.json()) as Record<string, unknown>;
    const url = String(answer.url);
    const bundleId = String(answer.bundleId);
    const withHref = (href: string) => {
      const next = new URL(url);
      next.searchParams.set('href', href);
      return next.toString();
    };
    if (answer.artifactType === 'manifest') {
      const latest = JSON.parse((await this.download(withHref(MANIFEST))).toString()) as ManifestItem[];
      const current = this.tree.has(MANIFEST)
        ? (JSON.parse(this.tree.get(MANIFEST)!.toString()) as ManifestItem[])
        : null;
      const have = new Set((current ?? []).map((item) => item.checksum));
      const next = new Map<string, Buffer>([[MANIFEST, Buffer.from(JSON.stringify(latest))]]);
      this.downloaded = [];
      for (const item of latest) {
        const local =
          current && have.has(item.checksum) ? this.byChecksum(current, item.checksum) : undefined;
        if (local) {
          next.set(item.href, local);
          continue;
        }
        // downloadBundleFile: no checksum or signature from the answer, the headers' are used.
        const bytes = await this.download(withHref(item.href));
        expect(sha256(bytes)).toBe(item.checksum);
        expect(bytes.length).toBe(item.sizeInBytes);
        next.set(item.href, bytes);
        this.downloaded.push(item.href);
      }
      this.tree = next;
      this.bundleId = bundleId;
      return { bundleId, artifactType: 'manifest' };
    }
    const zip = await this.download(
      url,
      (answer.checksum as string | undefined) ?? null,
      (answer.signature as string | undefined) ?? null,
    );
    this.bundleId = bundleId;
    return { bundleId, artifactType: 'zip', zip };
  }

  private byChecksum(manifest: ManifestItem[], checksum: string): Buffer | undefined {
    const item = manifest.find((entry) => entry.checksum === checksum);
    return item && this.tree.get(item.href);
  }
}

function release(tag: string): Record<string, string> {
  const files: Record<string, string> = {
    'index.html': '<!doctype html><script src="js/main.js"></script>',
    'js/main.js': `console.log('${tag}');`,
    'css/app.css': 'body { margin: 0 }\n'.repeat(2000),
    'assets/empty.txt': '',
  };
  for (let i = 0; i < 10; i++)
    files[`js/chunks/chunk-${i}.js`] = `export const v${i} = ${i};\n`.repeat(20 + i);
  return files;
}

const without = (tree: Map<string, Buffer>, name: string) =>
  new Map([...tree].filter(([key]) => key !== name).map(([key, bytes]) => [key, bytes.toString()]));

describe('the unmodified @capawesome/capacitor-live-update plugin', () => {
  let server: TestServer;
  const APP = 'com.example.capawesome';
  const SIGNED = 'com.example.capawesome.signed';
  const keys = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  let signedZip: Buffer;

  beforeAll(async () => {
    server = await startTestServer();
    await server.api('POST', '/apps', { id: APP });
    await server.api('POST', '/apps', { id: SIGNED });
    for (const [version, files] of [
      ['1.0.1', release('one')],
      ['1.0.2', release('two')],
    ] as const) {
      expect((await uploadBundle(server, APP, await makeZip(files), { version })).status).toBe(201);
    }
    await server.api('PUT', `/apps/${APP}/channels/production/bundle`, { version: '1.0.1' });

    signedZip = await makeZip(release('signed'));
    const signature = createSign('sha256').update(signedZip).sign(keys.privateKey, 'base64');
    const up = await uploadBundle(server, SIGNED, signedZip, { version: '2.0.0', signature });
    expect(up.status).toBe(201);
    await server.api('PUT', `/apps/${SIGNED}/channels/production/bundle`, { version: '2.0.0' });
  });
  afterAll(() => server.stop());

  it('answers an older signed bundle with a zip whose checksum and RSA-SHA256 signature verify', async () => {
    const device = new CapawesomeDevice(server, SIGNED, { publicKey: keys.publicKey });
    const answer = await device.fetchLatestBundle();
    expect(answer.status).toBe(200);
    const body = (await answer.json()) as Record<string, unknown>;
    expect(body).toEqual({
      artifactType: 'zip',
      bundleId: '2.0.0',
      channelName: 'production',
      checksum: sha256(signedZip),
      signature: expect.stringMatching(/^[A-Za-z0-9+/]+=*$/),
      url: expect.stringMatching(/\/download\/[0-9a-f]{64}$/),
    });
    const synced = await device.sync();
    expect(synced?.zip?.equals(signedZip)).toBe(true);
    // Checksum alone, as a device without a public key checks it.
    await expect(new CapawesomeDevice(server, SIGNED).sync()).resolves.toMatchObject({ bundleId: '2.0.0' });
    // A wrong key fails the download, as on the device.
    const other = generateKeyPairSync('rsa', {
      modulusLength: 2048,
      publicKeyEncoding: { type: 'spki', format: 'pem' },
      privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    });
    await expect(new CapawesomeDevice(server, SIGNED, { publicKey: other.publicKey }).sync()).rejects.toThrow(
      'signature verification failed',
    );
  });

  it('answers 404 with {error, message} when the device is up to date, and for an unknown app', async () => {
    const device = new CapawesomeDevice(server, SIGNED);
    device.bundleId = '2.0.0';
    const answer = await device.fetchLatestBundle();
    expect(answer.status).toBe(404);
    expect(await answer.json()).toEqual({ error: 'no_new_version_available', message: expect.any(String) });
    expect(await device.sync()).toBeNull();
    const unknown = await new CapawesomeDevice(server, 'com.example.nothing').fetchLatestBundle();
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toMatchObject({ error: 'app_not_found' });
  });

  it('applies manifest updates file by file, ending with the full tree', async () => {
    const device = new CapawesomeDevice(server, APP);
    const first = await device.sync();
    expect(first).toEqual({ bundleId: '1.0.1', artifactType: 'manifest' });
    expect(without(device.tree, MANIFEST)).toEqual(new Map(Object.entries(release('one'))));
    expect(device.downloaded).toHaveLength(Object.keys(release('one')).length);

    await server.api('PUT', `/apps/${APP}/channels/production/bundle`, { version: '1.0.2' });
    await expect(device.sync()).resolves.toEqual({ bundleId: '1.0.2', artifactType: 'manifest' });
    expect(device.downloaded).toEqual(['js/main.js']);
    expect(without(device.tree, MANIFEST)).toEqual(new Map(Object.entries(release('two'))));
    expect(await device.sync()).toBeNull();

    // Only files of the bundle's own list are served.
    const base = `${server.url}/v1/apps/${APP}/bundles/1.0.2/files`;
    for (const href of ['../../etc/passwd', '/etc/passwd', 'js', 'nothing.js']) {
      const response = await fetch(`${base}?href=${encodeURIComponent(href)}`);
      expect(response.status).toBe(404);
    }
    // Plugins before manifests get the zip.
    const old = new CapawesomeDevice(server, APP, { pluginVersion: '6.5.0' });
    await expect(old.sync()).resolves.toMatchObject({ artifactType: 'zip', bundleId: '1.0.2' });
  });

  it('lists the channels a device may join, and serves the one it asks for', async () => {
    await server.api('POST', `/apps/${APP}/channels`, { name: 'beta', allow_self_assign: true });
    await server.api('POST', `/apps/${APP}/channels`, { name: 'internal' });
    await server.api('PUT', `/apps/${APP}/channels/beta/bundle`, { version: '1.0.1' });
    const response = await fetch(`${server.url}/v1/apps/${APP}/channels`);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual([
      { id: 'production', name: 'production' },
      { id: 'beta', name: 'beta' },
    ]);
    const filtered = await fetch(`${server.url}/v1/apps/${APP}/channels?limit=10&offset=0&query=BET`);
    expect(await filtered.json()).toEqual([{ id: 'beta', name: 'beta' }]);

    const device = new CapawesomeDevice(server, APP, { channel: 'beta' });
    device.bundleId = '1.0.2';
    await expect(device.sync()).resolves.toMatchObject({ bundleId: '1.0.1' });
    // A channel it may not join falls back to the default one.
    const outsider = new CapawesomeDevice(server, APP, { channel: 'internal' });
    outsider.bundleId = '1.0.2';
    expect(await outsider.sync()).toBeNull();
  });

  it('applies the channel rules: targeting by platform and a staged rollout', async () => {
    const patch = (changes: Record<string, unknown>) =>
      server.api('PATCH', `/apps/${SIGNED}/channels/production`, changes);
    expect((await patch({ platforms: ['ios'] })).status).toBe(200);
    expect((await new CapawesomeDevice(server, SIGNED, { platform: '0' }).fetchLatestBundle()).status).toBe(
      404,
    );
    expect((await new CapawesomeDevice(server, SIGNED, { platform: '1' }).fetchLatestBundle()).status).toBe(
      200,
    );
    await patch({ platforms: [] });

    const zip = await makeZip(release('rollout'));
    expect((await uploadBundle(server, SIGNED, zip, { version: '2.1.0' })).status).toBe(201);
    const rollout = await server.api('POST', `/apps/${SIGNED}/channels/production/rollout`, {
      version: '2.1.0',
      percent: 50,
    });
    expect(rollout.status).toBe(200);
    const seen = new Map<string, number>();
    for (let i = 0; i < 200; i++) {
      const device = new CapawesomeDevice(server, SIGNED, {
        deviceId: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
      });
      const answer = (await (await device.fetchLatestBundle()).json()) as { bundleId: string };
      seen.set(answer.bundleId, (seen.get(answer.bundleId) ?? 0) + 1);
    }
    expect(seen.get('2.1.0')).toBeGreaterThan(60);
    expect(seen.get('2.0.0')).toBeGreaterThan(60);
  });

  it('records the device as seen on its channel', async () => {
    const device = new CapawesomeDevice(server, APP, { deviceId: 'aaaaaaaa-0000-4000-8000-000000000001' });
    await device.fetchLatestBundle();
    await expect
      .poll(
        async () =>
          (await server.api('GET', `/apps/${APP}/devices/aaaaaaaa-0000-4000-8000-000000000001`)).body,
      )
      .toMatchObject({ platform: 'android', channel: 'production' });
  });
});

describe('the Capawesome plugin with private downloads', () => {
  let server: TestServer;
  const APP = 'com.example.capawesome.private';

  beforeAll(async () => {
    server = await startTestServer({ OVERAIR_PRIVATE_DOWNLOADS: 'true' });
    await server.api('POST', '/apps', { id: APP });
    await uploadBundle(server, APP, await makeZip(release('private')), { version: '1.0.1' });
    await server.api('PUT', `/apps/${APP}/channels/production/bundle`, { version: '1.0.1' });
  });
  afterAll(() => server.stop());

  it('signs the files link in its path, which survives iOS replacing the query, and refuses it unsigned', async () => {
    const device = new CapawesomeDevice(server, APP);
    const answer = (await (await device.fetchLatestBundle()).json()) as { url: string };
    expect(answer.url).toMatch(/\/bundles\/1\.0\.1\/files\/\d+\.[A-Za-z0-9_-]{43}$/);
    await expect(device.sync()).resolves.toEqual({ bundleId: '1.0.1', artifactType: 'manifest' });
    expect(without(device.tree, MANIFEST)).toEqual(new Map(Object.entries(release('private'))));
    const unsigned = await fetch(`${server.url}/v1/apps/${APP}/bundles/1.0.1/files?href=index.html`);
    expect(unsigned.status).toBe(403);
    const altered = await fetch(answer.url.replace(/\/files\/(\d+)\./, '/files/9$1.') + '?href=index.html');
    expect(altered.status).toBe(403);
  });
});
