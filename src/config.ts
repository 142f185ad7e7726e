import path from 'node:path';
import { z } from 'zod';
import { passwordProblem, usernameProblem } from './domain/users.js';
import { allowListProblem, parseAllowList } from './domain/webhook-targets.js';
import { s3BucketProblem, s3EndpointProblem, s3PrefixProblem, s3RegionProblem } from './storage/s3-names.js';

/**
 * One typed configuration, read from OVERAIR_* environment variables and overridden by
 * `overair serve` flags. Validated once at start so that a bad value stops the server with
 * a message naming the setting instead of failing later on the first request.
 */
const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

const sizeInBytes = z
  .string()
  .trim()
  .regex(/^\d+(\.\d+)?\s*(b|kb|mb|gb|k|m|g)?$/i, 'expected a size such as 500mb, 2gb or 1048576')
  .transform((text) => {
    const match = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(text)!;
    const unit = (match[2] ?? '').toLowerCase();
    const factor = unit.startsWith('g')
      ? 1024 ** 3
      : unit.startsWith('m')
        ? 1024 ** 2
        : unit.startsWith('k')
          ? 1024
          : 1;
    return Math.floor(Number(match[1]) * factor);
  })
  .pipe(z.number().int().positive());

const DURATION_UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400 };

/** A duration such as 30s, 5m, 12h or 7d (a bare number is seconds), in whole seconds. */
const durationInSeconds = (max: number, maxText: string) =>
  z
    .string()
    .trim()
    .regex(/^\d+\s*[smhd]?$/i, 'expected a duration such as 30s, 5m, 12h or 7d')
    .transform((text) => {
      const match = /^(\d+)\s*([a-z]?)$/i.exec(text)!;
      return Number(match[1]) * (DURATION_UNITS[(match[2] || 's').toLowerCase()] ?? 1);
    })
    .pipe(z.number().int().min(1, 'must be at least 1s').max(max, `must be at most ${maxText}`));

const onOff = z
  .string()
  .trim()
  .toLowerCase()
  .pipe(z.enum(['true', 'false'], { error: 'expected true or false' }))
  .transform((value) => value === 'true');

/** A string checked by one of the domain's rules (which return the problem, or null). */
const checkedBy = (problemOf: (value: string) => string | null) =>
  z.string().superRefine((value, ctx) => {
    const problem = problemOf(value);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  });

const configSchema = z.object({
  port: z.coerce.number().int().min(0).max(65535),
  host: z.string().min(1),
  dataDir: z.string().min(1),
  publicUrl: z
    .url({ protocol: /^https?$/, error: 'expected an http(s) URL such as https://updates.example.com' })
    .transform((url) => url.replace(/\/+$/, ''))
    .optional(),
  databaseUrl: z
    .string()
    .trim()
    .regex(
      /^(sqlite:.+|postgres(ql)?:\/\/.+)$/,
      'expected sqlite:PATH or postgres://USER:PASSWORD@HOST:PORT/DATABASE',
    )
    .optional(),
  storage: z.enum(['fs', 's3'], { error: 'expected fs or s3' }),
  maxUploadBytes: sizeInBytes,
  maxNativeUploadBytes: sizeInBytes,
  logLevel: z.enum(LOG_LEVELS),
  adminToken: z.string().min(24, 'must be at least 24 characters').optional(),
  privateDownloads: onOff,
  downloadSecret: z.string().min(32, 'must be at least 32 characters').optional(),
  downloadUrlTtlSeconds: durationInSeconds(366 * 86_400, '366d'),
  trustProxy: onOff,
  authMaxFailures: z.coerce
    .number({ error: 'expected a whole number (0 turns the limit off)' })
    .int('expected a whole number (0 turns the limit off)')
    .min(0)
    .max(1_000_000),
  authFailureWindowSeconds: durationInSeconds(86_400, '1d'),
  deviceRateLimit: z.coerce
    .number({ error: 'expected a whole number of requests (0 turns the limit off)' })
    .int('expected a whole number of requests (0 turns the limit off)')
    .min(0)
    .max(100_000_000),
  deviceRateWindowSeconds: durationInSeconds(86_400, '1d'),
  statsRetentionDays: z.coerce
    .number({ error: 'expected a whole number of days (0 keeps events forever)' })
    .int('expected a whole number of days (0 keeps events forever)')
    .min(0, 'expected a whole number of days (0 keeps events forever)')
    .max(36_500, 'must be at most 36500 days'),
  adminUser: checkedBy(usernameProblem).optional(),
  adminPassword: checkedBy(passwordProblem).optional(),
  sessionTtlSeconds: durationInSeconds(30 * 86_400, '30d'),
  shutdownTimeoutSeconds: durationInSeconds(3600, '1h'),
  requestTimeoutSeconds: durationInSeconds(3600, '1h'),
  uploadIdleTimeoutSeconds: durationInSeconds(3600, '1h'),
  blobSweepGraceSeconds: durationInSeconds(365 * 86_400, '365d'),
  blobSweepIntervalSeconds: durationInSeconds(30 * 86_400, '30d'),
  s3Bucket: checkedBy(s3BucketProblem).optional(),
  s3Region: checkedBy(s3RegionProblem),
  s3Endpoint: checkedBy(s3EndpointProblem).optional(),
  s3Port: z.coerce
    .number({ error: 'expected a port number' })
    .int('expected a port number')
    .min(1, 'expected a port number')
    .max(65535, 'expected a port number')
    .optional(),
  s3AccessKey: z.string().max(256, 'must be at most 256 characters').optional(),
  s3SecretKey: z.string().max(256, 'must be at most 256 characters').optional(),
  s3Ssl: onOff,
  s3ForcePathStyle: onOff,
  s3Prefix: checkedBy(s3PrefixProblem).optional(),
  webhookAllowHosts: checkedBy(allowListProblem).optional().transform(parseAllowList),
});

