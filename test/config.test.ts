import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { ssoOptions } from '../src/services/sso-options.js';
import { cli } from './helpers/cli.js';
import { createBucket, deleteBucket } from './helpers/radosgw.js';

const ROOT = path.resolve(import.meta.dirname, '..');

describe('configuration', () => {
  it('has embedded defaults: port 3000, ./data, SQLite file and bundles inside it', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({ port: 3000, host: '0.0.0.0', storage: 'fs', logLevel: 'info' });
    expect(config.dataDir).toBe(path.resolve('data'));
    expect(config.database).toEqual({ kind: 'sqlite', file: path.resolve('data/overair.db') });
    expect(config.maxUploadBytes).toBe(512 * 1024 * 1024);
  });

  it('reads OVERAIR_* variables, and flags win over them', () => {
    const config = loadConfig(
      {
        OVERAIR_PORT: '8080',
        OVERAIR_PUBLIC_URL: 'https://updates.example.com/',
        OVERAIR_MAX_UPLOAD_SIZE: '2gb',
      },
      { port: '9090' },
    );
    expect(config.port).toBe(9090);
    expect(config.publicUrl).toBe('https://updates.example.com');
    expect(config.maxUploadBytes).toBe(2 * 1024 ** 3);
  });

  it.each([
    ['OVERAIR_PORT', 'eighty'],
    ['OVERAIR_PORT', '70000'],
    ['OVERAIR_PUBLIC_URL', 'ftp://x'],
    ['OVERAIR_LOG_LEVEL', 'loud'],
    ['OVERAIR_MAX_UPLOAD_SIZE', 'lots'],
    ['OVERAIR_STORAGE', 'floppy'],
    ['OVERAIR_ADMIN_TOKEN', 'short'],
    ['OVERAIR_PRIVATE_DOWNLOADS', 'yes'],
    ['OVERAIR_DOWNLOAD_SECRET', 'too-short-secret'],
    ['OVERAIR_DOWNLOAD_URL_TTL', 'a week'],
    ['OVERAIR_DOWNLOAD_URL_TTL', '0s'],
    ['OVERAIR_DOWNLOAD_URL_TTL', '400d'],
    ['OVERAIR_TRUST_PROXY', '1'],
    ['OVERAIR_AUTH_MAX_FAILURES', '-1'],
    ['OVERAIR_AUTH_MAX_FAILURES', 'ten'],
    ['OVERAIR_AUTH_FAILURE_WINDOW', '5 fortnights'],
    ['OVERAIR_AUTH_FAILURE_WINDOW', '1.5s'],
  ])('names the setting in the error for %s=%s', (name, value) => {
    expect(() => loadConfig({ [name]: value })).toThrow(name);
  });

  it('has security defaults: public downloads, links for 7 days, 10 failed logins per 5 minutes', () => {
    expect(loadConfig({})).toMatchObject({
      privateDownloads: false,
      downloadUrlTtlSeconds: 7 * 86_400,
      trustProxy: false,
      authMaxFailures: 10,
      authFailureWindowSeconds: 300,
    });
    const config = loadConfig(
      { OVERAIR_PRIVATE_DOWNLOADS: 'TRUE', OVERAIR_DOWNLOAD_URL_TTL: '12h', OVERAIR_TRUST_PROXY: 'true' },
      { authMaxFailures: '0', authFailureWindowSeconds: '90' },
    );
    expect(config).toMatchObject({
      privateDownloads: true,
      downloadUrlTtlSeconds: 12 * 3600,
      trustProxy: true,
      authMaxFailures: 0,
      authFailureWindowSeconds: 90,
    });
  });

  it('gives requests in flight 25 s to finish at shutdown, unless OVERAIR_SHUTDOWN_TIMEOUT says otherwise', () => {
    expect(loadConfig({}).shutdownTimeoutSeconds).toBe(25);
    expect(loadConfig({ OVERAIR_SHUTDOWN_TIMEOUT: '2m' }).shutdownTimeoutSeconds).toBe(120);
    const flag = loadConfig({ OVERAIR_SHUTDOWN_TIMEOUT: '2m' }, { shutdownTimeoutSeconds: '5' });
    expect(flag.shutdownTimeoutSeconds).toBe(5);
    for (const value of ['0s', 'soon', '2h', '-1']) {
      expect(() => loadConfig({ OVERAIR_SHUTDOWN_TIMEOUT: value })).toThrow('OVERAIR_SHUTDOWN_TIMEOUT');
    }
  });

  it('times requests out after 5 minutes in all, uploads after 60 s without a byte, unless told otherwise', () => {
    expect(loadConfig({})).toMatchObject({ requestTimeoutSeconds: 300, uploadIdleTimeoutSeconds: 60 });
    const env = { OVERAIR_REQUEST_TIMEOUT: '2m', OVERAIR_UPLOAD_IDLE_TIMEOUT: '90s' };
    expect(loadConfig(env)).toMatchObject({ requestTimeoutSeconds: 120, uploadIdleTimeoutSeconds: 90 });
    const flags = loadConfig(env, { requestTimeoutSeconds: '30s', uploadIdleTimeoutSeconds: '5m' });
    expect(flags).toMatchObject({ requestTimeoutSeconds: 30, uploadIdleTimeoutSeconds: 300 });
    for (const name of ['OVERAIR_REQUEST_TIMEOUT', 'OVERAIR_UPLOAD_IDLE_TIMEOUT']) {
      for (const value of ['0s', 'never', '2h']) {
        expect(() => loadConfig({ [name]: value })).toThrow(name);
      }
    }
  });

  it('lets webhooks reach no internal host unless OVERAIR_WEBHOOK_ALLOW_HOSTS lists it', async () => {
    expect(loadConfig({}).webhookAllowHosts).toEqual([]);
    expect(
      loadConfig({ OVERAIR_WEBHOOK_ALLOW_HOSTS: 'Hooks.Internal, 10.0.0.5,[fd00::1],192.168.0.0/16' })
        .webhookAllowHosts,
    ).toEqual(['hooks.internal', '10.0.0.5', 'fd00::1', '192.168.0.0/16']);
    const flag = loadConfig(
      { OVERAIR_WEBHOOK_ALLOW_HOSTS: 'a.internal' },
      { webhookAllowHosts: 'b.internal' },
    );
    expect(flag.webhookAllowHosts).toEqual(['b.internal']);
    for (const value of ['http://hooks.internal', 'hooks internal', '10.0.0.0/33', 'hooks.internal:80']) {
      expect(() => loadConfig({ OVERAIR_WEBHOOK_ALLOW_HOSTS: value })).toThrow('OVERAIR_WEBHOOK_ALLOW_HOSTS');
    }
    const bad = await cli(['serve', '--webhook-allow-hosts', 'not a host'], { cwd: ROOT, env: {} });
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain('OVERAIR_WEBHOOK_ALLOW_HOSTS');
  });

  it('sweeps orphan blobs older than 2 days every 6 hours, unless told otherwise', () => {
    expect(loadConfig({})).toMatchObject({
      blobSweepGraceSeconds: 2 * 86_400,
      blobSweepIntervalSeconds: 6 * 3600,
    });
    const config = loadConfig(
      { OVERAIR_BLOB_SWEEP_GRACE: '12h', OVERAIR_BLOB_SWEEP_INTERVAL: '1h' },
      { blobSweepIntervalSeconds: '30m' },
    );
    expect(config).toMatchObject({ blobSweepGraceSeconds: 12 * 3600, blobSweepIntervalSeconds: 1800 });
    for (const [name, value] of [
      ['OVERAIR_BLOB_SWEEP_GRACE', '0s'],
      ['OVERAIR_BLOB_SWEEP_GRACE', 'a day'],
      ['OVERAIR_BLOB_SWEEP_INTERVAL', '0'],
      ['OVERAIR_BLOB_SWEEP_INTERVAL', '40d'],
    ] as const) {
      expect(() => loadConfig({ [name]: value })).toThrow(name);
    }
  });

  it('needs a client id, a callback URL and a role map for single sign-on, and names a bad role entry', async () => {
    const sso = {
      OVERAIR_OIDC_ISSUER: 'https://id.example.com/realms/acme',
      OVERAIR_OIDC_CLIENT_ID: 'overair',
      OVERAIR_PUBLIC_URL: 'https://updates.example.com/',
      OVERAIR_OIDC_ROLES: 'ops = server-admin, qa=release@com.example.app',
    };
    const config = loadConfig(sso);
    expect(config.passwordSignIn).toBe(true);
    expect(config.oidcScopes).toBe('openid email profile');
    expect(config.oidcRoles).toEqual([
      { group: 'ops', grant: { kind: 'server-admin' } },
      { group: 'qa', grant: { kind: 'app', role: 'release', appId: 'com.example.app' } },
    ]);
    expect((await ssoOptions(config))?.redirectUrl).toBe(
      'https://updates.example.com/api/v1/session/oidc/callback',
    );
    expect(() => loadConfig({ ...sso, OVERAIR_OIDC_CLIENT_ID: '' })).toThrow(
      'OVERAIR_OIDC_CLIENT_ID: required with OVERAIR_OIDC_ISSUER',
    );
    expect(() => loadConfig({ ...sso, OVERAIR_PUBLIC_URL: '' })).toThrow(
      'OVERAIR_OIDC_REDIRECT_URL: required with OVERAIR_OIDC_ISSUER when OVERAIR_PUBLIC_URL is not set',
    );
    expect(() => loadConfig({ ...sso, OVERAIR_OIDC_ROLES: '' })).toThrow('OVERAIR_OIDC_ROLES: required');
    expect(() => loadConfig({ ...sso, OVERAIR_OIDC_ROLES: 'ops=owner' })).toThrow(
      /OVERAIR_OIDC_ROLES .*"ops=owner": the role is one of server-admin, read, publish, release, admin/,
    );
    expect(() => loadConfig({ ...sso, OVERAIR_OIDC_SCOPES: 'email profile' })).toThrow('must include openid');
    expect(() => loadConfig({ OVERAIR_OIDC_CLIENT_ID: 'overair' })).toThrow(
      'OVERAIR_OIDC_CLIENT_ID: only used with OVERAIR_OIDC_ISSUER',
    );
    expect(() =>
      loadConfig({ ...sso, OVERAIR_OIDC_CLIENT_SECRET: 'a', OVERAIR_OIDC_CLIENT_SECRET_FILE: '/x' }),
    ).toThrow('not both');
    // The secret file is read at start; an unreadable one stops it with the setting named.
    const missing = loadConfig({ ...sso, OVERAIR_OIDC_CLIENT_SECRET_FILE: '/nonexistent/secret' });
    await expect(ssoOptions(missing)).rejects.toThrow(
      'OVERAIR_OIDC_CLIENT_SECRET_FILE: cannot read /nonexistent/secret (ENOENT)',
    );
    expect(loadConfig({ OVERAIR_PASSWORD_SIGN_IN: 'false' }).passwordSignIn).toBe(false);
  });

  it('never echoes a secret in an error', () => {
    for (const name of ['OVERAIR_DOWNLOAD_SECRET', 'OVERAIR_ADMIN_TOKEN']) {
      expect(() => loadConfig({ [name]: 'hunter2-secret' })).toThrow(`${name} (14 characters)`);
      expect(() => loadConfig({ [name]: 'hunter2-secret' })).not.toThrow(/hunter2/);
    }
  });
});

