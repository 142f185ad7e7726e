import fs from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { CONFIGURATION_PAGE, renderConfigurationPage } from '../scripts/docs/configuration.js';
import { runCli } from './cli/program.js';
import { flagsOf, overridesFromFlags } from './cli/serve-flags.js';
import { SECRET_KEYS, SETTINGS, SETTING_GROUPS, SETTING_KEYS, type Setting } from './config-settings.js';
import { configForDisplay, loadConfig } from './config.js';

/**
 * The settings list and what is made from it: the serve flags and help, and docs/configuration.md,
 * which must be what `npm run docs:config` writes now.
 */
const entries = SETTING_KEYS.map((key): [string, Setting] => [key, SETTINGS[key]]);

describe('the settings list', () => {
  it('gives every setting a unique OVERAIR_* variable, a flag (or a reason for none), a group and one doc line', () => {
    const envs = new Set<string>();
    const flags = new Set<string>();
    for (const [key, entry] of entries) {
      expect(entry.env, key).toMatch(/^OVERAIR_[A-Z0-9_]+$/);
      expect(envs.has(entry.env), `${entry.env} twice`).toBe(false);
      envs.add(entry.env);
      expect(Object.keys(SETTING_GROUPS), key).toContain(entry.group);
      // One line that fits a table cell and a help line; longer explanations go in the group's intro.
      expect(entry.doc, key).toMatch(/^\S.*\.$/);
      expect(entry.doc, key).not.toContain('\n');
      expect(entry.doc.length, `${key}'s doc line is too long`).toBeLessThanOrEqual(110);
      if (entry.flag.kind === 'env-only') {
        // Only a secret goes without a flag (a flag shows in `ps`), and the docs say why.
        expect(entry.secret, `${key} has no flag but is no secret`).toBe(true);
        expect(entry.flag.why, key).not.toBe('');
      } else {
        const names = flagsOf(entry);
        expect(names.length, key).toBeGreaterThan(0);
        for (const name of names) {
          expect(flags.has(name), `${name} twice`).toBe(false);
          flags.add(name);
        }
      }
      expect(entry.default === undefined || entry.defaultText === undefined, key).toBe(true);
    }
  });

  it('keeps every flag of earlier versions, the Capgo CLI names among them', () => {
    const all = entries.flatMap(([, entry]) => flagsOf(entry));
    for (const flag of [
      '--port',
      '-p',
      '--host',
      '--data',
      '-d',
      '--public-url',
      '--database-url',
      '--storage',
      '--s3-bucket-name',
      '--s3-region',
      '--s3-endpoint',
      '--s3-port',
      '--s3-apikey',
      '--s3-apisecret',
      '--no-s3-ssl',
      '--max-upload-size',
      '--max-native-upload-size',
      '--log-level',
      '--private-downloads',
      '--download-secret',
      '--download-url-ttl',
      '--trust-proxy',
      '--auth-max-failures',
      '--auth-failure-window',
      '--device-rate-limit',
      '--device-rate-window',
      '--stats-retention-days',
      '--session-ttl',
      '--shutdown-timeout',
      '--request-timeout',
      '--upload-idle-timeout',
      '--webhook-allow-hosts',
      '--blob-sweep-grace',
      '--blob-sweep-interval',
    ]) {
      expect(all).toContain(flag);
    }
  });

  it('turns flags, aliases and switches into the overrides loadConfig takes', () => {
    expect(overridesFromFlags({})).toEqual({});
    expect(
      overridesFromFlags({ s3BucketName: 'b-1', s3Apikey: 'k', s3Ssl: false, trustProxy: true, data: 'x' }),
    ).toEqual({ s3Bucket: 'b-1', s3AccessKey: 'k', s3Ssl: 'false', trustProxy: 'true', dataDir: 'x' });
    // The main name wins over an alias given too.
    expect(overridesFromFlags({ s3Bucket: 'main', s3BucketName: 'alias' })).toEqual({ s3Bucket: 'main' });
  });

  it('reads retentions as durations, a bare number as days, 0 or off as forever', () => {
    const load = (value: string) =>
      loadConfig({ OVERAIR_AUDIT_RETENTION: value, OVERAIR_WEBHOOK_DELIVERY_RETENTION: value });
    expect(loadConfig({}).auditRetentionSeconds).toBe(366 * 86_400);
    expect(loadConfig({}).webhookDeliveryRetentionSeconds).toBe(30 * 86_400);
    expect(load('30d').auditRetentionSeconds).toBe(30 * 86_400);
    expect(load('7').webhookDeliveryRetentionSeconds).toBe(7 * 86_400);
    expect(load('12h').auditRetentionSeconds).toBe(12 * 3600);
    expect(load('0').auditRetentionSeconds).toBe(0);
    expect(load('OFF').webhookDeliveryRetentionSeconds).toBe(0);
    expect(() => load('soon')).toThrow(/OVERAIR_AUDIT_RETENTION \("soon"\): expected a duration/);
  });

  it('reads durations with the ms package, a bare number as seconds, in whole seconds', () => {
    const load = (value: string) => loadConfig({ OVERAIR_SHUTDOWN_TIMEOUT: value }).shutdownTimeoutSeconds;
    expect(load('45')).toBe(45);
    expect(load('90s')).toBe(90);
    expect(load('2m')).toBe(120);
    expect(load('1.5m')).toBe(90);
    expect(load('10 minutes')).toBe(600);
    for (const value of ['soon', '1500ms', '0', '-5m', '5 fortnights', 'x'.repeat(200)]) {
      expect(() => load(value), value).toThrow('OVERAIR_SHUTDOWN_TIMEOUT');
    }
  });

  it('reads sizes with the bytes package (1024-based), k, m and g as kb, mb and gb, a bare number as bytes', () => {
    const load = (value: string) => loadConfig({ OVERAIR_MAX_UPLOAD_SIZE: value }).maxUploadBytes;
    expect(load('1048576')).toBe(1024 ** 2);
    expect(load('500mb')).toBe(500 * 1024 ** 2);
    expect(load('500m')).toBe(500 * 1024 ** 2);
    expect(load('2GB')).toBe(2 * 1024 ** 3);
    expect(load('1.5k')).toBe(1536);
    expect(load('64 kb')).toBe(64 * 1024);
    for (const value of ['lots', '0', '-1mb', '2tb', '1e9']) {
      expect(() => load(value), value).toThrow('OVERAIR_MAX_UPLOAD_SIZE');
    }
  });

  it('masks the secret settings, and a database password, when the configuration is shown', () => {
    const secrets = {
      OVERAIR_ADMIN_TOKEN: 'oat_admin-token-secret-0123456789',
      OVERAIR_ADMIN_USER: 'root',
      OVERAIR_ADMIN_PASSWORD: 'password-secret-0123',
      OVERAIR_DOWNLOAD_SECRET: 'download-secret-0123456789abcdef-0123',
      OVERAIR_SECRET_KEY: 'secret-key-at-rest-0123456789abcdef',
      OVERAIR_METRICS_TOKEN: 'metrics-secret-token-0123456789',
      OVERAIR_S3_ACCESS_KEY: 'AKIAEXAMPLE',
      OVERAIR_S3_SECRET_KEY: 's3-secret-key-example',
      OVERAIR_DATABASE_URL: 'postgres://overair:db-secret-pw@db:5432/overair',
      OVERAIR_PUBLIC_URL: 'https://updates.example.com',
      OVERAIR_OIDC_ISSUER: 'https://id.example.com',
      OVERAIR_OIDC_CLIENT_ID: 'overair',
      OVERAIR_OIDC_CLIENT_SECRET: 'oidc-client-secret-0123456789',
      OVERAIR_OIDC_ROLES: 'ops=server-admin',
    };
    const shown = JSON.stringify(configForDisplay(loadConfig(secrets)));
    for (const value of Object.values(secrets).filter((value) => value.includes('secret'))) {
      expect(shown).not.toContain(value);
    }
    expect(shown).not.toContain('db-secret-pw');
    expect(shown).toContain('postgres://overair:***@db:5432/overair');
    expect(shown).toContain('AKIAEXAMPLE');
    expect([...SECRET_KEYS].sort()).toEqual([
      'adminPassword',
      'adminToken',
      'downloadSecret',
      'metricsToken',
      'oidcClientSecret',
      's3SecretKey',
      'secretKey',
    ]);
  });
});

