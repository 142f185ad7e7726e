/**
 * Release safety (issue #17), through the real server and the real CLI: apps that require signed or
 * encrypted bundles refuse the others and store nothing, `doctor` compares the project's publicKey
 * with the app's settings, the code check knows both updater plugins, delta files are typed as bytes,
 * and a bundle's notes and minimum native version can be corrected after its upload.
 */
import { createVerify, generateKeyPairSync } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli, makeProject } from './helpers/cli.js';
import { pluginDecryptAndVerify } from './helpers/plugin-crypto.js';
import { storedBlobs } from './helpers/stored.js';
import {
  ADMIN_TOKEN,
  VECTORS,
  deviceInfo,
  startTestServer,
  uploadBundle,
  type TestServer,
} from './helpers/server.js';
import { makeZip } from './helpers/zips.js';

const SIGNED_APP = 'com.example.signed';
const SEALED_APP = 'com.example.sealed';
const PLAIN_APP = 'com.example.plain';

/** A 2048-bit RSA pair as files: the private key PKCS#1, the public key SPKI (Capawesome's format). */
async function signingKeys(dir: string, name: string) {
  const pair = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const privateFile = path.join(dir, `${name}.pem`);
  const publicFile = path.join(dir, `${name}.pub`);
  await fs.writeFile(privateFile, pair.privateKey.export({ type: 'pkcs1', format: 'pem' }));
  await fs.writeFile(publicFile, pair.publicKey.export({ type: 'spki', format: 'pem' }));
  return { privateFile, publicFile, publicPem: await fs.readFile(publicFile, 'utf8') };
}

/** Adds dependencies to a project's package.json (makeProject writes none). */
async function withDependencies(project: string, dependencies: Record<string, string>) {
  const file = path.join(project, 'package.json');
  const pkg = JSON.parse(await fs.readFile(file, 'utf8'));
  await fs.writeFile(file, JSON.stringify({ ...pkg, dependencies }));
}

