import path from 'node:path';
import { z } from 'zod';

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
    .regex(/^sqlite:/, 'only sqlite:PATH is supported by this build (PostgreSQL support is planned)')
    .optional(),
  storage: z.enum(['fs']),
  maxUploadBytes: sizeInBytes,
  logLevel: z.enum(LOG_LEVELS),
  adminToken: z.string().min(24, 'must be at least 24 characters').optional(),
});

export type Config = z.output<typeof configSchema> & { databaseFile: string; blobDir: string };

/** Setting name -> environment variable, also used to name the setting in error messages. */
const ENV_NAMES = {
  port: 'OVERAIR_PORT',
  host: 'OVERAIR_HOST',
  dataDir: 'OVERAIR_DATA_DIR',
  publicUrl: 'OVERAIR_PUBLIC_URL',
  databaseUrl: 'OVERAIR_DATABASE_URL',
  storage: 'OVERAIR_STORAGE',
  maxUploadBytes: 'OVERAIR_MAX_UPLOAD_SIZE',
  logLevel: 'OVERAIR_LOG_LEVEL',
  adminToken: 'OVERAIR_ADMIN_TOKEN',
} as const satisfies Record<keyof z.input<typeof configSchema>, string>;

const DEFAULTS = {
  port: '3000',
  host: '0.0.0.0',
  dataDir: './data',
  storage: 'fs',
  maxUploadBytes: '512mb',
  logLevel: 'info',
} as const;

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
      return `${ENV_NAMES[key] ?? key} (${JSON.stringify(raw[key])}): ${issue.message}`;
    });
    throw new ConfigError(`invalid configuration:\n  ${problems.join('\n  ')}`);
  }
  const config = parsed.data;
  const dataDir = path.resolve(config.dataDir);
  const sqlitePath = config.databaseUrl?.replace(/^sqlite:(\/\/)?/, '');
  const databaseFile =
    sqlitePath === undefined
      ? path.join(dataDir, 'overair.db')
      : sqlitePath === ':memory:'
        ? sqlitePath
        : path.resolve(sqlitePath);
  return { ...config, dataDir, databaseFile, blobDir: path.join(dataDir, 'bundles') };
}
