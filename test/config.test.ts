import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { cli } from './helpers/cli.js';

const ROOT = path.resolve(import.meta.dirname, '..');

describe('configuration', () => {
  it('has embedded defaults: port 3000, ./data, SQLite file and bundles inside it', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({ port: 3000, host: '0.0.0.0', storage: 'fs', logLevel: 'info' });
    expect(config.dataDir).toBe(path.resolve('data'));
    expect(config.databaseFile).toBe(path.resolve('data/overair.db'));
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
    ['OVERAIR_AUTH_FAILURE_WINDOW', '5 minutes'],
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

  it('takes the security settings as flags: switches alone mean true, bad values name the setting', async () => {
    for (const [flags, setting] of [
      [['--auth-max-failures', 'lots'], 'OVERAIR_AUTH_MAX_FAILURES'],
      [['--auth-failure-window', '5 min'], 'OVERAIR_AUTH_FAILURE_WINDOW'],
      [['--trust-proxy', 'maybe'], 'OVERAIR_TRUST_PROXY'],
      [['--private-downloads', '--download-secret', 'short'], 'OVERAIR_DOWNLOAD_SECRET'],
      [['--download-url-ttl', '0s'], 'OVERAIR_DOWNLOAD_URL_TTL'],
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
      expect(started.output).toContain('download-link secret');
      await fs.access(path.join(data, 'download-secret'));
    } finally {
      await fs.rm(data, { recursive: true, force: true });
    }
  });
});