/** Runs the real CLI entry point (through tsx, so no build is needed) until `until` matches its output. */
function runCli(args: string[], env: Record<string, string>, until?: RegExp) {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'src/cli/main.ts'), ...args], {
    env: { ...process.env, ...env },
    cwd: ROOT,
  });
  let output = '';
  return new Promise<{ code: number | null; output: string }>((resolve) => {
    const collect = (chunk: Buffer) => {
      output += chunk.toString();
      if (until?.test(output)) child.kill('SIGTERM');
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    child.on('close', (code) => resolve({ code, output }));
  });
}

describe('overair serve', () => {
  it('stops with a message naming the bad setting', async () => {
    const result = await runCli(['serve'], { OVERAIR_PORT: 'eighty' });
    expect(result.code).not.toBe(0);
    expect(result.output).toContain('OVERAIR_PORT');
    expect(result.output).not.toMatch(/\n\s+at /); // no stack trace
  });

  it('prints an admin token on the first start only, and shuts down cleanly on SIGTERM', async () => {
    const data = await fs.mkdtemp(path.join(os.tmpdir(), 'overair-cli-'));
    try {
      const env = { OVERAIR_LOG_LEVEL: 'warn', OVERAIR_ADMIN_TOKEN: '' };
      const first = await runCli(
        ['serve', '--port', '0', '--host', '127.0.0.1', '--data', data],
        env,
        /oat_\S+/,
      );
      expect(first.output).toMatch(/first admin token[\s\S]*oat_/);
      expect(first.code).toBe(0);
      const second = await runCli(
        ['serve', '--port', '0', '--host', '127.0.0.1', '--data', data, '--log-level', 'info'],
        env,
        /listening/,
      );
      expect(second.output).not.toContain('oat_');
      await fs.access(path.join(data, 'overair.db'));
    } finally {
      await fs.rm(data, { recursive: true, force: true });
    }
  });

  it('logs its configuration at debug level with every secret masked', async () => {
    const data = await fs.mkdtemp(path.join(os.tmpdir(), 'overair-cli-'));
    const secrets = {
      OVERAIR_ADMIN_TOKEN: 'oat_test-admin-token-0123456789abcdef',
      OVERAIR_ADMIN_USER: 'root',
      OVERAIR_ADMIN_PASSWORD: 'admin-password-hunter2',
      OVERAIR_DOWNLOAD_SECRET: 'download-secret-hunter2-0123456789abcdef',
    };
    try {
      const started = await runCli(
        ['serve', '--port', '0', '--host', '127.0.0.1', '--data', data, '--log-level', 'debug'],
        secrets,
        /listening/,
      );
      expect(started.output).toMatch(/"msg":"configuration"/);
      expect(started.output).toContain('"adminToken":"***"');
      expect(started.output).not.toMatch(/hunter2|0123456789abcdef/);
    } finally {
      await fs.rm(data, { recursive: true, force: true });
    }
  });

  it('takes the security settings as flags: switches alone mean true, bad values name the setting', async () => {
    for (const [flags, setting] of [
      [['--auth-max-failures', 'lots'], 'OVERAIR_AUTH_MAX_FAILURES'],
      [['--auth-failure-window', '5 fortnights'], 'OVERAIR_AUTH_FAILURE_WINDOW'],
      [['--trust-proxy', 'maybe'], 'OVERAIR_TRUST_PROXY'],
      [['--private-downloads', '--download-secret', 'short'], 'OVERAIR_DOWNLOAD_SECRET'],
      [['--download-url-ttl', '0s'], 'OVERAIR_DOWNLOAD_URL_TTL'],
      [['--request-timeout', 'forever'], 'OVERAIR_REQUEST_TIMEOUT'],
      [['--upload-idle-timeout', '0'], 'OVERAIR_UPLOAD_IDLE_TIMEOUT'],
      [['--blob-sweep-grace', '0s'], 'OVERAIR_BLOB_SWEEP_GRACE'],
      [['--blob-sweep-interval', 'often'], 'OVERAIR_BLOB_SWEEP_INTERVAL'],
    ] as const) {
      // In-process: a bad setting stops `serve` before it starts anything.
      const bad = await cli(['serve', ...flags], { cwd: ROOT, env: {} });
      expect(bad.code, flags.join(' ')).not.toBe(0);
      expect(bad.stderr, flags.join(' ')).toContain(setting);
    }
    const data = await fs.mkdtemp(path.join(os.tmpdir(), 'overair-cli-'));
    try {
      const started = await runCli(
        ['serve', '--port', '0', '--host', '127.0.0.1', '--data', data, '--log-level', 'info'].concat([
          '--private-downloads',
          '--trust-proxy',
          '--download-url-ttl',
          '1d',
          '--auth-failure-window',
          '1m',
        ]),
        { OVERAIR_ADMIN_TOKEN: 'oat_test-admin-token-0123456789abcdef' },
        /listening/,
      );
      // Generated into the database, where every instance finds it; no longer into the data folder.
      expect(started.output).toContain('generated the download-link secret');
      await expect(fs.access(path.join(data, 'download-secret'))).rejects.toThrow();
    } finally {
      await fs.rm(data, { recursive: true, force: true });
    }
  });
});

