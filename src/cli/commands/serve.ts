import type { Command } from 'commander';
import { loadConfig } from '../../config.js';
import { createLogger } from '../../log.js';
import { startServer } from '../../server.js';
import type { CliIo } from '../io.js';
import { installLastResort } from '../last-resort.js';
import { ShutdownOnSignal } from '../shutdown.js';

/** `serve`: the server itself. Runs until SIGINT or SIGTERM, then closes cleanly. */
export function registerServeCommand(program: Command, io: CliIo): void {
  program
    .command('serve')
    .description('start the update server (flags override OVERAIR_* environment variables)')
    .option('-p, --port <port>', 'port to listen on (OVERAIR_PORT, default 3000)')
    .option('--host <host>', 'address to bind (OVERAIR_HOST, default 0.0.0.0)')
    .option('-d, --data <dir>', 'data folder for the database and bundles (OVERAIR_DATA_DIR, default ./data)')
    .option('--public-url <url>', 'base URL devices use for downloads (OVERAIR_PUBLIC_URL)')
    .option(
      '--database-url <url>',
      'sqlite:PATH or postgres://USER:PASSWORD@HOST:PORT/DB (OVERAIR_DATABASE_URL, default DATA/overair.db)',
    )
    .option('--storage <kind>', 'bundle storage: fs or s3 (OVERAIR_STORAGE)')
    .option('--s3-bucket-name <bucket>', 'with --storage s3: the bucket (OVERAIR_S3_BUCKET)')
    .option('--s3-region <region>', 'with --storage s3: region, default us-east-1 (OVERAIR_S3_REGION)')
    .option(
      '--s3-endpoint <host>',
      'with --storage s3: host or URL of a non-AWS service, e.g. s3.example.com (OVERAIR_S3_ENDPOINT)',
    )
    .option('--s3-port <port>', 'with --s3-endpoint: its port (OVERAIR_S3_PORT)')
    .option(
      '--s3-apikey <key>',
      'with --storage s3: access key id (OVERAIR_S3_ACCESS_KEY; none: the AWS default chain)',
    )
    .option(
      '--s3-apisecret <secret>',
      'with --storage s3: secret access key; prefer the env var (OVERAIR_S3_SECRET_KEY)',
    )
    .option('--no-s3-ssl', 'with --s3-endpoint: plain http to it (OVERAIR_S3_SSL=false)')
    .option('--max-upload-size <size>', 'largest bundle upload, e.g. 512mb (OVERAIR_MAX_UPLOAD_SIZE)')
    .option(
      '--max-native-upload-size <size>',
      'largest native build (APK/AAB/IPA) upload, e.g. 2gb (OVERAIR_MAX_NATIVE_UPLOAD_SIZE)',
    )
    .option('--log-level <level>', 'fatal|error|warn|info|debug|trace|silent (OVERAIR_LOG_LEVEL)')
    .option(
      '--private-downloads [on]',
      'signed, expiring download links: true|false (OVERAIR_PRIVATE_DOWNLOADS)',
    )
    .option(
      '--download-secret <secret>',
      'key signing download links, 32+ characters; prefer the env var (OVERAIR_DOWNLOAD_SECRET)',
    )
    .option(
      '--download-url-ttl <duration>',
      'lifetime of a download link, e.g. 7d (OVERAIR_DOWNLOAD_URL_TTL)',
    )
    .option('--trust-proxy [on]', 'take the client address from X-Forwarded-For (OVERAIR_TRUST_PROXY)')
    .option(
      '--auth-max-failures <n>',
      'failed admin logins per address per window, 0: off (OVERAIR_AUTH_MAX_FAILURES)',
    )
    .option('--auth-failure-window <duration>', 'window of that limit, e.g. 5m (OVERAIR_AUTH_FAILURE_WINDOW)')
    .option(
      '--device-rate-limit <n>',
      'device requests per address and window, 0 for no limit (OVERAIR_DEVICE_RATE_LIMIT)',
    )
    .option(
      '--device-rate-window <duration>',
      'window of the device limit, e.g. 1m (OVERAIR_DEVICE_RATE_WINDOW)',
    )
    .option(
      '--stats-retention-days <days>',
      'days device events are kept, 0: forever (OVERAIR_STATS_RETENTION_DAYS, default 90)',
    )
    .option('--session-ttl <duration>', 'lifetime of a dashboard session, e.g. 12h (OVERAIR_SESSION_TTL)')
    .option(
      '--shutdown-timeout <duration>',
      'at SIGTERM, how long requests in flight may take to finish, e.g. 25s (OVERAIR_SHUTDOWN_TIMEOUT)',
    )
    .option(
      '--request-timeout <duration>',
      'longest time to receive a request, uploads aside, e.g. 5m (OVERAIR_REQUEST_TIMEOUT)',
    )
    .option(
      '--upload-idle-timeout <duration>',
      'an upload receiving nothing this long is cut, e.g. 60s (OVERAIR_UPLOAD_IDLE_TIMEOUT)',
    )
    .option(
      '--webhook-allow-hosts <hosts>',
      'internal webhook receivers to allow: names, addresses or ranges, comma-separated (OVERAIR_WEBHOOK_ALLOW_HOSTS)',
    )
    .option(
      '--blob-sweep-grace <duration>',
      'stored blobs no bundle or build uses are deleted once this old, e.g. 2d (OVERAIR_BLOB_SWEEP_GRACE)',
    )
    .option(
      '--blob-sweep-interval <duration>',
      'how often to look for such blobs, besides at start, e.g. 6h (OVERAIR_BLOB_SWEEP_INTERVAL)',
    )
    .action(async (flags: Record<string, string | undefined>) => {
      // `--private-downloads` and `--trust-proxy` alone mean true; with a value they are that value.
      const switches = flags as Record<string, string | true | undefined>;
      const onOff = (value: string | true | undefined) => (value === true ? 'true' : value);
      const config = loadConfig(io.env, {
        port: flags.port,
        host: flags.host,
        dataDir: flags.data,
        publicUrl: flags.publicUrl,
        databaseUrl: flags.databaseUrl,
        storage: flags.storage,
        maxUploadBytes: flags.maxUploadSize,
        maxNativeUploadBytes: flags.maxNativeUploadSize,
        logLevel: flags.logLevel,
        privateDownloads: onOff(switches.privateDownloads),
        downloadSecret: flags.downloadSecret,
        downloadUrlTtlSeconds: flags.downloadUrlTtl,
        trustProxy: onOff(switches.trustProxy),
        authMaxFailures: flags.authMaxFailures,
        authFailureWindowSeconds: flags.authFailureWindow,
        deviceRateLimit: flags.deviceRateLimit,
        deviceRateWindowSeconds: flags.deviceRateWindow,
        statsRetentionDays: flags.statsRetentionDays,
        sessionTtlSeconds: flags.sessionTtl,
        shutdownTimeoutSeconds: flags.shutdownTimeout,
        requestTimeoutSeconds: flags.requestTimeout,
        uploadIdleTimeoutSeconds: flags.uploadIdleTimeout,
        webhookAllowHosts: flags.webhookAllowHosts,
        blobSweepGraceSeconds: flags.blobSweepGrace,
        blobSweepIntervalSeconds: flags.blobSweepInterval,
        s3Bucket: flags.s3BucketName,
        s3Region: flags.s3Region,
        s3Endpoint: flags.s3Endpoint,
        s3Port: flags.s3Port,
        s3AccessKey: flags.s3Apikey,
        s3SecretKey: flags.s3Apisecret,
        // commander sets s3Ssl to true unless --no-s3-ssl is given; only the flag overrides the env.
        s3Ssl: (flags as Record<string, unknown>).s3Ssl === false ? 'false' : undefined,
      });
      // Signal handlers first: a SIGTERM that arrives while starting must still close cleanly.
      const shutdown = new ShutdownOnSignal(io);
      const log = createLogger(config.logLevel);
      installLastResort(log);
      const server = await startServer(config, log);
      shutdown.started(server);
      // Printed even when a signal already closes the server: the token is shown only this once.
      if (server.initialToken) {
        io.stdout(
          `\nCreated the first admin token. It is shown only this once; store it now:\n\n  ${server.initialToken}\n\n`,
        );
      }
    });
}