describe('release safety', () => {
  let server: TestServer;
  let project: string;
  let env: Record<string, string>;
  const run = (...args: string[]) => cli(args, { cwd: project, env });
  const runIn = (cwd: string, ...args: string[]) => cli(args, { cwd, env });
  const projects: string[] = [];

  /** The latest-bundle check of a Capawesome device on the builtin bundle. */
  const capawesomeCheck = async (appId: string) => {
    const query = new URLSearchParams({
      appVersionCode: '10',
      appVersionName: '0.1.0',
      deviceId: '0b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9',
      platform: '0',
      pluginVersion: '8.4.3',
    });
    const response = await fetch(`${server.url}/v1/apps/${appId}/bundles/latest?${query}`);
    return { status: response.status, body: await response.json() };
  };
  const bundleVersions = async (appId: string) =>
    ((await server.api('GET', `/apps/${appId}/bundles`)).body.items as { version: string }[]).map(
      (b) => b.version,
    );

  beforeAll(async () => {
    server = await startTestServer();
    env = { OVERAIR_SERVER: server.url, OVERAIR_TOKEN: ADMIN_TOKEN };
    project = await makeProject({ appId: SIGNED_APP, version: '1.0.0' });
    projects.push(project);
    for (const app of [SIGNED_APP, SEALED_APP, PLAIN_APP])
      expect((await run('app', 'create', app)).code).toBe(0);
  });
  afterAll(async () => {
    await server.stop();
    for (const dir of projects) await fs.rm(dir, { recursive: true, force: true });
  });

  describe('an app that requires signed bundles', () => {
    let keys: Awaited<ReturnType<typeof signingKeys>>;
    let other: Awaited<ReturnType<typeof signingKeys>>;

    beforeAll(async () => {
      keys = await signingKeys(project, 'signing');
      other = await signingKeys(project, 'other');
    });

    it('needs its signing key, which must be a public RSA key and is never sent as a private one', async () => {
      const noKey = await run('app', 'update', '--require-signature');
      expect(noKey.code).toBe(1);
      expect(noKey.stderr).toContain('[public_key_required]');
      const privateKey = await run('app', 'update', '--signing-public-key', keys.privateFile);
      expect(privateKey.code).toBe(1);
      expect(privateKey.stderr).toContain('is a private key');
      const notAKey = await server.api('PATCH', `/apps/${SIGNED_APP}`, { signing_public_key: 'hello' });
      expect(notAKey.status).toBe(400);
      expect(notAKey.body).toMatchObject({ error: 'invalid_public_key' });
      expect((await server.api('PATCH', `/apps/${SIGNED_APP}`, {})).status).toBe(400);
      expect((await server.api('GET', `/apps/${SIGNED_APP}`)).body).toMatchObject({
        require_signature: false,
        signing_public_key: null,
      });
    });

    it('refuses to turn the requirement on while a channel serves an unsigned bundle', async () => {
      expect((await run('bundle', 'upload', '--bundle', '0.9.0', '--channel', 'production')).code).toBe(0);
      const on = await run('app', 'update', '--signing-public-key', keys.publicFile, '--require-signature');
      expect(on.code).toBe(1);
      expect(on.stderr).toContain('[live_bundles_not_compliant]');
      expect(on.stderr).toContain('production: 0.9.0 (live; no signature)');
      // Nothing changed, the key included.
      expect((await server.api('GET', `/apps/${SIGNED_APP}`)).body).toMatchObject({
        require_signature: false,
        signing_public_key: null,
      });
      // A signed bundle made live first, and the requirement goes on; the unsigned one is named.
      const signed = await run('bundle', 'upload', '--bundle', '1.0.0', '--private-key', keys.privateFile);
      expect(signed.code).toBe(0);
      expect((await run('channel', 'set', 'production', '1.0.0')).code).toBe(0);
      const ok = await run(
        'app',
        'update',
        '--signing-public-key',
        keys.publicFile,
        '--require-signature',
        '--json',
      );
      expect(ok.code).toBe(0);
      expect(ok.json).toMatchObject({
        require_signature: true,
        signing_public_key: keys.publicPem,
        noncompliant_bundles: [{ version: '0.9.0', problems: ['no signature'] }],
      });
      const audit = await server.api('GET', `/audit?app=${SIGNED_APP}`);
      const entry = audit.body.items.find((row: { action: string }) => row.action === 'app.update');
      expect(entry.detail).toMatchObject({
        require_signature: 1,
        signing_public_key: { key_id: expect.any(String) },
      });
    });

    it('never makes an unsigned bundle live, and never sends one to a Capawesome device', async () => {
      const set = await run('channel', 'set', 'production', '0.9.0');
      expect(set.code).toBe(1);
      expect(set.stderr).toContain('[bundle_not_compliant]');
      const rollout = await server.api('POST', `/apps/${SIGNED_APP}/channels/production/rollout`, {
        version: '0.9.0',
        percent: 10,
      });
      expect(rollout.status).toBe(409);
      expect(rollout.body.error).toBe('bundle_not_compliant');
      // A rollback may restore an older, unsigned bundle (it restores what was served)...
      expect((await run('channel', 'rollback', 'production')).code).toBe(0);
      expect((await run('channel', 'info', 'production', '--json')).json.version).toBe('0.9.0');
      // ...but a Capawesome device, which would refuse it, is never sent it; Capgo devices verify none.
      const check = await capawesomeCheck(SIGNED_APP);
      expect(check).toMatchObject({ status: 404, body: { error: 'unsigned_bundle' } });
      const capgo = await server.device('POST', '/updates', deviceInfo({ app_id: SIGNED_APP }));
      expect(capgo.body.version).toBe('0.9.0');
      expect((await run('channel', 'set', 'production', '1.0.0')).code).toBe(0);
      expect((await capawesomeCheck(SIGNED_APP)).body.bundleId).toBe('1.0.0');
    });

    it('refuses unsigned and wrongly signed uploads and registrations, and stores nothing', async () => {
      const before = await storedBlobs(server);
      const unsigned = await run('bundle', 'upload', '--bundle', '1.1.0');
      expect(unsigned.code).toBe(1);
      expect(unsigned.stderr).toContain('[signature_required]');
      const wrong = await run('bundle', 'upload', '--bundle', '1.1.0', '--private-key', other.privateFile);
      expect(wrong.code).toBe(1);
      expect(wrong.stderr).toContain('[invalid_signature]');
      // A signature of other bytes, straight through the API.
      const zip = await makeZip({ 'index.html': '<html>', 'app.js': 'notifyAppReady()' });
      const good = (await run('bundle', 'info', '1.0.0', '--json')).json.signature;
      const forged = await uploadBundle(server, SIGNED_APP, zip, { version: '1.1.0', signature: good });
      expect(forged.status).toBe(400);
      expect(forged.body).toMatchObject({ error: 'invalid_signature' });
      const external = await server.api('POST', `/apps/${SIGNED_APP}/bundles`, {
        version: '1.1.0',
        url: 'https://cdn.example.com/app.zip',
        sha256: 'a'.repeat(64),
      });
      expect(external.status).toBe(400);
      expect(external.body).toMatchObject({ error: 'signature_required' });
      expect(await storedBlobs(server)).toEqual(before);
      expect(await bundleVersions(SIGNED_APP)).toEqual(['1.0.0', '0.9.0']);
    });

    it('accepts a properly signed upload, which a Capawesome device with the key verifies', async () => {
      const up = await run(
        'bundle',
        'upload',
        '--bundle',
        '1.2.0',
        '--private-key',
        keys.privateFile,
        '--channel',
        'production',
        '--json',
      );
      expect(up.code).toBe(0);
      const check = await capawesomeCheck(SIGNED_APP);
      expect(check.status).toBe(200);
      expect(check.body).toMatchObject({
        bundleId: '1.2.0',
        artifactType: 'zip',
        signature: up.json.signature,
      });
      const bytes = Buffer.from(await (await fetch(check.body.url)).arrayBuffer());
      expect(
        createVerify('sha256').update(bytes).verify(keys.publicPem, check.body.signature, 'base64'),
      ).toBe(true);
    });

    it('turns the requirement off again', async () => {
      const off = await run('app', 'update', '--no-require-signature', '--json');
      expect(off.code).toBe(0);
      expect(off.json).toMatchObject({ require_signature: false, noncompliant_bundles: [] });
      expect((await run('bundle', 'upload', '--bundle', '1.3.0')).code).toBe(0);
      expect((await run('app', 'update', '--require-signature', '--json')).json.noncompliant_bundles).toEqual(
        [
          { version: '1.3.0', problems: ['no signature'] },
          { version: '0.9.0', problems: ['no signature'] },
        ],
      );
    });
  });

  describe('an app that requires encrypted bundles', () => {
    let sealed: string;
    let keyId: string;

    beforeAll(async () => {
      sealed = await makeProject({ appId: SEALED_APP, version: '1.0.0' });
      projects.push(sealed);
      const keys = await runIn(sealed, 'keys', 'create', '--write-config', '--json');
      expect(keys.code).toBe(0);
      keyId = keys.json.key_id;
    });

    it('refuses plain bundles, and bundles encrypted for another key, and stores nothing', async () => {
      const on = await runIn(
        sealed,
        'app',
        'update',
        '--encryption-public-key',
        '.capgo_key_v2.pub',
        '--require-encryption',
        '--json',
      );
      expect(on.code).toBe(0);
      expect(on.json).toMatchObject({ require_encryption: true, encryption_key_id: keyId });
      const before = await storedBlobs(server);
      const plain = await runIn(sealed, 'bundle', 'upload', '--bundle', '1.0.0');
      expect(plain.code).toBe(1);
      expect(plain.stderr).toContain('[encryption_required]');
      // Encrypted by the real Capgo CLI, for the key of the test vectors.
      const vector = JSON.parse(await fs.readFile(path.join(VECTORS, 'encrypt-output.json'), 'utf8'));
      const encryptedZip = path.join(VECTORS, 'bundle.encrypted.zip');
      const args = ['bundle', 'upload', '--zip', encryptedZip, '--bundle', '1.0.0'];
      const sealing = ['--iv-session-key', vector.ivSessionKey, '--checksum', vector.checksum];
      const otherKey = await runIn(sealed, ...args, ...sealing, '--key-id', 'MIIBCgKCAQEA+EgVlAr0');
      expect(otherKey.code).toBe(1);
      expect(otherKey.stderr).toContain('[encryption_key_mismatch]');
      expect(otherKey.stderr).toContain(`its key_id is MIIBCgKCAQEA+EgVlAr0, not ${keyId}`);
      // The right key id claimed, but the session key was sealed by another private key.
      const claimed = await runIn(sealed, ...args, ...sealing, '--key-id', keyId);
      expect(claimed.code).toBe(1);
      expect(claimed.stderr).toContain('[encryption_key_mismatch]');
      expect(claimed.stderr).toContain('not encrypted with the private key of this public key');
      expect(await storedBlobs(server)).toEqual(before);
      expect(await bundleVersions(SEALED_APP)).toEqual([]);
    });

    it('accepts a bundle encrypted for its key, which a device holding it decrypts', async () => {
      const up = await runIn(
        sealed,
        'bundle',
        'upload',
        '--bundle',
        '1.0.0',
        '--encrypt',
        '--channel',
        'production',
      );
      expect(up.code).toBe(0);
      const answer = await server.device(
        'POST',
        '/updates',
        deviceInfo({ app_id: SEALED_APP, version_name: '0.0.1', key_id: keyId }),
      );
      expect(answer.body).toMatchObject({ version: '1.0.0', session_key: expect.any(String) });
      const bytes = Buffer.from(await (await fetch(answer.body.url)).arrayBuffer());
      const publicPem = await fs.readFile(path.join(sealed, '.capgo_key_v2.pub'), 'utf8');
      expect(pluginDecryptAndVerify(bytes, answer.body, publicPem).subarray(0, 2).toString()).toBe('PK');
    });
  });

  describe('doctor', () => {
    const findings = async (cwd: string) => {
      const result = await runIn(cwd, 'doctor', '--json');
      return new Map<string, { level: string; detail: string }>(
        (result.json.findings as { check: string; level: string; detail: string }[]).map((f) => [f.check, f]),
      );
    };

    it("compares CapacitorUpdater.publicKey with the app's encryption key and requirement", async () => {
      const cwd = await makeProject({ appId: SEALED_APP, updater: {} });
      projects.push(cwd);
      // No key in the config: devices could not decrypt what the app requires.
      let found = await findings(cwd);
      expect(found.get('encryption key')).toMatchObject({ level: 'fail' });
      expect(found.get('encryption key')!.detail).toContain('CapacitorUpdater.publicKey is not set');
      // Another key.
      expect((await runIn(cwd, 'keys', 'create', '--write-config')).code).toBe(0);
      found = await findings(cwd);
      expect(found.get('encryption key')).toMatchObject({ level: 'fail' });
      expect(found.get('encryption key')!.detail).toContain("is not the app's encryption key on the server");
      // The app's own key.
      const registered = (await server.api('GET', `/apps/${SEALED_APP}`)).body.encryption_public_key;
      const config = JSON.parse(await fs.readFile(path.join(cwd, 'capacitor.config.json'), 'utf8'));
      config.plugins.CapacitorUpdater.publicKey = registered;
      await fs.writeFile(path.join(cwd, 'capacitor.config.json'), JSON.stringify(config));
      found = await findings(cwd);
      expect(found.get('encryption key')).toMatchObject({ level: 'ok' });
      expect(found.get('encryption')).toMatchObject({ level: 'ok' });
    });

    it('says what is missing when the project has a key the server does not require', async () => {
      const cwd = await makeProject({ appId: PLAIN_APP });
      projects.push(cwd);
      expect((await runIn(cwd, 'keys', 'create', '--write-config')).code).toBe(0);
      const found = await findings(cwd);
      expect(found.get('encryption key')).toMatchObject({ level: 'warn' });
      expect(found.get('encryption key')!.detail).toContain(
        '--encryption-public-key .capgo_key_v2.pub --require-encryption',
      );
    });

    it("compares a Capawesome project's LiveUpdate.publicKey with the app's signing key", async () => {
      const cwd = await makeProject({ appId: SIGNED_APP });
      projects.push(cwd);
      await withDependencies(cwd, { '@capawesome/capacitor-live-update': '^8.4.3' });
      const app = (await server.api('GET', `/apps/${SIGNED_APP}`)).body;
      const configure = async (publicKey: string) =>
        fs.writeFile(
          path.join(cwd, 'capacitor.config.json'),
          JSON.stringify({
            appId: SIGNED_APP,
            webDir: 'dist',
            plugins: { LiveUpdate: { appId: SIGNED_APP, serverDomain: new URL(server.url).host, publicKey } },
          }),
        );
      await configure(app.signing_public_key);
      let found = await findings(cwd);
      expect(found.get('serverDomain')).toMatchObject({ level: 'ok' });
      expect(found.has('updateUrl')).toBe(false); // Capgo's settings are not asked of a Capawesome app
      expect(found.get('signing key')).toMatchObject({ level: 'ok' });
      expect(found.get('signature')).toMatchObject({ level: 'ok' });
      const other = await signingKeys(cwd, 'other');
      await configure(other.publicPem);
      found = await findings(cwd);
      expect(found.get('signing key')).toMatchObject({ level: 'fail' });
      expect(found.get('signature')).toMatchObject({ level: 'fail' });
      expect(found.get('signature')!.detail).toContain('does not verify with plugins.LiveUpdate.publicKey');
      const result = await runIn(cwd, 'doctor');
      expect(result.code).toBe(1);
      expect(result.stdout).toContain('FAIL  signing key: plugins.LiveUpdate.publicKey');
    });
  });

  describe('the code check', () => {
    const project = async (dependencies: Record<string, string>, files: Record<string, string>) => {
      const dir = await makeProject({ appId: PLAIN_APP, files: { 'index.html': '<html></html>', ...files } });
      projects.push(dir);
      await withDependencies(dir, dependencies);
      return dir;
    };
    const CAPAWESOME = { '@capawesome/capacitor-live-update': '^8.4.3' };
    const CAPGO = { '@capgo/capacitor-updater': '^8.51.23' };

    it('passes a Capawesome project that calls LiveUpdate.ready(), as written or minified', async () => {
      const plain = await project(CAPAWESOME, {
        'main.js':
          "import { LiveUpdate } from '@capawesome/capacitor-live-update';\nawait LiveUpdate.ready();",
      });
      expect((await runIn(plain, 'bundle', 'zip')).code).toBe(0);
      const minified = await project(CAPAWESOME, {
        'assets/vendor.js': 'const r=registerPlugin("LiveUpdate",{});export{r as L};',
        'assets/index.js': 'import{L as e}from"./vendor.js";e.ready().then(()=>start());',
      });
      expect((await runIn(minified, 'bundle', 'zip')).code).toBe(0);
      // Uploads without --no-code-check.
      expect((await runIn(plain, 'bundle', 'upload', '--bundle', '5.0.0')).code).toBe(0);
    });

    it("looks for the installed plugin's call, and says which", async () => {
      const capawesome = await project(CAPAWESOME, { 'main.js': 'CapacitorUpdater.notifyAppReady()' });
      const refused = await runIn(capawesome, 'bundle', 'zip');
      expect(refused.code).toBe(1);
      expect(refused.stderr).toContain(
        "no script calls LiveUpdate.ready(), and package.json's updater plugin is @capawesome/capacitor-live-update",
      );
      const capgo = await project(CAPGO, { 'main.js': 'await LiveUpdate.ready()' });
      expect((await runIn(capgo, 'bundle', 'zip')).stderr).toContain('no script calls notifyAppReady()');
    });

    it('with neither or both plugins installed, accepts either call and names both', async () => {
      const neither = await project({}, { 'main.js': 'console.log(1)' });
      const result = await runIn(neither, 'bundle', 'zip');
      expect(result.code).toBe(1);
      expect(result.stderr).toContain(
        'no script calls notifyAppReady() (@capgo/capacitor-updater) or LiveUpdate.ready() (@capawesome/capacitor-live-update); package.json lists neither updater plugin',
      );
      const both = await project({ ...CAPGO, ...CAPAWESOME }, { 'main.js': 'console.log(1)' });
      expect((await runIn(both, 'bundle', 'zip')).stderr).toContain(
        'package.json lists both updater plugins',
      );
      const bothReady = await project({ ...CAPGO, ...CAPAWESOME }, { 'main.js': 'LiveUpdate.ready()' });
      expect((await runIn(bothReady, 'bundle', 'zip')).code).toBe(0);
    });
  });

  it('serves delta files as application/octet-stream and bundle zips as application/zip', async () => {
    const zip = await makeZip({ 'index.html': '<html>delta</html>', 'app.js': 'notifyAppReady()' });
    expect((await uploadBundle(server, PLAIN_APP, zip, { version: '7.0.0' })).status).toBe(201);
    expect(
      (await server.api('PUT', `/apps/${PLAIN_APP}/channels/production/bundle`, { version: '7.0.0' })).status,
    ).toBe(200);
    const answer = await server.device('POST', '/updates', deviceInfo({ app_id: PLAIN_APP }));
    expect(answer.body.manifest.length).toBe(2);
    for (const entry of answer.body.manifest) {
      const file = await fetch(entry.download_url);
      expect(file.status).toBe(200);
      expect(file.headers.get('content-type')).toBe('application/octet-stream');
      await file.arrayBuffer();
    }
    const whole = await fetch(answer.body.url);
    expect(whole.headers.get('content-type')).toBe('application/zip');
    expect(Buffer.from(await whole.arrayBuffer()).equals(zip)).toBe(true);
  });

  describe('correcting a bundle after its upload', () => {
    const check = (versionBuild: string) =>
      server.device(
        'POST',
        '/updates',
        deviceInfo({ app_id: PLAIN_APP, version_name: '0.0.1', version_build: versionBuild }),
      );

    it('changes notes and minimum native version, audited, noted in the history, answered at once', async () => {
      expect((await check('1.0.0')).body).toMatchObject({ version: '7.0.0' });
      const cwd = await makeProject({ appId: PLAIN_APP });
      projects.push(cwd);
      const updated = await runIn(
        cwd,
        'bundle',
        'update',
        '7.0.0',
        '--comment',
        'Fixes the login screen',
        '--min-native',
        '2.0.0',
        '--json',
      );
      expect(updated.code).toBe(0);
      expect(updated.json).toMatchObject({ notes: 'Fixes the login screen', min_native_version: '2.0.0' });
      expect((await check('1.0.0')).body).toMatchObject({ error: 'native_version_too_old', kind: 'blocked' });
      expect((await check('2.0.0')).body).toMatchObject({
        version: '7.0.0',
        comment: 'Fixes the login screen',
      });

      const history = await server.api('GET', `/apps/${PLAIN_APP}/channels/production/history`);
      expect(history.body.items[0]).toMatchObject({
        action: 'bundle_edited',
        version: '7.0.0',
        reason: 'notes changed; minimum native version none → 2.0.0',
        actor: 'token:OVERAIR_ADMIN_TOKEN',
      });
      const audit = await server.api('GET', `/audit?app=${PLAIN_APP}`);
      expect(
        audit.body.items.find((row: { action: string }) => row.action === 'bundle.update'),
      ).toMatchObject({
        target: '7.0.0',
        detail: {
          notes: { from: null, to: 'Fixes the login screen' },
          min_native_version: { from: null, to: '2.0.0' },
        },
      });

      const cleared = await runIn(
        cwd,
        'bundle',
        'update',
        '7.0.0',
        '--no-min-native',
        '--no-comment',
        '--json',
      );
      expect(cleared.json).toMatchObject({ notes: null, min_native_version: null });
      const answer = (await check('1.0.0')).body;
      expect(answer.version).toBe('7.0.0');
      expect(answer).not.toHaveProperty('comment');
      // The same values again: nothing to record.
      const entries = (await server.api('GET', `/apps/${PLAIN_APP}/channels/production/history`)).body.items
        .length;
      expect((await runIn(cwd, 'bundle', 'update', '7.0.0', '--no-comment')).code).toBe(0);
      expect(
        (await server.api('GET', `/apps/${PLAIN_APP}/channels/production/history`)).body.items.length,
      ).toBe(entries);
    });

    it('notes a correction in the history without making it a release to roll back to', async () => {
      const zip = await makeZip({ 'index.html': '<html>7.1</html>', 'app.js': 'notifyAppReady()' });
      expect((await uploadBundle(server, PLAIN_APP, zip, { version: '7.1.0' })).status).toBe(201);
      const channel = `/apps/${PLAIN_APP}/channels/beta`;
      expect(
        (await server.api('POST', `/apps/${PLAIN_APP}/channels`, { name: 'beta', version: '5.0.0' })).status,
      ).toBe(201);
      expect((await server.api('POST', `${channel}/rollout`, { version: '7.0.0', percent: 10 })).status).toBe(
        200,
      );
      // 7.0.0 is rolling out on beta (and live on production): both histories note the correction.
      expect((await server.api('PATCH', `/apps/${PLAIN_APP}/bundles/7.0.0`, { notes: 'again' })).status).toBe(
        200,
      );
      expect((await server.api('GET', `${channel}/history`)).body.items[0]).toMatchObject({
        action: 'bundle_edited',
        version: '7.0.0',
        reason: 'notes changed',
      });
      expect((await server.api('PUT', `${channel}/bundle`, { version: '7.1.0' })).status).toBe(200);
      // The bundle live before 7.1.0 was 5.0.0; 7.0.0 was only rolled out, then corrected.
      expect((await server.api('POST', `${channel}/rollback`, {})).body.version).toBe('5.0.0');
    });

    it("changes the native layer, and with it the gate's answer for a device on a registered binary", async () => {
      const GATED = 'com.example.relayered';
      expect((await server.api('POST', '/apps', { id: GATED })).status).toBe(201);
      const capacitor = { core: '6.1.0', android: '6.1.2', ios: '6.1.1' };
      const plain = { capacitor, packages: [] };
      const camera = {
        capacitor,
        packages: [{ name: '@capacitor/camera', version: '6.0.0', platforms: ['android', 'ios'] }],
      };
      const binary = await server.api('POST', `/apps/${GATED}/binaries`, {
        platform: 'android',
        version: '1.0.0',
        version_code: '10',
        native_layer: plain,
      });
      expect(binary.status).toBe(201);
      const zip = await makeZip({ 'index.html': '<html>gated</html>', 'app.js': 'notifyAppReady()' });
      const uploaded = await uploadBundle(server, GATED, zip, {
        version: '2.0.0',
        native_layer: JSON.stringify(camera),
      });
      expect(uploaded.status).toBe(201);
      expect(
        (await server.api('PUT', `/apps/${GATED}/channels/production/bundle`, { version: '2.0.0' })).status,
      ).toBe(200);
      const check = async () =>
        (await server.device('POST', '/updates', deviceInfo({ app_id: GATED, version_name: '0.0.1' }))).body;
      expect(await check()).toMatchObject({ error: 'native_incompatible', kind: 'blocked' });

      // Corrected to the layer the binary has: the same fingerprint, served at once.
      const patched = await server.api('PATCH', `/apps/${GATED}/bundles/2.0.0`, { native_layer: plain });
      expect(patched.status).toBe(200);
      expect(patched.body.native_fingerprint).toBe(binary.body.native_fingerprint);
      expect(await check()).toMatchObject({ version: '2.0.0' });
      const short = (fingerprint: string) => fingerprint.slice(0, 12);
      const history = await server.api('GET', `/apps/${GATED}/channels/production/history`);
      expect(history.body.items[0]).toMatchObject({
        action: 'bundle_edited',
        reason: `native layer ${short(uploaded.body.native_fingerprint)} → ${short(binary.body.native_fingerprint)}`,
      });
      const audit = await server.api('GET', `/audit?app=${GATED}`);
      expect(
        audit.body.items.find((row: { action: string }) => row.action === 'bundle.update').detail,
      ).toEqual({
        native_fingerprint: { from: uploaded.body.native_fingerprint, to: binary.body.native_fingerprint },
      });

      // From a project folder, as `bundle upload --native-from` reads it: the camera again, refused again.
      const native = await makeProject({ appId: GATED });
      projects.push(native);
      const installed = {
        '@capacitor/core': { version: '6.1.0' },
        '@capacitor/android': { version: '6.1.2' },
        '@capacitor/ios': { version: '6.1.1' },
        '@capacitor/camera': {
          version: '6.0.0',
          capacitor: { android: { src: 'android' }, ios: { src: 'ios' } },
        },
      };
      for (const [name, meta] of Object.entries(installed)) {
        await fs.mkdir(path.join(native, 'node_modules', name), { recursive: true });
        await fs.writeFile(
          path.join(native, 'node_modules', name, 'package.json'),
          JSON.stringify({ name, ...meta }),
        );
      }
      await withDependencies(
        native,
        Object.fromEntries(Object.keys(installed).map((name) => [name, '^6.0.0'])),
      );
      const cwd = await makeProject({ appId: GATED });
      projects.push(cwd);
      const fromProject = await runIn(cwd, 'bundle', 'update', '2.0.0', '--native-from', native);
      expect(fromProject.code, fromProject.stderr).toBe(0);
      expect(fromProject.stdout).toContain('native layer        Capacitor core 6.1.0');
      expect((await server.api('GET', `/apps/${GATED}/bundles/2.0.0`)).body.native_fingerprint).toBe(
        uploaded.body.native_fingerprint,
      );
      expect(await check()).toMatchObject({ error: 'native_incompatible' });

      // Unknown: the gate cannot judge, and serves it.
      const unknown = await runIn(cwd, 'bundle', 'update', '2.0.0', '--no-native-layer', '--json');
      expect(unknown.json).toMatchObject({ native_layer: null, native_fingerprint: null });
      expect(await check()).toMatchObject({ version: '2.0.0' });
      const both = await runIn(
        cwd,
        'bundle',
        'update',
        '2.0.0',
        '--no-native-layer',
        '--native-from',
        native,
      );
      expect(both.code).toBe(1);
      expect(both.stderr).toContain('not both');
      const invalid = await server.api('PATCH', `/apps/${GATED}/bundles/2.0.0`, {
        native_layer: { capacitor, packages: [{ name: 'bad name!', version: '1', platforms: [] }] },
      });
      expect(invalid.status).toBe(400);
    });

    it('refuses anything but notes and minimum native version, and what it cannot find', async () => {
      const route = `/apps/${PLAIN_APP}/bundles/7.0.0`;
      for (const body of [
        {},
        { sha256: 'a'.repeat(64) },
        { notes: 5 },
        { min_native_version: 'not a version!' },
      ]) {
        const answer = await server.api('PATCH', route, body);
        expect(answer.status, JSON.stringify(body)).toBe(400);
        expect(Object.keys(answer.body).sort()).toEqual(['error', 'message']);
      }
      expect((await server.api('PATCH', `/apps/${PLAIN_APP}/bundles/9.9.9`, { notes: 'x' })).body.error).toBe(
        'bundle_not_found',
      );
      expect(
        (await server.api('PATCH', '/apps/com.example.none/bundles/1.0.0', { notes: 'x' })).body.error,
      ).toBe('app_not_found');
      const bundle = (await server.api('GET', route)).body;
      expect(bundle).toMatchObject({ notes: 'again', min_native_version: null });
      const nothing = await cli(['bundle', 'update', '7.0.0', '--app', PLAIN_APP], { cwd: project, env });
      expect(nothing.code).toBe(1);
      expect(nothing.stderr).toContain('nothing to change');
    });
  });
});
