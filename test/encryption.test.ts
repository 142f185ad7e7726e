import { generateKeyPairSync } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli, makeProject } from './helpers/cli.js';
import { pluginDecryptAndVerify } from './helpers/plugin-crypto.js';
import { ADMIN_TOKEN, VECTORS, deviceInfo, startTestServer, type TestServer } from './helpers/server.js';

const APP = 'com.example.secure';

const vectorPublicKey = async () =>
  (await fs.readFile(path.join(VECTORS, 'public_key.pem'), 'utf8')).toString();
/** The key id the plugin sends: the first 20 characters of the public key's base64 body. */
const keyIdOfPem = (pem: string) =>
  pem
    .replace(/-----[^-]+-----/g, '')
    .replace(/\s+/g, '')
    .slice(0, 20);

const otherPublicKey = () =>
  generateKeyPairSync('rsa', { modulusLength: 2048 })
    .publicKey.export({ type: 'pkcs1', format: 'pem' })
    .toString();

describe('encrypted and signed bundles, compatible with the Capgo CLI and plugin', () => {
  let server: TestServer;
  let project: string;
  let env: Record<string, string>;
  const run = (...args: string[]) => cli(args, { cwd: project, env });

  /** Checks as a device with the given public key would, and downloads what it is told to. */
  async function fetchAsDevice(channel: string, keyId: string) {
    const answer = await server.device(
      'POST',
      '/updates',
      deviceInfo({ app_id: APP, defaultChannel: channel, version_name: '0.0.1', key_id: keyId }),
    );
    expect(answer.status).toBe(200);
    const download = await fetch(answer.body.url);
    expect(download.status).toBe(200);
    return { answer: answer.body, bytes: Buffer.from(await download.arrayBuffer()) };
  }

  const projectKeyId = async () =>
    keyIdOfPem(await fs.readFile(path.join(project, '.capgo_key_v2.pub'), 'utf8'));

  beforeAll(async () => {
    server = await startTestServer();
    project = await makeProject({ appId: APP, version: '2.0.0' });
    env = { OVERAIR_SERVER: server.url, OVERAIR_TOKEN: ADMIN_TOKEN };
    expect((await run('app', 'create')).code).toBe(0);
  });
  afterAll(async () => {
    await server.stop();
    await fs.rm(project, { recursive: true, force: true });
  });

  it('serves a bundle encrypted by the real Capgo CLI so that the plugin decrypts and verifies it', async () => {
    const enc = JSON.parse(await fs.readFile(path.join(VECTORS, 'encrypt-output.json'), 'utf8'));
    const up = await run(
      'bundle',
      'upload',
      '--zip',
      path.join(VECTORS, 'bundle.encrypted.zip'),
      '--bundle',
      '1.0.0',
      '--iv-session-key',
      enc.ivSessionKey,
      '--checksum',
      enc.checksum,
      '--key-id',
      'MIIBCgKCAQEA+EgVlAr0',
      '--json',
    );
    expect(up.code).toBe(0);
    await run('channel', 'create', 'capgo', '--self-assign');
    await run('channel', 'set', 'capgo', '1.0.0');
    const { answer, bytes } = await fetchAsDevice('capgo', 'MIIBCgKCAQEA+EgVlAr0');
    expect(answer).toMatchObject({ version: '1.0.0', checksum: enc.checksum, session_key: enc.ivSessionKey });
    const plain = pluginDecryptAndVerify(bytes, answer, await vectorPublicKey());
    expect(plain.equals(await fs.readFile(path.join(VECTORS, 'bundle.zip')))).toBe(true);
  });

  it('creates keys in the Capgo CLI formats, refusing to overwrite them without --force', async () => {
    const created = await run('keys', 'create', '--write-config', '--json');
    expect(created.code).toBe(0);
    const privatePem = await fs.readFile(path.join(project, '.capgo_key_v2'), 'utf8');
    const publicPem = await fs.readFile(path.join(project, '.capgo_key_v2.pub'), 'utf8');
    expect(privatePem).toMatch(/^-----BEGIN RSA PRIVATE KEY-----/);
    expect(publicPem).toMatch(/^-----BEGIN RSA PUBLIC KEY-----/);
    expect((await fs.stat(path.join(project, '.capgo_key_v2'))).mode & 0o777).toBe(0o600);
    expect(created.json.key_id).toMatch(/^MIIBCgKCAQEA/);
    const config = JSON.parse(await fs.readFile(path.join(project, 'capacitor.config.json'), 'utf8'));
    expect(config.plugins.CapacitorUpdater.publicKey).toBe(publicPem);
    const again = await run('keys', 'create');
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('--force');
    expect(await fs.readFile(path.join(project, '.capgo_key_v2'), 'utf8')).toBe(privatePem);
  });

  it('encrypts on upload with the local private key; the plugin decrypts and verifies it with the public key only', async () => {
    const up = await run('bundle', 'upload', '--encrypt', '--channel', 'production', '--json');
    expect(up.code).toBe(0);
    expect(up.json).toMatchObject({ encrypted: true, key_id: expect.stringMatching(/^MIIBCgKCAQEA/) });
    const { answer, bytes } = await fetchAsDevice('', await projectKeyId());
    const publicPem = await fs.readFile(path.join(project, '.capgo_key_v2.pub'), 'utf8');
    const plain = pluginDecryptAndVerify(bytes, answer, publicPem);
    expect(plain.subarray(0, 2).toString()).toBe('PK'); // a zip
  });

  it('fails the plugin checks for a tampered byte, another key, or a wrong checksum', async () => {
    const { answer, bytes } = await fetchAsDevice('', await projectKeyId());
    const publicPem = await fs.readFile(path.join(project, '.capgo_key_v2.pub'), 'utf8');
    const tampered = Buffer.from(bytes);
    tampered[Math.floor(tampered.length / 2)]! ^= 0x01;
    expect(() => pluginDecryptAndVerify(tampered, answer, publicPem)).toThrow();
    expect(() => pluginDecryptAndVerify(bytes, answer, otherPublicKey())).toThrow();
    const vector = JSON.parse(await fs.readFile(path.join(VECTORS, 'encrypt-output.json'), 'utf8'));
    expect(() =>
      pluginDecryptAndVerify(bytes, { ...answer, checksum: vector.checksum }, publicPem),
    ).toThrow();
  });

  it('serves encrypted bundles only to devices holding the matching public key', async () => {
    const check = (extra: Record<string, unknown>) =>
      server.device('POST', '/updates', deviceInfo({ app_id: APP, version_name: '0.0.1', ...extra }));
    const noKey = await check({});
    expect(noKey.body).toMatchObject({ error: 'key_id_mismatch', kind: 'blocked' });
    expect(noKey.body).not.toHaveProperty('url');
    const otherKey = await check({ key_id: 'MIIBCgKCAQEAzzzzzzzz' });
    expect(otherKey.body).toMatchObject({ error: 'key_id_mismatch', kind: 'blocked' });
    // Plugins 8.0 to 8.40.7 send only the first 4 characters.
    expect((await check({ key_id: (await projectKeyId()).slice(0, 4) })).body).toHaveProperty('session_key');
    // A device with a key is not sent a plain bundle it would refuse (session_key_required).
    expect(
      (await run('bundle', 'upload', '--zip', path.join(VECTORS, 'bundle.zip'), '--bundle', '9.0.0')).code,
    ).toBe(0);
    expect((await run('channel', 'create', 'plain', '--self-assign')).code).toBe(0);
    expect((await run('channel', 'set', 'plain', '9.0.0')).code).toBe(0);
    const plain = await check({ defaultChannel: 'plain', key_id: await projectKeyId() });
    expect(plain.body).toMatchObject({ error: 'key_id_mismatch', kind: 'blocked' });
    expect((await check({ defaultChannel: 'plain' })).body.version).toBe('9.0.0');
  });

  it('encrypts and decrypts in the same format as the Capgo CLI, both ways', async () => {
    // Overair decrypts what the Capgo CLI encrypted...
    const work = await fs.mkdtemp(path.join(project, 'work-'));
    const vector = JSON.parse(await fs.readFile(path.join(VECTORS, 'encrypt-output.json'), 'utf8'));
    await fs.copyFile(path.join(VECTORS, 'bundle.encrypted.zip'), path.join(work, 'v.zip_encrypted.zip'));
    const decrypted = await cli(
      [
        'bundle',
        'decrypt',
        path.join(work, 'v.zip_encrypted.zip'),
        vector.ivSessionKey,
        '--key',
        path.join(VECTORS, 'public_key.pem'),
        '--checksum',
        vector.checksum,
        '--json',
      ],
      { cwd: project },
    );
    expect(decrypted.code).toBe(0);
    expect(
      (await fs.readFile(decrypted.json.filename)).equals(
        await fs.readFile(path.join(VECTORS, 'bundle.zip')),
      ),
    ).toBe(true);
    // ...and encrypts in the Capgo CLI's output format, with the vectors' key.
    const zipOutput = JSON.parse(await fs.readFile(path.join(VECTORS, 'zip-output.json'), 'utf8'));
    await fs.copyFile(path.join(VECTORS, 'bundle.zip'), path.join(work, 'b.zip'));
    const encrypted = await cli(
      [
        'bundle',
        'encrypt',
        path.join(work, 'b.zip'),
        zipOutput.checksum,
        '--key',
        path.join(VECTORS, 'private_key.pem'),
        '--json',
      ],
      { cwd: project },
    );
    expect(encrypted.code).toBe(0);
    expect(Object.keys(encrypted.json).sort()).toEqual(['checksum', 'filename', 'ivSessionKey']);
    expect(encrypted.json.checksum).toMatch(/^[0-9a-f]{512}$/);
    expect(encrypted.json.filename).toBe(path.join(work, 'b.zip_encrypted.zip'));
    const plain = pluginDecryptAndVerify(
      await fs.readFile(encrypted.json.filename),
      { session_key: encrypted.json.ivSessionKey, checksum: encrypted.json.checksum },
      await vectorPublicKey(),
    );
    expect(plain.equals(await fs.readFile(path.join(VECTORS, 'bundle.zip')))).toBe(true);
    // A wrong checksum is refused before anything is written.
    const wrong = await cli(
      [
        'bundle',
        'encrypt',
        path.join(work, 'b.zip'),
        'a'.repeat(64),
        '--key',
        path.join(VECTORS, 'private_key.pem'),
      ],
      { cwd: project },
    );
    expect(wrong.stderr).toContain('checksum mismatch');
    const badKey = await cli(
      [
        'bundle',
        'decrypt',
        path.join(work, 'v.zip_encrypted.zip'),
        vector.ivSessionKey,
        '--key-data',
        otherPublicKey(),
      ],
      { cwd: project },
    );
    expect(badKey.code).toBe(1);
    expect(badKey.stderr).toMatch(
      /^overair: the session key was not encrypted with the private key of this public key/,
    );
  });

  it('signs the uploaded bytes, stores the signature, and verifies it', async () => {
    const signer = path.join(project, 'signing.pem');
    const pair = generateKeyPairSync('rsa', { modulusLength: 2048 });
    await fs.writeFile(signer, pair.privateKey.export({ type: 'pkcs1', format: 'pem' }));
    const publicFile = path.join(project, 'signing.pub');
    await fs.writeFile(publicFile, pair.publicKey.export({ type: 'spki', format: 'pem' }));
    const up = await run(
      'bundle',
      'upload',
      '--zip',
      path.join(VECTORS, 'bundle.zip'),
      '--bundle',
      '3.0.0',
      '--private-key',
      signer,
      '--json',
    );
    expect(up.code).toBe(0);
    expect(up.json.signature).toMatch(/^[A-Za-z0-9+/]+=*$/);
    expect((await run('bundle', 'info', '3.0.0', '--json')).json.signature).toBe(up.json.signature);

    const zip = path.join(VECTORS, 'bundle.zip');
    expect((await run('bundle', 'verify', zip, '--public-key', publicFile, '--bundle', '3.0.0')).code).toBe(
      0,
    );
    const other = path.join(project, 'other.pub');
    await fs.writeFile(other, otherPublicKey());
    const wrongKey = await run('bundle', 'verify', zip, '--public-key', other, '--bundle', '3.0.0');
    expect(wrongKey.code).toBe(1);
    expect(wrongKey.stdout).toContain('INVALID');
    const tamperedFile = path.join(project, 'tampered.zip');
    const bytes = await fs.readFile(zip);
    bytes[100]! ^= 0xff;
    await fs.writeFile(tamperedFile, bytes);
    expect(
      (
        await run(
          'bundle',
          'verify',
          tamperedFile,
          '--public-key',
          publicFile,
          '--signature',
          up.json.signature,
        )
      ).code,
    ).toBe(1);
  });
});
