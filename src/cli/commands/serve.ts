import type { Command } from 'commander';
import { loadConfig } from '../../config.js';
import { startServer, type RunningServer } from '../../server.js';
import type { CliIo } from '../io.js';

/** `serve`: the server itself. Runs until SIGINT or SIGTERM, then closes cleanly. */
export function registerServeCommand(program: Command, io: CliIo): void {
  program
    .command('serve')
    .description('start the update server (flags override OVERAIR_* environment variables)')
    .option('-p, --port <port>', 'port to listen on (OVERAIR_PORT, default 3000)')
    .option('--host <host>', 'address to bind (OVERAIR_HOST, default 0.0.0.0)')
    .option('-d, --data <dir>', 'data folder for the database and bundles (OVERAIR_DATA_DIR, default ./data)')
    .option('--public-url <url>', 'base URL devices use for downloads (OVERAIR_PUBLIC_URL)')
    .option('--database-url <url>', 'sqlite:PATH (OVERAIR_DATABASE_URL, default DATA/overair.db)')
    .option('--storage <kind>', 'bundle storage: fs (OVERAIR_STORAGE)')
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
      });
      // Signal handlers first: a SIGTERM that arrives while starting must still close cleanly.
      let stopping = false;
      const running: { server?: RunningServer } = {};
      const stop = () => {
        if (stopping) return;
        stopping = true;
        // Before the server is up, the start-up path below sees `stopping` and closes it.
        if (running.server) void running.server.close().then(() => process.exit(0));
      };
      process.on('SIGINT', stop);
      process.on('SIGTERM', stop);
      const server = await startServer(config);
      running.server = server;
      if (stopping) {
        await server.close();
        process.exit(0);
      }
      if (server.initialToken) {
        io.stdout(
          `\nCreated the first admin token. It is shown only this once; store it now:\n\n  ${server.initialToken}\n\n`,
        );
      }
    });
}
