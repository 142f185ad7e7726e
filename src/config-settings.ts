import bytes from 'bytes';
import { z } from 'zod';
import { parseList, parseSsoRoles } from './domain/sso.js';
import { durationSeconds } from './duration.js';
import { passwordProblem, usernameProblem } from './domain/users.js';
import { allowListProblem, parseAllowList } from './domain/webhook-targets.js';
import { listenAddressProblem, parseListenAddress } from './metrics/listen-address.js';
import { s3BucketProblem, s3EndpointProblem, s3PrefixProblem, s3RegionProblem } from './storage/s3-names.js';

/**
 * Every setting of `overair serve`, once: its environment variable, its flag, its default, its
 * check, whether it is a secret, and one line of documentation. The config loader (config.ts), the
 * `serve` flags and their help (cli/commands/serve.ts) and docs/configuration.md
 * (`npm run docs:config`) are all made from this list, so a setting added here is added everywhere.
 */

/** How a setting is given on the command line. */
type FlagShape =
  /** `--name <placeholder>` (and `-s` when `short` is given). */
  | { kind: 'value'; name: string; placeholder: string; short?: string; aliases?: string[] }
  /** `--name` alone means true; `--name false` or `--name true` say which. */
  | { kind: 'switch'; name: string }
  /** `--name` and `--no-name`: true or false; neither leaves the variable or the default. */
  | { kind: 'negatable'; name: string }
  /** No flag (only for a secret): `why` is said under the docs' table. */
  | { kind: 'env-only'; why: string };

export type SettingGroup = 'server' | 'storage' | 'security' | 'sso' | 'limits' | 'operations';

export interface Setting<S extends z.ZodType = z.ZodType> {
  env: `OVERAIR_${string}`;
  flag: FlagShape;
  /** As an operator would write it, e.g. `512mb`; run through `schema` like any given value. */
  default?: string;
  /** Shown instead when there is no literal default, e.g. `generated`; `code` in backticks as in `doc`. */
  defaultText?: string;
  /** Checks (and converts) the text of the value; a problem names the variable. */
  schema: S;
  /** Never printed: not in errors, logs, nor the docs' examples. */
  secret?: boolean;
  group: SettingGroup;
  /** One line, for `serve --help` and the docs' table. `code` in backticks is shown bare in help. */
  doc: string;
}

