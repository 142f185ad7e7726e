import path from 'node:path';
import { z } from 'zod';
import { ConfigError } from './config-error.js';
import { SECRET_KEYS, SETTINGS, SETTING_KEYS, type SettingKey } from './config-settings.js';

/**
 * One typed configuration, read from OVERAIR_* environment variables and overridden by
 * `overair serve` flags. Validated once at start so that a bad value stops the server with
 * a message naming the setting instead of failing later on the first request. The settings
 * themselves (names, defaults, checks) are listed once, in config-settings.ts.
 */
type SettingsShape = { [K in SettingKey]: (typeof SETTINGS)[K]['schema'] };

const configSchema = z.object(
  Object.fromEntries(SETTING_KEYS.map((key) => [key, SETTINGS[key].schema])) as SettingsShape,
);

export type Config = z.output<typeof configSchema> & {
  /** Where state lives: a SQLite file (the default, under the data folder) or a PostgreSQL server. */
  database: DatabaseLocation;
  blobDir: string;
};

export type DatabaseLocation = { kind: 'sqlite'; file: string } | { kind: 'postgres'; url: string };

export type ConfigOverrides = Partial<Record<SettingKey, string | undefined>>;

export function loadConfig(env: NodeJS.ProcessEnv = process.env, overrides: ConfigOverrides = {}): Config {
  const raw: Record<string, string | undefined> = {};
  for (const key of SETTING_KEYS) {
    const value = overrides[key] ?? env[SETTINGS[key].env];
    raw[key] = value === undefined || value === '' ? SETTINGS[key].default : value;
  }
  const parsed = configSchema.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => {
      const key = String(issue.path[0]) as SettingKey;
      // Secrets are never echoed, not even rejected ones: the message may end up in a log.
      const shown = SECRET_KEYS.has(key)
        ? `${raw[key]?.length ?? 0} characters`
        : JSON.stringify(withoutPassword(raw[key]));
      return `${SETTINGS[key]?.env ?? key} (${shown}): ${issue.message}`;
    });
    throw new ConfigError(`invalid configuration:\n  ${problems.join('\n  ')}`);
  }
  const config = parsed.data;
  const problem = crossFieldProblem(config);
  if (problem) throw new ConfigError(`invalid configuration:\n  ${problem}`);
  const dataDir = path.resolve(config.dataDir);
  return {
    ...config,
    dataDir,
    database: databaseLocation(config.databaseUrl, dataDir),
    blobDir: path.join(dataDir, 'bundles'),
  };
}

/** Rules that span settings: a problem naming the variable that is missing or out of place. */
function crossFieldProblem(config: z.output<typeof configSchema>): string | null {
  const env = (key: SettingKey) => SETTINGS[key].env;
  const requiredWith = (missing: SettingKey, given: SettingKey) =>
    `${env(missing)}: required with ${env(given)}`;
  // The first admin user needs both; one without the other is a mistake, not a choice.
  if ((config.adminUser === undefined) !== (config.adminPassword === undefined)) {
    return config.adminUser === undefined
      ? requiredWith('adminUser', 'adminPassword')
      : requiredWith('adminPassword', 'adminUser');
  }
  // S3 storage cannot start without a bucket. Its keys are both given or both left to the AWS SDK's
  // default credential chain (environment, shared profile, web identity, instance role); one alone
  // is a mistake.
  if (config.storage === 's3') {
    if (!config.s3Bucket) return `${env('s3Bucket')}: required with ${env('storage')}=s3`;
    if (!config.s3AccessKey !== !config.s3SecretKey) {
      const neither = "(or give neither, for the AWS SDK's default credentials)";
      return config.s3AccessKey
        ? `${requiredWith('s3SecretKey', 's3AccessKey')} ${neither}`
        : `${requiredWith('s3AccessKey', 's3SecretKey')} ${neither}`;
    }
    // AWS's own endpoint comes from the region; a port for it is a mistake worth saying.
    if (config.s3Port !== undefined && config.s3Endpoint === undefined) {
      return `${env('s3Port')}: only used with ${env('s3Endpoint')}`;
    }
  }
  // Metrics on their own listener: the main port cannot be it (they would share one socket).
  const metrics = config.metricsListen;
  if (metrics && metrics.port !== 0 && metrics.port === config.port) {
    const wildcard = (host: string) => host === '0.0.0.0' || host === '::';
    if (metrics.host === config.host || wildcard(metrics.host) || wildcard(config.host))
      return `${env('metricsListen')}: port ${metrics.port} is the main port (${env('port')}); give the metrics listener a port of its own, or use ${env('metricsToken')} to serve /metrics on the main port`;
  }
  return ssoProblem(config);
}

/** Single sign-on needs its client, a callback URL and a role map; its other settings need it. */
function ssoProblem(config: z.output<typeof configSchema>): string | null {
  const env = (key: SettingKey) => SETTINGS[key].env;
  if (config.oidcIssuer === undefined) {
    const stray = (
      ['oidcClientId', 'oidcClientSecret', 'oidcClientSecretFile', 'oidcRedirectUrl'] as const
    ).find((key) => config[key] !== undefined);
    return stray ? `${env(stray)}: only used with ${env('oidcIssuer')}` : null;
  }
  const required = `required with ${env('oidcIssuer')}`;
  if (config.oidcClientId === undefined) return `${env('oidcClientId')}: ${required}`;
  if (config.oidcClientSecret !== undefined && config.oidcClientSecretFile !== undefined) {
    return `${env('oidcClientSecretFile')}: give it or ${env('oidcClientSecret')}, not both`;
  }
  if (config.oidcRedirectUrl === undefined && config.publicUrl === undefined) {
    return `${env('oidcRedirectUrl')}: ${required} when ${env('publicUrl')} is not set`;
  }
  if (config.oidcRoles.length === 0) {
    return `${env('oidcRoles')}: ${required} (without it, no one would get a role)`;
  }
  return null;
}

/**
 * The configuration as it may be shown (a log line, a diagnostic): secret settings are `***` when
 * set, and a password inside the database URL is masked too.
 */
export function configForDisplay(config: Config): Record<string, unknown> {
  const shown: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(config)) {
    if (SECRET_KEYS.has(key as SettingKey)) shown[key] = value === undefined ? undefined : '***';
    else if (key === 'databaseUrl') shown[key] = withoutPassword(value as string | undefined);
    else if (key === 'database') {
      const database = value as DatabaseLocation;
      shown[key] =
        database.kind === 'postgres' ? { ...database, url: withoutPassword(database.url) } : database;
    } else shown[key] = value;
  }
  return shown;
}

function databaseLocation(url: string | undefined, dataDir: string): DatabaseLocation {
  if (url === undefined) return { kind: 'sqlite', file: path.join(dataDir, 'overair.db') };
  if (/^postgres(ql)?:/.test(url)) return { kind: 'postgres', url };
  const file = url.replace(/^sqlite:(\/\/)?/, '');
  return { kind: 'sqlite', file: file === ':memory:' ? file : path.resolve(file) };
}

/** A URL's password is a secret too: `postgres://u:pw@h/db` is shown as `postgres://u:***@h/db`. */
function withoutPassword(value: string | undefined): string | undefined {
  return value?.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:/@]*):[^@/]*@/i, '$1:***@');
}