export type Config = z.output<typeof configSchema> & {
  /** Where state lives: a SQLite file (the default, under the data folder) or a PostgreSQL server. */
  database: DatabaseLocation;
  blobDir: string;
};

export type DatabaseLocation = { kind: 'sqlite'; file: string } | { kind: 'postgres'; url: string };

/** Setting name -> environment variable, also used to name the setting in error messages. */
const ENV_NAMES = {
  port: 'OVERAIR_PORT',
  host: 'OVERAIR_HOST',
  dataDir: 'OVERAIR_DATA_DIR',
  publicUrl: 'OVERAIR_PUBLIC_URL',
  databaseUrl: 'OVERAIR_DATABASE_URL',
  storage: 'OVERAIR_STORAGE',
  maxUploadBytes: 'OVERAIR_MAX_UPLOAD_SIZE',
  maxNativeUploadBytes: 'OVERAIR_MAX_NATIVE_UPLOAD_SIZE',
  logLevel: 'OVERAIR_LOG_LEVEL',
  adminToken: 'OVERAIR_ADMIN_TOKEN',
  privateDownloads: 'OVERAIR_PRIVATE_DOWNLOADS',
  downloadSecret: 'OVERAIR_DOWNLOAD_SECRET',
  downloadUrlTtlSeconds: 'OVERAIR_DOWNLOAD_URL_TTL',
  trustProxy: 'OVERAIR_TRUST_PROXY',
  authMaxFailures: 'OVERAIR_AUTH_MAX_FAILURES',
  authFailureWindowSeconds: 'OVERAIR_AUTH_FAILURE_WINDOW',
  deviceRateLimit: 'OVERAIR_DEVICE_RATE_LIMIT',
  deviceRateWindowSeconds: 'OVERAIR_DEVICE_RATE_WINDOW',
  statsRetentionDays: 'OVERAIR_STATS_RETENTION_DAYS',
  adminUser: 'OVERAIR_ADMIN_USER',
  adminPassword: 'OVERAIR_ADMIN_PASSWORD',
  sessionTtlSeconds: 'OVERAIR_SESSION_TTL',
  shutdownTimeoutSeconds: 'OVERAIR_SHUTDOWN_TIMEOUT',
  requestTimeoutSeconds: 'OVERAIR_REQUEST_TIMEOUT',
  uploadIdleTimeoutSeconds: 'OVERAIR_UPLOAD_IDLE_TIMEOUT',
  blobSweepGraceSeconds: 'OVERAIR_BLOB_SWEEP_GRACE',
  blobSweepIntervalSeconds: 'OVERAIR_BLOB_SWEEP_INTERVAL',
  s3Bucket: 'OVERAIR_S3_BUCKET',
  s3Region: 'OVERAIR_S3_REGION',
  s3Endpoint: 'OVERAIR_S3_ENDPOINT',
  s3Port: 'OVERAIR_S3_PORT',
  s3AccessKey: 'OVERAIR_S3_ACCESS_KEY',
  s3SecretKey: 'OVERAIR_S3_SECRET_KEY',
  s3Ssl: 'OVERAIR_S3_SSL',
  s3ForcePathStyle: 'OVERAIR_S3_FORCE_PATH_STYLE',
  s3Prefix: 'OVERAIR_S3_PREFIX',
  webhookAllowHosts: 'OVERAIR_WEBHOOK_ALLOW_HOSTS',
} as const satisfies Record<keyof z.input<typeof configSchema>, string>;