/** The docs page's sections, in order, with a short paragraph for what one table line cannot say. */
export const SETTING_GROUPS: Record<SettingGroup, { title: string; intro: string }> = {
  server: {
    title: 'Server',
    intro:
      'Where the server listens, where it keeps its state, and what it logs. Without `OVERAIR_DATABASE_URL`, state is a SQLite file in the data folder; PostgreSQL (13+) lets several instances share it. Migrations run at start.',
  },
  storage: {
    title: 'Storage and S3',
    intro:
      "Bundles and native builds are stored by content (sha256): as files under `DATA/bundles`, or in an S3-compatible bucket. The `--s3-*` flags also take the names the Capgo CLI uses (`--s3-bucket-name`, `--s3-apikey`, `--s3-apisecret`). Without keys, the AWS SDK's default credential chain is used (environment, shared profile, web identity, instance role); give both keys or neither.",
  },
  security: {
    title: 'Security',
    intro:
      "The first admin token and user, dashboard sessions, private download links, the limit on failed logins, which internal hosts webhooks may reach, and the key encrypting stored secrets. With `OVERAIR_SECRET_KEY` set, the download-link key, webhook signing secrets and TOTP secrets are stored encrypted (AES-256-GCM; plain ones are encrypted at start), and a start without it, or with another key, stops with an error: keep it apart from the database and its backups ([security.md](security.md#a-copy-of-the-database)). Behind a reverse proxy set `OVERAIR_TRUST_PROXY=true`, or every client shares the proxy's address and one client's failed logins lock everyone out.",
  },
  sso: {
    title: 'Single sign-on (OpenID Connect)',
    intro:
      'Dashboard sign-in through an OpenID Connect provider (Keycloak, Entra ID, Okta, Google...), on when `OVERAIR_OIDC_ISSUER` is set; [sso.md](sso.md) is the guide. The provider calls back `OVERAIR_OIDC_REDIRECT_URL` (by default `OVERAIR_PUBLIC_URL` + `/api/v1/session/oidc/callback`; one of the two is required). Roles come from the groups claim at every sign-in through `OVERAIR_OIDC_ROLES`: comma-separated `GROUP=server-admin`, `GROUP=ROLE` (a role on every app: `read`, `publish`, `release`, `admin`) or `GROUP=ROLE@APP_ID`. The issuer must be https, except on a loopback address (`127.0.0.1`, `::1`, `localhost`) or with `OVERAIR_OIDC_ALLOW_HTTP=true`. `OVERAIR_PASSWORD_SIGN_IN=false` refuses password sign-in (tokens keep working for the API, the CLI and the dashboard).',
  },
  limits: {
    title: 'Limits',
    intro:
      "Upload sizes, request timeouts, the device rate limit and how often unchanged devices are written. A request body must arrive within `OVERAIR_REQUEST_TIMEOUT` (headers within 60 s), so a client trickling bytes is cut; uploads are timed by idleness instead, so a slow but steady upload goes through. The device rate limit is off by default: a 429 stops a device's update traffic until `Retry-After`, so only turn it on on purpose; each instance counts in its own memory. A device that checks again with nothing changed is written at most every `OVERAIR_DEVICE_SEEN_PRECISION`, so the devices' last seen may lag by that much; a change is written at once. To know what it wrote, each instance remembers up to `OVERAIR_DEVICE_MEMORY` devices (about 50 bytes each: 50 MB for the default million once that many have checked in); a device it does not remember costs a database query at its next check (which writes nothing if nothing changed), so give it at least the devices that check within the precision.",
  },
  operations: {
    title: 'Operations',
    intro:
      'Metrics, shutdown, retention and clean-up. `/metrics` (Prometheus text format, [metrics.md](metrics.md)) is off by default: `OVERAIR_METRICS_LISTEN` serves it on a listener of its own (keep it on a private address), `OVERAIR_METRICS_TOKEN` on the main port to scrapers that send `Authorization: Bearer TOKEN`; with both, the own listener asks for the token too. At SIGTERM the server stops accepting requests, lets those in flight finish for `OVERAIR_SHUTDOWN_TIMEOUT`, writes queued device activity and closes the database. Stored blobs that no bundle or native build uses are deleted once older than `OVERAIR_BLOB_SWEEP_GRACE`; keep it above your longest upload plus a day. Device events, audit entries and settled webhook deliveries older than their retention are deleted soon after start and then hourly, in batches of short statements.',
  },
};

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

const sizeInBytes = z
  .string()
  .trim()
  .regex(/^\d+(\.\d+)?\s*([kmg]b?|b)?$/i, 'expected a size such as 500mb, 2gb or 1048576')
  // The `bytes` package reads it (1024-based); it wants kb, mb, gb where these settings also took k, m, g.
  .transform((text) => bytes.parse(text.replace(/([kmg])$/i, '$1b'))!)
  .pipe(z.number().int().positive());

/**
 * A duration such as 30s, 5m, 12h or 7d (a bare number is seconds), in whole seconds: the one parser
 * of durations, for settings and CLI flags alike.
 */
export const durationInSeconds = (max: number, maxText: string) =>
  z
    .string()
    .trim()
    .transform((text) => durationSeconds(text, 1))
    .pipe(
      z
        .number({ error: 'expected a duration such as 30s, 5m, 12h or 7d' })
        .int('expected whole seconds')
        .min(1, 'must be at least 1s')
        .max(max, `must be at most ${maxText}`),
    );

const onOff = z
  .string()
  .trim()
  .toLowerCase()
  .pipe(z.enum(['true', 'false'], { error: 'expected true or false' }))
  .transform((value) => value === 'true');

/** A retention: a duration (e.g. `366d`, `12h`; a bare number is days), or `0`/`off` to keep forever (0). */
const retentionInSeconds = (max: number, maxText: string) =>
  z
    .string()
    .trim()
    .toLowerCase()
    // A bare number is days, as in OVERAIR_STATS_RETENTION_DAYS.
    .transform((text) => (text === 'off' ? 0 : durationSeconds(text, 86_400)))
    .pipe(
      z
        .number({ error: 'expected a duration such as 30d or 366d, or 0 / off to keep forever' })
        .int('expected whole seconds')
        .min(0)
        .max(max, `must be at most ${maxText}`),
    );

/** A whole number from 0 to `max`, with `message` for anything else. */
const count = (max: number, message: string, maxMessage?: string) =>
  z.coerce
    .number({ error: message })
    .int(message)
    .min(0, message)
    .max(max, maxMessage ?? `must be at most ${max}`);

/** A string checked by one of the domain's rules (which return the problem, or null). */
const checkedBy = (problemOf: (value: string) => string | null) =>
  z.string().superRefine((value, ctx) => {
    const problem = problemOf(value);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  });