describe('S3 storage settings', () => {
  const keys = {
    OVERAIR_S3_ACCESS_KEY: 'AKIAEXAMPLE',
    OVERAIR_S3_SECRET_KEY: 'wJalrXUtnFEMI-example-secret',
  };

  it('has defaults: us-east-1, https, path-style, no prefix; and reads every OVERAIR_S3_* variable', () => {
    expect(loadConfig({ OVERAIR_STORAGE: 's3', OVERAIR_S3_BUCKET: 'bundles', ...keys })).toMatchObject({
      storage: 's3',
      s3Bucket: 'bundles',
      s3Region: 'us-east-1',
      s3Ssl: true,
      s3ForcePathStyle: true,
      s3Prefix: undefined,
      s3Endpoint: undefined,
    });
    expect(
      loadConfig({
        OVERAIR_STORAGE: 's3',
        OVERAIR_S3_BUCKET: 'my.bundles-1',
        OVERAIR_S3_REGION: 'auto',
        OVERAIR_S3_ENDPOINT: 'minio.internal',
        OVERAIR_S3_PORT: '9000',
        OVERAIR_S3_SSL: 'false',
        OVERAIR_S3_FORCE_PATH_STYLE: 'FALSE',
        OVERAIR_S3_PREFIX: 'overair/prod/',
        ...keys,
      }),
    ).toMatchObject({
      s3Region: 'auto',
      s3Endpoint: 'minio.internal',
      s3Port: 9000,
      s3Ssl: false,
      s3ForcePathStyle: false,
      s3Prefix: 'overair/prod/',
      s3AccessKey: 'AKIAEXAMPLE',
    });
  });

  it('requires the bucket with OVERAIR_STORAGE=s3, and both keys or neither (the AWS default chain)', () => {
    expect(() => loadConfig({ OVERAIR_STORAGE: 's3' })).toThrow(
      'OVERAIR_S3_BUCKET: required with OVERAIR_STORAGE=s3',
    );
    expect(() =>
      loadConfig({ OVERAIR_STORAGE: 's3', OVERAIR_S3_BUCKET: 'b-1', OVERAIR_S3_ACCESS_KEY: 'k' }),
    ).toThrow(/OVERAIR_S3_SECRET_KEY: required with OVERAIR_S3_ACCESS_KEY/);
    expect(() =>
      loadConfig({ OVERAIR_STORAGE: 's3', OVERAIR_S3_BUCKET: 'b-1', OVERAIR_S3_SECRET_KEY: 's' }),
    ).toThrow(/OVERAIR_S3_ACCESS_KEY: required with OVERAIR_S3_SECRET_KEY/);
    const chain = loadConfig({ OVERAIR_STORAGE: 's3', OVERAIR_S3_BUCKET: 'b-1' });
    expect(chain).toMatchObject({ storage: 's3', s3Bucket: 'b-1' });
    expect(chain.s3AccessKey).toBeUndefined();
    expect(chain.s3SecretKey).toBeUndefined();
    // Only S3 storage needs them.
    expect(loadConfig({}).storage).toBe('fs');
  });

  it.each([
    ['OVERAIR_S3_BUCKET', 'Bad_Bucket!'],
    ['OVERAIR_S3_BUCKET', 'ab'],
    ['OVERAIR_S3_REGION', 'us east 1'],
    ['OVERAIR_S3_ENDPOINT', 'https://s3.example.com/bucket'],
    ['OVERAIR_S3_ENDPOINT', 'ftp://s3.example.com'],
    ['OVERAIR_S3_ENDPOINT', 'https://key:secret@s3.example.com'],
    ['OVERAIR_S3_ENDPOINT', 's3 example com'],
    ['OVERAIR_S3_PORT', '0'],
    ['OVERAIR_S3_PORT', 'http'],
    ['OVERAIR_S3_SSL', 'yes'],
    ['OVERAIR_S3_FORCE_PATH_STYLE', 'maybe'],
    ['OVERAIR_S3_PREFIX', '../escape/'],
    ['OVERAIR_S3_PREFIX', '/absolute/'],
    ['OVERAIR_S3_PREFIX', 'a//b/'],
  ])('names the setting in the error for %s=%s', (name, value) => {
    expect(() => loadConfig({ [name]: value })).toThrow(name);
  });

  it('refuses a port without an endpoint (AWS takes none), and never echoes the secret key', () => {
    expect(() =>
      loadConfig({ OVERAIR_STORAGE: 's3', OVERAIR_S3_BUCKET: 'b-1', OVERAIR_S3_PORT: '9000', ...keys }),
    ).toThrow(/OVERAIR_S3_PORT: only used with OVERAIR_S3_ENDPOINT/);
    const secret = 'hunter2'.repeat(40);
    expect(() => loadConfig({ OVERAIR_S3_SECRET_KEY: secret })).toThrow(
      'OVERAIR_S3_SECRET_KEY (280 characters)',
    );
    expect(() => loadConfig({ OVERAIR_S3_SECRET_KEY: secret })).not.toThrow(/hunter2/);
  });

  it('takes the Capgo CLI names as serve flags: a missing or bad one names its setting', async () => {
    for (const [flags, setting] of [
      [['--storage', 's3'], 'OVERAIR_S3_BUCKET'],
      [['--storage', 's3', '--s3-bucket-name', 'b-1', '--s3-apikey', 'k'], 'OVERAIR_S3_SECRET_KEY'],
      [['--storage', 'tape'], 'OVERAIR_STORAGE'],
      [['--s3-port', '99999'], 'OVERAIR_S3_PORT'],
      [['--s3-endpoint', 'https://x.example/path'], 'OVERAIR_S3_ENDPOINT'],
      [['--s3-region', 'no way'], 'OVERAIR_S3_REGION'],
      // Their OVERAIR_* names too, and the settings that had no flag before the settings list.
      [['--storage', 's3', '--s3-bucket', 'b-1', '--s3-access-key', 'k'], 'OVERAIR_S3_SECRET_KEY'],
      [['--storage', 's3', '--s3-bucket', 'b-1', '--s3-secret-key', 's'], 'OVERAIR_S3_ACCESS_KEY'],
      [['--s3-prefix', '/absolute/'], 'OVERAIR_S3_PREFIX'],
      [['--admin-user', 'root'], 'OVERAIR_ADMIN_PASSWORD'],
    ] as const) {
      const bad = await cli(['serve', ...flags], { cwd: ROOT, env: {} });
      expect(bad.code, flags.join(' ')).not.toBe(0);
      expect(bad.stderr, flags.join(' ')).toContain(setting);
    }
  });

  it('starts on a bucket given by flags alone (host, port and --no-s3-ssl as the Capgo CLI takes them)', async () => {
    const s3 = inject('s3');
    const bucket = await createBucket(s3);
    const data = await fs.mkdtemp(path.join(os.tmpdir(), 'overair-cli-'));
    try {
      const endpoint = new URL(s3.endpoint);
      const started = await runCli(
        ['serve', '--port', '0', '--host', '127.0.0.1', '--data', data, '--log-level', 'info'].concat([
          '--storage',
          's3',
          '--s3-bucket-name',
          bucket,
          '--s3-endpoint',
          endpoint.hostname,
          '--s3-port',
          endpoint.port,
          '--no-s3-ssl',
          '--s3-region',
          s3.region,
          '--s3-apikey',
          s3.accessKey,
          '--s3-apisecret',
          s3.secretKey,
        ]),
        { OVERAIR_ADMIN_TOKEN: 'oat_test-admin-token-0123456789abcdef' },
        /listening|cannot use S3/,
      );
      expect(started.output).toContain('listening');
      expect(started.output).not.toContain(s3.secretKey);
    } finally {
      await fs.rm(data, { recursive: true, force: true });
      await deleteBucket(s3, bucket);
    }
  });
});