describe('overair serve --help', () => {
  it('lists every flag with its variable, and names the settings only a variable sets', async () => {
    let stdout = '';
    const io = { stdout: (text: string) => (stdout += text), stderr: () => {}, env: {}, cwd: '.' };
    expect(await runCli(['serve', '--help'], { ...io, interactive: false })).toBe(0);
    const help = { stdout };
    for (const [key, entry] of entries) {
      for (const flag of flagsOf(entry)) {
        expect(help.stdout, `${key}: ${flag}`).toMatch(new RegExp(`(^|[\\s,])${flag}([\\s,]|$)`, 'm'));
      }
      expect(help.stdout, key).toContain(entry.env);
    }
  });
});

describe('docs/configuration.md', () => {
  it('is what the settings list generates', async () => {
    const committed = await fs.readFile(CONFIGURATION_PAGE, 'utf8').catch(() => '');
    const generated = await renderConfigurationPage();
    expect(
      committed === generated,
      'docs/configuration.md is out of date with src/config-settings.ts: run `npm run docs:config` and commit the result',
    ).toBe(true);
  });

  it('has a row for every setting, and no cell longer than a line', async () => {
    const page = await fs.readFile(CONFIGURATION_PAGE, 'utf8');
    for (const [, entry] of entries) expect(page).toContain(`| \`${entry.env}\``);
    for (const line of page.split('\n').filter((text) => text.startsWith('|'))) {
      for (const cell of line.split(' | ')) expect(cell.trim().length).toBeLessThanOrEqual(130);
    }
  });
});