/** Keeps the literal types of each entry's schema while checking the entry's shape. */
const setting = <S extends z.ZodType>(entry: Setting<S>): Setting<S> => entry;

export const SETTINGS = {
  // Server
  port: setting({
    env: 'OVERAIR_PORT',
    flag: { kind: 'value', name: 'port', short: 'p', placeholder: 'port' },
    default: '3000',
    schema: z.coerce.number().int().min(0).max(65535),
    group: 'server',
    doc: 'Port to listen on (`0` picks a free one).',
  }),
  host: setting({
    env: 'OVERAIR_HOST',
    flag: { kind: 'value', name: 'host', placeholder: 'host' },
    default: '0.0.0.0',
    schema: z.string().min(1),
    group: 'server',
    doc: 'Address to bind.',
  }),
  dataDir: setting({
    env: 'OVERAIR_DATA_DIR',
    flag: { kind: 'value', name: 'data', short: 'd', placeholder: 'dir' },
    default: './data',
    schema: z.string().min(1),
    group: 'server',
    doc: 'Folder for the SQLite database and the bundle store.',
  }),
  publicUrl: setting({
    env: 'OVERAIR_PUBLIC_URL',
    flag: { kind: 'value', name: 'public-url', placeholder: 'url' },
    defaultText: "the request's origin",
    schema: z
      .url({ protocol: /^https?$/, error: 'expected an http(s) URL such as https://updates.example.com' })
      .transform((url) => url.replace(/\/+$/, ''))
      .optional(),
    group: 'server',
    doc: 'Base URL of download links given to devices, e.g. `https://updates.example.com`; set it behind a proxy.',
  }),
  databaseUrl: setting({
    env: 'OVERAIR_DATABASE_URL',
    flag: { kind: 'value', name: 'database-url', placeholder: 'url' },
    defaultText: '`sqlite:DATA/overair.db`',
    schema: z
      .string()
      .trim()
      .regex(
        /^(sqlite:.+|postgres(ql)?:\/\/.+)$/,
        'expected sqlite:PATH or postgres://USER:PASSWORD@HOST:PORT/DATABASE',
      )
      .optional(),
    group: 'server',
    doc: '`sqlite:PATH`, or `postgres://USER:PASSWORD@HOST:PORT/DATABASE` for PostgreSQL.',
  }),
  logLevel: setting({
    env: 'OVERAIR_LOG_LEVEL',
    flag: { kind: 'value', name: 'log-level', placeholder: 'level' },
    default: 'info',
    schema: z.enum(LOG_LEVELS),
    group: 'server',
    doc: '`fatal`, `error`, `warn`, `info`, `debug`, `trace` or `silent`.',
  }),

  // Storage and S3
  storage: setting({
    env: 'OVERAIR_STORAGE',
    flag: { kind: 'value', name: 'storage', placeholder: 'kind' },
    default: 'fs',
    schema: z.enum(['fs', 's3'], { error: 'expected fs or s3' }),
    group: 'storage',
    doc: 'Bundle storage: `fs` (files under `DATA/bundles`) or `s3` (an S3-compatible bucket).',
  }),
  s3Bucket: setting({
    env: 'OVERAIR_S3_BUCKET',
    flag: { kind: 'value', name: 's3-bucket', placeholder: 'bucket', aliases: ['s3-bucket-name'] },
    schema: checkedBy(s3BucketProblem).optional(),
    group: 'storage',
    doc: 'With `s3`: the bucket (required).',
  }),
  s3Region: setting({
    env: 'OVERAIR_S3_REGION',
    flag: { kind: 'value', name: 's3-region', placeholder: 'region' },
    default: 'us-east-1',
    schema: checkedBy(s3RegionProblem),
    group: 'storage',
    doc: 'With `s3`: the region (`auto` for Cloudflare R2).',
  }),
  s3Endpoint: setting({
    env: 'OVERAIR_S3_ENDPOINT',
    flag: { kind: 'value', name: 's3-endpoint', placeholder: 'host' },
    defaultText: 'AWS',
    schema: checkedBy(s3EndpointProblem).optional(),
    group: 'storage',
    doc: 'With `s3`: host (`s3.example.com`) or URL (`https://ACCOUNT.r2.cloudflarestorage.com`) of a non-AWS service.',
  }),
  s3Port: setting({
    env: 'OVERAIR_S3_PORT',
    flag: { kind: 'value', name: 's3-port', placeholder: 'port' },
    schema: z.coerce
      .number({ error: 'expected a port number' })
      .int('expected a port number')
      .min(1, 'expected a port number')
      .max(65535, 'expected a port number')
      .optional(),
    group: 'storage',
    doc: 'With an endpoint: its port.',
  }),
  s3AccessKey: setting({
    env: 'OVERAIR_S3_ACCESS_KEY',
    flag: { kind: 'value', name: 's3-access-key', placeholder: 'key', aliases: ['s3-apikey'] },
    defaultText: "the AWS SDK's chain",
    schema: z.string().max(256, 'must be at most 256 characters').optional(),
    group: 'storage',
    doc: 'With `s3`: the access key id, given with the secret key.',
  }),
  s3SecretKey: setting({
    env: 'OVERAIR_S3_SECRET_KEY',
    flag: { kind: 'value', name: 's3-secret-key', placeholder: 'secret', aliases: ['s3-apisecret'] },
    defaultText: "the AWS SDK's chain",
    schema: z.string().max(256, 'must be at most 256 characters').optional(),
    secret: true,
    group: 'storage',
    doc: 'With `s3`: the secret access key, given with the access key id.',
  }),
  s3Ssl: setting({
    env: 'OVERAIR_S3_SSL',
    flag: { kind: 'negatable', name: 's3-ssl' },
    // A bare endpoint host means https unless told otherwise (false for a local gateway).
    default: 'true',
    schema: onOff,
    group: 'storage',
    doc: 'https to an endpoint given as a host; `false`: plain http (a URL endpoint keeps its own scheme).',
  }),
  s3ForcePathStyle: setting({
    env: 'OVERAIR_S3_FORCE_PATH_STYLE',
    flag: { kind: 'negatable', name: 's3-force-path-style' },
    // Path-style URLs work with every S3-compatible service (and with AWS); virtual-host style does not.
    default: 'true',
    schema: onOff,
    group: 'storage',
    doc: 'Path-style URLs (`ENDPOINT/BUCKET/KEY`), which every S3 service takes; `false`: `BUCKET.ENDPOINT/KEY`.',
  }),
  s3Prefix: setting({
    env: 'OVERAIR_S3_PREFIX',
    flag: { kind: 'value', name: 's3-prefix', placeholder: 'prefix' },
    schema: checkedBy(s3PrefixProblem).optional(),
    group: 'storage',
    doc: 'Key prefix to share a bucket, e.g. `overair/`: objects are `PREFIX` + `bundles/ab/SHA256`.',
  }),

  // Security
  adminToken: setting({
    env: 'OVERAIR_ADMIN_TOKEN',
    flag: { kind: 'env-only', why: 'a flag would show in `ps` and stay in the shell history' },
    defaultText: 'minted at first start',
    schema: z.string().min(24, 'must be at least 24 characters').optional(),
    secret: true,
    group: 'security',
    doc: 'An admin token to accept (24+ characters); without one, the first start mints one and prints it.',
  }),
  adminUser: setting({
    env: 'OVERAIR_ADMIN_USER',
    flag: { kind: 'value', name: 'admin-user', placeholder: 'name' },
    schema: checkedBy(usernameProblem).optional(),
    group: 'security',
    doc: 'With `OVERAIR_ADMIN_PASSWORD`: the first admin user, created at a start with no user at all.',
  }),
  adminPassword: setting({
    env: 'OVERAIR_ADMIN_PASSWORD',
    flag: { kind: 'env-only', why: 'a flag would show in `ps` and stay in the shell history' },
    schema: checkedBy(passwordProblem).optional(),
    secret: true,
    group: 'security',
    doc: "With `OVERAIR_ADMIN_USER`: that user's password (10+ characters).",
  }),
  sessionTtlSeconds: setting({
    env: 'OVERAIR_SESSION_TTL',
    flag: { kind: 'value', name: 'session-ttl', placeholder: 'duration' },
    default: '12h',
    schema: durationInSeconds(30 * 86_400, '30d'),
    group: 'security',
    doc: 'Lifetime of a dashboard session, at most `30d`.',
  }),
  releaseRequestTtlSeconds: setting({
    env: 'OVERAIR_RELEASE_REQUEST_TTL',
    flag: { kind: 'value', name: 'release-request-ttl', placeholder: 'duration' },
    default: '72h',
    schema: durationInSeconds(90 * 86_400, '90d'),
    group: 'security',
    doc: 'How long a release request (four-eyes releases) can be approved, at most `90d`; then it expires.',
  }),
  requireTotpForAdmins: setting({
    env: 'OVERAIR_REQUIRE_TOTP_FOR_ADMINS',
    flag: { kind: 'switch', name: 'require-totp-for-admins' },
    default: 'false',
    schema: onOff,
    group: 'security',
    doc: '`true`: server admin users without two-factor sign-in get a session that can only enrol.',
  }),
  privateDownloads: setting({
    env: 'OVERAIR_PRIVATE_DOWNLOADS',
    flag: { kind: 'switch', name: 'private-downloads' },
    default: 'false',
    schema: onOff,
    group: 'security',
    doc: '`true`: download links are signed and expire; no other download is served.',
  }),
  downloadSecret: setting({
    env: 'OVERAIR_DOWNLOAD_SECRET',
    flag: { kind: 'value', name: 'download-secret', placeholder: 'secret' },
    defaultText: 'generated',
    schema: z.string().min(32, 'must be at least 32 characters').optional(),
    secret: true,
    group: 'security',
    doc: 'Key signing download links (32+ characters); unset: generated once into the database.',
  }),
  secretKey: setting({
    env: 'OVERAIR_SECRET_KEY',
    flag: { kind: 'env-only', why: 'a flag would show in `ps` and stay in the shell history' },
    schema: z.string().min(32, 'must be at least 32 characters').optional(),
    secret: true,
    group: 'security',
    doc: 'Key (32+ characters) encrypting the download-link key, webhook and TOTP secrets in the database.',
  }),
  downloadUrlTtlSeconds: setting({
    env: 'OVERAIR_DOWNLOAD_URL_TTL',
    flag: { kind: 'value', name: 'download-url-ttl', placeholder: 'duration' },
    // The plugin resumes an interrupted download at later checks, and Capgo signs its links for 7 days.
    default: '7d',
    schema: durationInSeconds(366 * 86_400, '366d'),
    group: 'security',
    doc: 'How long a download link works, e.g. `30m`, `12h`, `7d`; at most `366d`.',
  }),
  trustProxy: setting({
    env: 'OVERAIR_TRUST_PROXY',
    flag: { kind: 'switch', name: 'trust-proxy' },
    default: 'false',
    schema: onOff,
    group: 'security',
    doc: '`true` behind a reverse proxy: the client address is the last of `X-Forwarded-For`.',
  }),
  authMaxFailures: setting({
    env: 'OVERAIR_AUTH_MAX_FAILURES',
    flag: { kind: 'value', name: 'auth-max-failures', placeholder: 'n' },
    default: '10',
    schema: count(1_000_000, 'expected a whole number (0 turns the limit off)'),
    group: 'security',
    doc: 'Failed admin logins per address and window before 429s; `0`: no limit.',
  }),
  authFailureWindowSeconds: setting({
    env: 'OVERAIR_AUTH_FAILURE_WINDOW',
    flag: { kind: 'value', name: 'auth-failure-window', placeholder: 'duration' },
    default: '5m',
    schema: durationInSeconds(86_400, '1d'),
    group: 'security',
    doc: 'The window of that limit, also how long the address is then refused.',
  }),
  webhookAllowHosts: setting({
    env: 'OVERAIR_WEBHOOK_ALLOW_HOSTS',
    flag: { kind: 'value', name: 'webhook-allow-hosts', placeholder: 'hosts' },
    schema: checkedBy(allowListProblem).optional().transform(parseAllowList),
    group: 'security',
    doc: 'Internal webhook receivers to allow, comma-separated: names, addresses, ranges (`10.1.0.0/16`).',
  }),

  // Single sign-on
  oidcIssuer: setting({
    env: 'OVERAIR_OIDC_ISSUER',
    flag: { kind: 'value', name: 'oidc-issuer', placeholder: 'url' },
    schema: z
      .url({
        protocol: /^https?$/,
        error: 'expected the issuer URL, e.g. https://id.example.com/realms/acme',
      })
      .optional(),
    group: 'sso',
    doc: "The OpenID provider's issuer URL (its discovery document is under it); turns SSO on.",
  }),
  oidcClientId: setting({
    env: 'OVERAIR_OIDC_CLIENT_ID',
    flag: { kind: 'value', name: 'oidc-client-id', placeholder: 'id' },
    schema: z.string().trim().min(1).optional(),
    group: 'sso',
    doc: "Overair's client id at the provider.",
  }),
  oidcClientSecret: setting({
    env: 'OVERAIR_OIDC_CLIENT_SECRET',
    flag: { kind: 'env-only', why: 'a flag would show in `ps` and stay in the shell history' },
    schema: z.string().min(1).optional(),
    secret: true,
    group: 'sso',
    doc: 'The client secret (or `OVERAIR_OIDC_CLIENT_SECRET_FILE`); none: a public client, with PKCE.',
  }),
  oidcClientSecretFile: setting({
    env: 'OVERAIR_OIDC_CLIENT_SECRET_FILE',
    flag: { kind: 'value', name: 'oidc-client-secret-file', placeholder: 'path' },
    schema: z.string().min(1).optional(),
    group: 'sso',
    doc: 'A file holding the client secret (a mounted secret), read at start.',
  }),
  oidcRedirectUrl: setting({
    env: 'OVERAIR_OIDC_REDIRECT_URL',
    flag: { kind: 'value', name: 'oidc-redirect-url', placeholder: 'url' },
    defaultText: '`OVERAIR_PUBLIC_URL/api/v1/session/oidc/callback`',
    schema: z.url({ protocol: /^https?$/, error: 'expected an http(s) URL' }).optional(),
    group: 'sso',
    doc: 'The callback URL registered at the provider.',
  }),
  oidcScopes: setting({
    env: 'OVERAIR_OIDC_SCOPES',
    flag: { kind: 'value', name: 'oidc-scopes', placeholder: 'scopes' },
    default: 'openid email profile',
    schema: z
      .string()
      .trim()
      .regex(/(^|\s)openid(\s|$)/, 'must include openid')
      .transform((text) => text.split(/\s+/).join(' ')),
    group: 'sso',
    doc: 'Scopes asked for, space-separated (add the one that adds the groups claim if needed).',
  }),
  oidcProviderName: setting({
    env: 'OVERAIR_OIDC_PROVIDER_NAME',
    flag: { kind: 'value', name: 'oidc-provider-name', placeholder: 'name' },
    default: 'SSO',
    schema: z.string().trim().min(1).max(40, 'must be at most 40 characters'),
    group: 'sso',
    doc: 'The name on the sign-in button: "Sign in with NAME".',
  }),
  oidcUsernameClaim: setting({
    env: 'OVERAIR_OIDC_USERNAME_CLAIM',
    flag: { kind: 'value', name: 'oidc-username-claim', placeholder: 'claim' },
    default: 'email',
    schema: z.string().trim().min(1),
    group: 'sso',
    doc: 'The ID token claim that names the Overair user, e.g. `email` or `preferred_username`.',
  }),
  oidcGroupsClaim: setting({
    env: 'OVERAIR_OIDC_GROUPS_CLAIM',
    flag: { kind: 'value', name: 'oidc-groups-claim', placeholder: 'claim' },
    default: 'groups',
    schema: z.string().trim().min(1),
    group: 'sso',
    doc: "The ID token claim listing the user's groups (or roles).",
  }),
  oidcRoles: setting({
    env: 'OVERAIR_OIDC_ROLES',
    flag: { kind: 'value', name: 'oidc-roles', placeholder: 'map' },
    default: '',
    schema: z.string().transform((text, ctx) => {
      const parsed = parseSsoRoles(text);
      if ('problem' in parsed) {
        ctx.addIssue({ code: 'custom', message: parsed.problem });
        return z.NEVER;
      }
      return parsed.rules;
    }),
    group: 'sso',
    doc: 'Groups to roles, e.g. `ops=server-admin,dev=publish,qa=release@com.example.app`.',
  }),
  oidcAllowedDomains: setting({
    env: 'OVERAIR_OIDC_ALLOWED_DOMAINS',
    flag: { kind: 'value', name: 'oidc-allowed-domains', placeholder: 'domains' },
    default: '',
    schema: z.string().transform((text) => parseList(text.toLowerCase())),
    group: 'sso',
    doc: 'Only users whose verified email is in one of these domains, comma-separated; empty: any.',
  }),
  oidcAllowedGroups: setting({
    env: 'OVERAIR_OIDC_ALLOWED_GROUPS',
    flag: { kind: 'value', name: 'oidc-allowed-groups', placeholder: 'groups' },
    default: '',
    schema: z.string().transform(parseList),
    group: 'sso',
    doc: 'Only members of one of these groups, comma-separated; empty: any.',
  }),
  oidcAllowHttp: setting({
    env: 'OVERAIR_OIDC_ALLOW_HTTP',
    flag: { kind: 'switch', name: 'oidc-allow-http' },
    default: 'false',
    schema: onOff,
    group: 'sso',
    doc: '`true`: accept a plain-http issuer that is not on a loopback address (tests only).',
  }),
  passwordSignIn: setting({
    env: 'OVERAIR_PASSWORD_SIGN_IN',
    flag: { kind: 'negatable', name: 'password-sign-in' },
    default: 'true',
    schema: onOff,
    group: 'sso',
    doc: '`false`: dashboard sign-in with a user name and password is refused (tokens still work).',
  }),

  // Limits
  maxUploadBytes: setting({
    env: 'OVERAIR_MAX_UPLOAD_SIZE',
    flag: { kind: 'value', name: 'max-upload-size', placeholder: 'size' },
    default: '512mb',
    schema: sizeInBytes,
    group: 'limits',
    doc: 'Largest bundle upload (`kb`, `mb`, `gb` or bytes).',
  }),
  maxNativeUploadBytes: setting({
    env: 'OVERAIR_MAX_NATIVE_UPLOAD_SIZE',
    flag: { kind: 'value', name: 'max-native-upload-size', placeholder: 'size' },
    default: '2gb',
    schema: sizeInBytes,
    group: 'limits',
    doc: 'Largest native build (APK, AAB, IPA) upload.',
  }),
  requestTimeoutSeconds: setting({
    env: 'OVERAIR_REQUEST_TIMEOUT',
    flag: { kind: 'value', name: 'request-timeout', placeholder: 'duration' },
    // Node's own default for receiving a whole request: a slow-body (slowloris) client is cut then.
    default: '5m',
    schema: durationInSeconds(3600, '1h'),
    group: 'limits',
    doc: 'Longest time to receive a request, its body included, uploads aside; at most `1h`.',
  }),
  uploadIdleTimeoutSeconds: setting({
    env: 'OVERAIR_UPLOAD_IDLE_TIMEOUT',
    flag: { kind: 'value', name: 'upload-idle-timeout', placeholder: 'duration' },
    // Uploads are timed by idleness instead: 200 MB at 600 KB/s takes 6 minutes and is fine, a
    // minute without a byte is not. Long enough for a mobile CI runner's network hiccup.
    default: '60s',
    schema: durationInSeconds(3600, '1h'),
    group: 'limits',
    doc: 'An upload that receives nothing this long is cut (it has no total limit); at most `1h`.',
  }),
  deviceRateLimit: setting({
    env: 'OVERAIR_DEVICE_RATE_LIMIT',
    flag: { kind: 'value', name: 'device-rate-limit', placeholder: 'n' },
    // Off: a 429 stops every device's plugin traffic until Retry-After; only on purpose.
    default: '0',
    schema: count(100_000_000, 'expected a whole number of requests (0 turns the limit off)'),
    group: 'limits',
    doc: 'Device requests (update checks, stats, channel calls) per address and window; `0`: no limit.',
  }),
  deviceRateWindowSeconds: setting({
    env: 'OVERAIR_DEVICE_RATE_WINDOW',
    flag: { kind: 'value', name: 'device-rate-window', placeholder: 'duration' },
    default: '1m',
    schema: durationInSeconds(86_400, '1d'),
    group: 'limits',
    doc: 'The window of the device limit, also how long the address is then refused.',
  }),

  deviceSeenPrecisionSeconds: setting({
    env: 'OVERAIR_DEVICE_SEEN_PRECISION',
    flag: { kind: 'value', name: 'device-seen-precision', placeholder: 'duration' },
    // A fleet that checks again with the same state then writes nothing for this long: the update
    // check's cost at scale. A device's changed state is written at once all the same.
    default: '15m',
    schema: durationInSeconds(86_400, '1d'),
    group: 'limits',
    doc: 'A device checking again unchanged is written this often at most: its last seen may lag this much.',
  }),
  deviceMemory: setting({
    env: 'OVERAIR_DEVICE_MEMORY',
    flag: { kind: 'value', name: 'device-memory', placeholder: 'n' },
    // About 50 bytes a device (src/services/device-memory.ts), allocated as devices come: a fleet of
    // a million checking within the precision then sends nothing to the database.
    default: '1000000',
    schema: count(20_000_000, 'expected a whole number of devices (0 remembers none)'),
    group: 'limits',
    doc: 'Devices remembered as written (about 50 bytes each); a device forgotten costs a query when it checks.',
  }),

  // Operations
  metricsListen: setting({
    env: 'OVERAIR_METRICS_LISTEN',
    flag: { kind: 'value', name: 'metrics-listen', placeholder: 'host:port' },
    defaultText: 'off',
    schema: checkedBy(listenAddressProblem).optional().transform(parseListenAddress),
    group: 'operations',
    doc: 'Serve `/metrics` (Prometheus) on a listener of its own, e.g. `127.0.0.1:9464`; never on the main port then.',
  }),
  metricsToken: setting({
    env: 'OVERAIR_METRICS_TOKEN',
    flag: { kind: 'env-only', why: 'a flag would show in `ps` and stay in the shell history' },
    defaultText: 'off',
    schema: z
      .string()
      .min(24, 'must be at least 24 characters')
      .regex(/^\S+$/, 'must not contain spaces (it is sent as Authorization: Bearer TOKEN)')
      .optional(),
    secret: true,
    group: 'operations',
    doc: 'Bearer token (24+ characters) a scraper must send for `/metrics`: alone, `/metrics` is on the main port.',
  }),
  shutdownTimeoutSeconds: setting({
    env: 'OVERAIR_SHUTDOWN_TIMEOUT',
    flag: { kind: 'value', name: 'shutdown-timeout', placeholder: 'duration' },
    // Within Kubernetes' default grace period of 30 s, leaving time to write queued device activity
    // and close the database.
    default: '25s',
    schema: durationInSeconds(3600, '1h'),
    group: 'operations',
    doc: 'At SIGTERM, how long requests in flight may take to finish before they are cut; at most `1h`.',
  }),
  statsRetentionDays: setting({
    env: 'OVERAIR_STATS_RETENTION_DAYS',
    flag: { kind: 'value', name: 'stats-retention-days', placeholder: 'days' },
    default: '90',
    schema: count(
      36_500,
      'expected a whole number of days (0 keeps events forever)',
      'must be at most 36500 days',
    ),
    group: 'operations',
    doc: 'Days device events (the statistics) are kept, deleted hourly after that; `0`: forever.',
  }),
  auditRetentionSeconds: setting({
    env: 'OVERAIR_AUDIT_RETENTION',
    flag: { kind: 'value', name: 'audit-retention', placeholder: 'duration' },
    default: '366d',
    schema: retentionInSeconds(36_500 * 86_400, '36500d'),
    group: 'operations',
    doc: 'How long audit entries and settled release requests are kept (bare number: days); `0` or `off`: forever.',
  }),
  webhookDeliveryRetentionSeconds: setting({
    env: 'OVERAIR_WEBHOOK_DELIVERY_RETENTION',
    flag: { kind: 'value', name: 'webhook-delivery-retention', placeholder: 'duration' },
    // Far longer than the retry schedule: a delivery this old is settled.
    default: '30d',
    schema: retentionInSeconds(36_500 * 86_400, '36500d'),
    group: 'operations',
    doc: 'How long settled webhook deliveries are logged, deleted hourly after; `0` or `off`: forever.',
  }),
  blobSweepGraceSeconds: setting({
    env: 'OVERAIR_BLOB_SWEEP_GRACE',
    flag: { kind: 'value', name: 'blob-sweep-grace', placeholder: 'duration' },
    // Longer than any upload takes (its blobs come before its rows), plus the day for which S3
    // leaves a re-committed object's age alone.
    default: '2d',
    schema: durationInSeconds(365 * 86_400, '365d'),
    group: 'operations',
    doc: 'Stored blobs no bundle or native build uses are deleted once this old.',
  }),
  blobSweepIntervalSeconds: setting({
    env: 'OVERAIR_BLOB_SWEEP_INTERVAL',
    flag: { kind: 'value', name: 'blob-sweep-interval', placeholder: 'duration' },
    default: '6h',
    schema: durationInSeconds(30 * 86_400, '30d'),
    group: 'operations',
    doc: 'How often to look for such blobs, besides at every start; at most `30d`.',
  }),
  rolloutTickSeconds: setting({
    env: 'OVERAIR_ROLLOUT_TICK',
    flag: { kind: 'value', name: 'rollout-tick', placeholder: 'duration' },
    default: '30s',
    schema: durationInSeconds(3600, '1h'),
    group: 'operations',
    doc: 'How often scheduled rollouts are looked at: a step starts at most this long after its time; at most `1h`.',
  }),
};

export type SettingKey = keyof typeof SETTINGS;

export const SETTING_KEYS = Object.keys(SETTINGS) as SettingKey[];

/** The settings that are never printed. */
export const SECRET_KEYS: ReadonlySet<SettingKey> = new Set(
  SETTING_KEYS.filter((key) => (SETTINGS[key] as Setting).secret),
);

/** The text shown as a setting's default, if it has one. */
export function defaultShown(entry: Setting): string | undefined {
  return entry.default ?? entry.defaultText;
}