const DEFAULTS = {
  port: '3000',
  host: '0.0.0.0',
  dataDir: './data',
  storage: 'fs',
  maxUploadBytes: '512mb',
  maxNativeUploadBytes: '2gb',
  logLevel: 'info',
  privateDownloads: 'false',
  // The plugin resumes an interrupted download at later checks, and Capgo signs its links for 7 days.
  downloadUrlTtlSeconds: '7d',
  trustProxy: 'false',
  authMaxFailures: '10',
  authFailureWindowSeconds: '5m',
  // Off: a 429 stops every device's plugin traffic until Retry-After; only on purpose.
  deviceRateLimit: '0',
  deviceRateWindowSeconds: '1m',
  statsRetentionDays: '90',
  sessionTtlSeconds: '12h',
  // How long in-flight requests may take to finish at SIGTERM: within Kubernetes' default grace
  // period of 30 s, leaving time to write queued device activity and close the database.
  shutdownTimeoutSeconds: '25s',
  // Node's own default for receiving a whole request: a slow-body (slowloris) client is cut then.
  requestTimeoutSeconds: '5m',
  // Uploads are timed by idleness instead: 200 MB at 600 KB/s takes 6 minutes and is fine, a
  // minute without a byte is not. Long enough for a mobile CI runner's network hiccup.
  uploadIdleTimeoutSeconds: '60s',
  // Blobs no row references are deleted once this old: longer than any upload takes (its blobs
  // come before its rows), plus the day for which S3 leaves a re-committed object's age alone.
  blobSweepGraceSeconds: '2d',
  blobSweepIntervalSeconds: '6h',
  s3Region: 'us-east-1',
  // A bare endpoint host means https unless told otherwise (OVERAIR_S3_SSL=false for a local gateway).
  s3Ssl: 'true',
  // Path-style URLs work with every S3-compatible service (and with AWS); virtual-host style does not.
  s3ForcePathStyle: 'true',
} as const;

const SECRET_SETTINGS = new Set<string>(['adminToken', 'downloadSecret', 'adminPassword', 's3SecretKey']);

export type ConfigOverrides = Partial<Record<keyof typeof ENV_NAMES, string | undefined>>;

export class ConfigError extends Error {
  override name = 'ConfigError';
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env, overrides: ConfigOverrides = {}): Config {
  const raw: Record<string, string | undefined> = {};
  for (const [key, envName] of Object.entries(ENV_NAMES) as [keyof typeof ENV_NAMES, string][]) {
    const value = overrides[key] ?? env[envName];
    raw[key] = value === undefined || value === '' ? (DEFAULTS as Record<string, string>)[key] : value;
  }
  const parsed = configSchema.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => {
      const key = String(issue.path[0]) as keyof typeof ENV_NAMES;
      // Secrets are never echoed, not even rejected ones: the message may end up in a log.
      const shown = SECRET_SETTINGS.has(key)
        ? `${raw[key]?.length ?? 0} characters`
        : JSON.stringify(withoutPassword(raw[key]));
      return `${ENV_NAMES[key] ?? key} (${shown}): ${issue.message}`;
    });
    throw new ConfigError(`invalid configuration:\n  ${problems.join('\n  ')}`);
  }
  const config = parsed.data;
  // The first admin user needs both; one without the other is a mistake, not a choice.
  if ((config.adminUser === undefined) !== (config.adminPassword === undefined)) {
    const [missing, given] =
      config.adminUser === undefined
        ? ['OVERAIR_ADMIN_USER', 'OVERAIR_ADMIN_PASSWORD']
        : ['OVERAIR_ADMIN_PASSWORD', 'OVERAIR_ADMIN_USER'];
    throw new ConfigError(`invalid configuration:\n  ${missing}: required with ${given}`);
  }
  // S3 storage cannot start without a bucket. Its keys are both given or both left to the AWS SDK's
  // default credential chain (environment, shared profile, web identity, instance role); one alone
  // is a mistake.
  if (config.storage === 's3') {
    if (!config.s3Bucket) {
      throw new ConfigError('invalid configuration:\n  OVERAIR_S3_BUCKET: required with OVERAIR_STORAGE=s3');
    }
    if (!config.s3AccessKey !== !config.s3SecretKey) {
      const [missing, given] = config.s3AccessKey
        ? ['OVERAIR_S3_SECRET_KEY', 'OVERAIR_S3_ACCESS_KEY']
        : ['OVERAIR_S3_ACCESS_KEY', 'OVERAIR_S3_SECRET_KEY'];
      throw new ConfigError(
        `invalid configuration:\n  ${missing}: required with ${given} (or give neither, for the AWS SDK's default credentials)`,
      );
    }
    // AWS's own endpoint comes from the region; a port for it is a mistake worth saying.
    if (config.s3Port !== undefined && config.s3Endpoint === undefined) {
      throw new ConfigError('invalid configuration:\n  OVERAIR_S3_PORT: only used with OVERAIR_S3_ENDPOINT');
    }
  }
  const dataDir = path.resolve(config.dataDir);
  return {
    ...config,
    dataDir,
    database: databaseLocation(config.databaseUrl, dataDir),
    blobDir: path.join(dataDir, 'bundles'),
  };
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
