import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli, makeProject } from './helpers/cli.js';
import { ADMIN_TOKEN, VECTORS, deviceInfo, startTestServer, type TestServer } from './helpers/server.js';

const APP = 'com.example.cli';

describe('overair CLI against a real server', () => {
  let server: TestServer;
  let project: string;
  let env: Record<string, string>;
  const run = (...args: string[]) => cli(args, { cwd: project, env });

  beforeAll(async () => {
    server = await startTestServer();
    project = await makeProject({
      appId: APP,
      version: '1.2.0',
      updater: {
        updateUrl: `${server.url}/updates`,
        statsUrl: `${server.url}/stats`,
        channelUrl: `${server.url}/channel_self`,
      },
    });
    env = { OVERAIR_SERVER: server.url, OVERAIR_TOKEN: ADMIN_TOKEN };
  });
  afterAll(async () => {
    await server.stop();
    await fs.rm(project, { recursive: true, force: true });
  });

  it('logs in, saving server and token in a file only the user can read, without echoing the token', async () => {
    const configFile = path.join(project, 'overair-login.json');
    const login = await cli(['login', '--server', server.url, '--token', ADMIN_TOKEN], {
      cwd: project,
      env: { OVERAIR_CONFIG: configFile },
    });
    expect(login.code).toBe(0);
    expect(login.stdout + login.stderr).not.toContain(ADMIN_TOKEN);
    expect((await fs.stat(configFile)).mode & 0o777).toBe(0o600);
    // Later commands need neither flag nor environment.
    const list = await cli(['app', 'list', '--json'], { cwd: project, env: { OVERAIR_CONFIG: configFile } });
    expect(list.code).toBe(0);
    expect(Array.isArray(list.json)).toBe(true);

    const bad = await cli(['login', '--server', server.url, '--token', 'oat_wrong'], {
      cwd: project,
      env: { OVERAIR_CONFIG: path.join(project, 'other.json') },
    });
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/^overair: not authorised/);
    await expect(fs.access(path.join(project, 'other.json'))).rejects.toThrow();
  });

  it('creates the app named in the Capacitor config, and lists it', async () => {
    const created = await run('app', 'create', '--json');
    expect(created.code).toBe(0);
    expect(created.json).toMatchObject({ id: APP });
    expect((await run('app', 'list')).stdout).toContain(APP);
    const again = await run('app', 'create');
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('already exists');
  });

  it('zips the web folder with its files at the root and prints the sha256', async () => {
    const zipped = await run('bundle', 'zip', '--json');
    expect(zipped.code).toBe(0);
    expect(zipped.json).toMatchObject({ bundle: '1.2.0', filename: path.join(project, `${APP}_1.2.0.zip`) });
    const bytes = await fs.readFile(zipped.json.filename);
    expect(zipped.json.checksum).toBe(createHash('sha256').update(bytes).digest('hex'));
  });

  it('reads the app id and web folder from a capacitor.config.ts', async () => {
    const tsProject = await makeProject({ appId: 'ignored' });
    try {
      await fs.rm(path.join(tsProject, 'capacitor.config.json'));
      await fs.writeFile(
        path.join(tsProject, 'capacitor.config.ts'),
        "import type { CapacitorConfig } from '@capacitor/cli';\n" +
          "const config: CapacitorConfig = { appId: 'com.example.ts', appName: 'TS', webDir: 'dist' };\nexport default config;\n",
      );
      const zipped = await cli(['bundle', 'zip', '--json'], { cwd: tsProject });
      expect(zipped.code).toBe(0);
      expect(zipped.json.filename).toBe(path.join(tsProject, 'com.example.ts_1.0.0.zip'));
    } finally {
      await fs.rm(tsProject, { recursive: true, force: true });
    }
  });

  it('refuses to zip a folder without index.html or without notifyAppReady(), unless told not to check', async () => {
    const noIndex = await makeProject({
      appId: APP,
      files: { 'main.js': 'CapacitorUpdater.notifyAppReady()' },
    });
    const noReady = await makeProject({
      appId: APP,
      files: { 'index.html': '<html></html>', 'main.js': 'console.log(1)' },
    });
    try {
      const a = await cli(['bundle', 'zip'], { cwd: noIndex });
      expect(a.code).toBe(1);
      expect(a.stderr).toContain('no index.html');
      const b = await cli(['bundle', 'zip'], { cwd: noReady });
      expect(b.code).toBe(1);
      expect(b.stderr).toContain('notifyAppReady');
      expect((await cli(['bundle', 'zip', '--no-code-check'], { cwd: noReady })).code).toBe(0);
    } finally {
      await fs.rm(noIndex, { recursive: true, force: true });
      await fs.rm(noReady, { recursive: true, force: true });
    }
  });

  it('uploads the web folder, makes it live, and a device gets it', async () => {
    const up = await run('bundle', 'upload', '--channel', 'production', '--comment', 'from CI', '--json');
    expect(up.code).toBe(0);
    expect(up.stderr).toBe(''); // no progress bar when not on a terminal
    expect(up.json).toMatchObject({
      version: '1.2.0',
      notes: 'from CI',
      channel: { name: 'production', version: '1.2.0' },
    });
    const answer = await server.device(
      'POST',
      '/updates',
      deviceInfo({ app_id: APP, version_name: '1.1.0' }),
    );
    expect(answer.body).toMatchObject({ version: '1.2.0', checksum: up.json.sha256 });
  });

  it('uploads a zip made by the Capgo CLI as it is, with the checksum the Capgo CLI printed', async () => {
    const expected = JSON.parse(await fs.readFile(path.join(VECTORS, 'zip-output.json'), 'utf8'));
    const up = await run(
      'bundle',
      'upload',
      '--zip',
      path.join(VECTORS, 'bundle.zip'),
      '--bundle',
      '1.0.0',
      '--json',
    );
    expect(up.code).toBe(0);
    expect(up.json.sha256).toBe(expected.checksum);
  });

  it('uploads a bundle encrypted by the Capgo CLI with its session key and encrypted checksum', async () => {
    const enc = JSON.parse(await fs.readFile(path.join(VECTORS, 'encrypt-output.json'), 'utf8'));
    const up = await run(
      'bundle',
      'upload',
      '--zip',
      path.join(VECTORS, 'bundle.encrypted.zip'),
      '--bundle',
      '1.0.0-enc',
      '--iv-session-key',
      enc.ivSessionKey,
      '--checksum',
      enc.checksum,
      '--channel',
      'encrypted',
      '--json',
    ).catch((error) => error);
    // The channel does not exist yet: the upload succeeded, making it live failed with a clear message.
    expect(up.code).toBe(1);
    expect(up.stderr).toContain('no channel "encrypted"');
    expect((await run('channel', 'create', 'encrypted', '--self-assign')).code).toBe(0);
    expect((await run('channel', 'set', 'encrypted', '1.0.0-enc')).code).toBe(0);
    const answer = await server.device(
      'POST',
      '/updates',
      deviceInfo({ app_id: APP, defaultChannel: 'encrypted', key_id: 'MIIBCgKCAQEA+EgVlAr0' }),
    );
    expect(answer.body).toMatchObject({
      version: '1.0.0-enc',
      checksum: enc.checksum,
      session_key: enc.ivSessionKey,
    });
  });

  it('refuses a version that exists, a missing file and a bundle with no version, each with one clear line', async () => {
    const dup = await run('bundle', 'upload', '--zip', path.join(VECTORS, 'bundle.zip'), '--bundle', '1.0.0');
    expect(dup.code).toBe(1);
    expect(dup.stderr).toMatch(/^overair: .*already has a bundle "1.0.0".*\n$/);
    const missing = await run('bundle', 'upload', '--zip', 'nope.zip', '--bundle', '9.9.9');
    expect(missing).toMatchObject({ code: 1 });
    expect(missing.stderr).toContain('no such file');
    expect(missing.stderr).not.toMatch(/\n\s+at /);
  });

  it('registers an external bundle after downloading it once to check its checksum', async () => {
    const source = (await run('bundle', 'info', '1.0.0', '--json')).json;
    const ok = await run(
      'bundle',
      'upload',
      '--external',
      source.url,
      '--checksum',
      source.sha256,
      '--bundle',
      '1.0.1-ext',
      '--json',
    );
    expect(ok.code).toBe(0);
    expect(ok.json).toMatchObject({ location: 'external', url: source.url, size: source.size });
    const wrong = await run(
      'bundle',
      'upload',
      '--external',
      source.url,
      '--checksum',
      'f'.repeat(64),
      '--bundle',
      '1.0.2-ext',
    );
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toContain('checksum mismatch');
    const unchecked = await run(
      'bundle',
      'upload',
      '--external',
      'https://cdn.invalid/x.zip',
      '--checksum',
      'e'.repeat(64),
      '--no-verify',
      '--bundle',
      '1.0.3-ext',
    );
    expect(unchecked.code).toBe(0);
  });

  it('lists, shows and deletes bundles', async () => {
    const list = await run('bundle', 'list', '--json');
    expect(list.json.map((b: { version: string }) => b.version)).toEqual(
      expect.arrayContaining(['1.2.0', '1.0.0', '1.0.0-enc']),
    );
    expect((await run('bundle', 'list')).stdout).toMatch(/VERSION\s+SIZE/);
    expect((await run('bundle', 'delete', '1.0.3-ext')).code).toBe(0);
    expect((await run('bundle', 'info', '1.0.3-ext')).stderr).toContain('no bundle "1.0.3-ext"');
  });

  it('manages channels: set, roll back, history, update, delete', async () => {
    expect((await run('channel', 'create', 'beta')).code).toBe(0);
    await run('channel', 'set', 'beta', '1.0.0');
    await run('channel', 'set', 'beta', '1.2.0');
    const rolled = await run('channel', 'rollback', 'beta', '--reason', 'bad build', '--json');
    expect(rolled.json).toMatchObject({ name: 'beta', version: '1.0.0' });
    const history = await run('channel', 'history', 'beta', '--json');
    expect(history.json.map((h: { action: string }) => h.action)).toEqual(['rollback', 'set', 'set']);
    const updated = await run('channel', 'update', 'beta', '--self-assign', 'on', '--json');
    expect(updated.json.allow_self_assign).toBe(true);
    expect((await run('channel', 'update', 'beta', '--self-assign', 'maybe')).stderr).toContain(
      'expected on or off',
    );
    expect((await run('channel', 'list')).stdout).toMatch(/beta\s+1\.0\.0/);
    expect((await run('channel', 'info', 'beta', '--json')).json.version).toBe('1.0.0');
    expect((await run('channel', 'delete', 'beta')).code).toBe(0);
  });

  it('lists devices and pins one to a channel', async () => {
    await server.device('POST', '/updates', deviceInfo({ app_id: APP, device_id: 'cli-phone' }));
    const list = await run('device', 'list', '--json');
    expect(list.json.map((d: { device_id: string }) => d.device_id)).toContain('cli-phone');
    const pinned = await run('device', 'set-channel', 'cli-phone', 'encrypted', '--json');
    expect(pinned.json.channel_override).toBe('encrypted');
    expect((await run('device', 'info', 'cli-phone')).stdout).toContain('encrypted');
    expect((await run('device', 'unset-channel', 'cli-phone', '--json')).json.channel_override).toBeNull();
  });

  it('mints scoped tokens: a publish token releases but cannot create apps', async () => {
    const created = await run('token', 'create', '--name', 'ci', '--scope', 'publish', '--json');
    expect(created.json.token).toMatch(/^oat_/);
    const asCi = (...args: string[]) =>
      cli(args, { cwd: project, env: { OVERAIR_SERVER: server.url, OVERAIR_TOKEN: created.json.token } });
    expect((await asCi('channel', 'set', 'production', '1.0.0')).code).toBe(0);
    const refused = await asCi('app', 'create', 'com.example.other');
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('forbidden');
    expect((await run('token', 'list')).stdout).not.toContain(created.json.token);
    expect((await run('token', 'revoke', String(created.json.id))).code).toBe(0);
    expect((await asCi('bundle', 'list')).stderr).toContain('not authorised');
  });

  it('mints a token limited to apps with --role and --app, and lists its roles', async () => {
    const created = await run(
      'token',
      'create',
      '--name',
      'ci-app',
      '--role',
      'release',
      '--app',
      APP,
      '--json',
    );
    expect(created.code).toBe(0);
    expect(created.json.roles).toEqual({ server_admin: false, all: null, apps: { [APP]: 'release' } });
    const asCi = (...args: string[]) =>
      cli(args, { cwd: project, env: { OVERAIR_SERVER: server.url, OVERAIR_TOKEN: created.json.token } });
    expect((await asCi('bundle', 'list')).code).toBe(0);
    const other = await asCi('bundle', 'list', '--app', 'com.example.elsewhere');
    expect(other.code).toBe(1);
    expect(other.stderr).toContain('forbidden');
    expect((await run('token', 'list')).stdout).toMatch(
      new RegExp(`ROLES[\\s\\S]*ci-app\\s+release on ${APP.replace(/\./g, '\\.')}`),
    );
    const wrong = await run('token', 'create', '--name', 'x', '--role', 'owner');
    expect(wrong.code).not.toBe(0);
    expect(wrong.stderr).toContain('--role');
    const both = await run('token', 'create', '--name', 'x', '--scope', 'read', '--role', 'read');
    expect(both.code).not.toBe(0);
    expect((await run('token', 'revoke', String(created.json.id))).code).toBe(0);
  });

  it('creates users with roles and replaces them with user update', async () => {
    const created = await cli(['user', 'create', 'roles-user', '--role', 'publish', '--app', APP, '--json'], {
      cwd: project,
      env: { ...env, OVERAIR_PASSWORD: 'roles-user-password' },
    });
    expect(created.code, created.stderr).toBe(0);
    expect(created.json.roles.apps).toEqual({ [APP]: 'publish' });
    const updated = await run('user', 'update', 'roles-user', '--role', 'read', '--json');
    expect(updated.json.roles).toEqual({ server_admin: false, all: 'read', apps: {} });
    expect((await run('user', 'list')).stdout).toMatch(/roles-user\s+read on all apps/);
    expect((await run('user', 'update', 'roles-user')).code).not.toBe(0);
    expect((await run('user', 'delete', 'roles-user')).code).toBe(0);
  });

  it('mints tokens that expire, and lists their expiry', async () => {
    const created = await run(
      'token',
      'create',
      '--name',
      'temp',
      '--scope',
      'read',
      '--expires-in-days',
      '7',
    );
    expect(created.code).toBe(0);
    expect(created.stdout).toMatch(/expires \d{4}-\d\d-\d\dT/);
    const listed = await run('token', 'list', '--json');
    const temp = listed.json.find((token: { name: string }) => token.name === 'temp');
    const days = (Date.parse(temp.expires_at) - Date.now()) / 86_400_000;
    expect(days).toBeGreaterThan(6.99);
    expect(days).toBeLessThanOrEqual(7);
    expect((await run('token', 'list')).stdout).toMatch(/EXPIRES[\s\S]*never/);
    const bad = await run('token', 'create', '--name', 'x', '--expires-in-days', '0');
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain('--expires-in-days');
    expect((await run('token', 'revoke', String(temp.id))).code).toBe(0);
  });

  it('doctor passes a correct project and names what to fix in a wrong one', async () => {
    const good = await run('doctor', '--json');
    expect(good.code).toBe(0);
    expect(good.json.ok).toBe(true);

    const wrong = await makeProject({
      appId: 'com.example.missing',
      updater: { updateUrl: `${server.url}/update` },
    });
    try {
      const bad = await cli(['doctor'], { cwd: wrong, env });
      expect(bad.code).toBe(1);
      expect(bad.stdout).toMatch(/FAIL\s+updateUrl: .* should end with \/updates/);
      expect(bad.stdout).toMatch(/FAIL\s+statsUrl: .*not set/);
      expect(bad.stdout).toMatch(/FAIL\s+app: .*overair app create com.example.missing/);
    } finally {
      await fs.rm(wrong, { recursive: true, force: true });
    }
  });

  it('says so when the server cannot be reached or no server is configured', async () => {
    const down = await cli(['app', 'list'], {
      cwd: project,
      env: { OVERAIR_SERVER: 'http://127.0.0.1:9', OVERAIR_TOKEN: 'x' },
    });
    expect(down.code).toBe(1);
    expect(down.stderr).toContain('cannot reach http://127.0.0.1:9');
    const none = await cli(['app', 'list'], {
      cwd: project,
      env: { OVERAIR_CONFIG: path.join(project, 'none.json') },
    });
    expect(none.stderr).toContain('no server');
  });

  it('runs as a real process: exit codes, one-line errors, --help', async () => {
    const root = path.resolve(import.meta.dirname, '..');
    const spawnCli = (args: string[]) =>
      new Promise<{ code: number | null; out: string }>((resolve) => {
        const child = spawn(
          process.execPath,
          ['--import', 'tsx', path.join(root, 'src/cli/main.ts'), ...args],
          {
            env: { ...process.env, ...env },
          },
        );
        let out = '';
        child.stdout.on('data', (d: Buffer) => (out += d));
        child.stderr.on('data', (d: Buffer) => (out += d));
        child.on('close', (code) => resolve({ code, out }));
      });
    const ok = await spawnCli(['bundle', 'list', '--app', APP, '--json']);
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.out)).toEqual(expect.any(Array));
    const fail = await spawnCli(['bundle', 'info', 'nope', '--app', APP]);
    expect(fail.code).toBe(1);
    expect(fail.out.trim().split('\n')).toHaveLength(1);
    const help = await spawnCli(['bundle', 'upload', '--help']);
    expect(help.code).toBe(0);
    expect(help.out).toContain('--iv-session-key');
  });
});
