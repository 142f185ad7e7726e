import type { AddressInfo } from 'node:net';
import http from 'node:http';
import type { Hono } from 'hono';
import type { Kysely } from 'kysely';
import type { Config } from './config.js';
import { openDatabase } from './db/connect.js';
import { Repos } from './db/index.js';
import { ReleaseNotifications } from './db/release-notifications.js';
import type { Database } from './db/schema.js';
import { SettingsRepo } from './db/settings.js';
import { createHttpApp } from './http/app.js';
import { DownloadLinks } from './http/download.js';
import { DeviceRateLimit } from './http/device-rate-limit.js';
import { BodyTimeouts } from './http/body-timeouts.js';
import { drainHttpServer } from './http/drain.js';
import { createNodeListener } from './http/node-listener.js';
import { createLogger, type Logger } from './log.js';
import { sweepOrphanBlobs } from './services/blob-sweep.js';
import { createServices, type Services } from './services/index.js';
import type { WebhookDeliveryOptions } from './services/webhook-dispatcher.js';
import { loadOrCreateDownloadSecret } from './storage/download-secret.js';
import type { BlobStore } from './storage/blob-store.js';
import { openBlobStore } from './storage/open.js';

export interface RunningServer {
  url: string;
  port: number;
  services: Services;
  /** The Hono app: every route, callable without a socket (`app.request()`). */
  app: Hono;
  /** A freshly minted admin token on first start (printed once), else null. */
  initialToken: string | null;
  /** The database the server runs on (tests and benchmarks seed and inspect it). */
  db: Kysely<Database>;
  close(): Promise<void>;
}

/**
 * What is not configuration but may be tuned in code (tests shorten the webhook retry schedule and
 * replace the resolver of webhook receivers' names).
 */
export interface ServerOptions {
  webhooks?: WebhookDeliveryOptions;
  /** The built dashboard's folder (default: dist/web of this package). */
  dashboardDir?: string;
}

/** Opens the database (migrating it), the bundle store, and starts listening. */
export async function startServer(
  config: Config,
  log: Logger = createLogger(config.logLevel),
  options: ServerOptions = {},
): Promise<RunningServer> {
  // The store first: when its bucket cannot be reached, nothing else has been opened yet.
  const store = await openBlobStore(config, log);
  const database = await openDatabase(config.database);
  const repos = new Repos(database.db);
  const services = createServices(repos, store, log, {
    maxUploadBytes: config.maxUploadBytes,
    maxNativeUploadBytes: config.maxNativeUploadBytes,
    webhooks: options.webhooks,
    webhookAllowHosts: config.webhookAllowHosts,
    sessionTtlSeconds: config.sessionTtlSeconds,
    requireTotpForAdmins: config.requireTotpForAdmins,
    deviceSeenPrecisionSeconds: config.deviceSeenPrecisionSeconds,
    deviceMemory: config.deviceMemory,
  });
  // Instances sharing a PostgreSQL database tell each other which apps' releases they changed.
  const notifications =
    config.database.kind === 'postgres'
      ? new ReleaseNotifications(config.database.url, database.db, services.cache, log)
      : undefined;
  if (notifications) {
    services.cache.publishTo(notifications);
    await notifications.start();
  }
  const initialToken = await services.tokens.ensureAdminToken(config.adminToken);
  if (await services.users.ensureAdminUser(config.adminUser, config.adminPassword)) {
    log.info({ user: config.adminUser }, 'created the admin user from OVERAIR_ADMIN_USER');
  }
  const links = new DownloadLinks(
    config.publicUrl,
    config.privateDownloads
      ? {
          secret:
            config.downloadSecret ??
            (await loadOrCreateDownloadSecret(config.dataDir, new SettingsRepo(database.db), log)),
          ttlSeconds: config.downloadUrlTtlSeconds,
        }
      : undefined,
    Date.now,
    config.downloadUrlTtlSeconds,
  );
  const deviceLimit = new DeviceRateLimit(config.deviceRateLimit, config.deviceRateWindowSeconds * 1000);
  const app = createHttpApp(services, log, links, {
    deviceLimit,
    trustProxy: config.trustProxy,
    authMaxFailures: config.authMaxFailures,
    authFailureWindowMs: config.authFailureWindowSeconds * 1000,
    publicUrl: config.publicUrl,
    dashboardDir: options.dashboardDir,
  });

  const bodyTimeouts = new BodyTimeouts(
    {
      requestTimeoutMs: config.requestTimeoutSeconds * 1000,
      uploadIdleTimeoutMs: config.uploadIdleTimeoutSeconds * 1000,
    },
    log,
  );
  const server = http.createServer(
    {
      // Node's total limit on receiving a request would cut a slow but steady upload: BodyTimeouts
      // applies it to other requests and an idle limit to uploads. Headers keep Node's limit (its
      // default, which follows requestTimeout down to 0 unless given).
      requestTimeout: 0,
      headersTimeout: Math.min(HEADERS_TIMEOUT_MS, config.requestTimeoutSeconds * 1000),
    },
    createNodeListener(app, services, links, log, {
      deviceLimit,
      trustProxy: config.trustProxy,
      bodyTimeouts,
    }),
  );
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const shownHost = config.host === '0.0.0.0' || config.host === '::' ? 'localhost' : config.host;
  const url = `http://${shownHost}:${port}`;
  log.info({ url, data: config.dataDir }, 'overair listening');
  const retention = startStatsRetention(services, config.statsRetentionDays, log);
  const sweep = startBlobSweep(repos, store, config, log);
  // Webhook deliveries left pending by an earlier run go out now.
  services.webhooks.start();

  return {
    url,
    port,
    services,
    app,
    initialToken,
    db: database.db,
    async close() {
      // Out of the balancer's rotation (/readyz answers 503) and no new connections; requests in
      // flight finish, within the shutdown timeout, before anything they use is closed.
      services.readiness.startDraining();
      // drainHttpServer stops listening before it returns (the socket is closed synchronously), so
      // from this log line on a new connection is refused: operators and tests can rely on it.
      const drained = drainHttpServer(server, config.shutdownTimeoutSeconds * 1000);
      log.info(
        { timeoutSeconds: config.shutdownTimeoutSeconds },
        'shutting down: no new connections; finishing requests in flight',
      );
      await retention.stop();
      await sweep.stop();
      if ((await drained) === 'forced')
        log.warn('shutdown timeout reached: requests still in flight were cut');
      bodyTimeouts.close();
      await services.digests.close();
      // Blob deletions of retention after an upload, before the store closes (the sweep would finish them).
      await services.bundles.settle();
      await services.activity.close();
      // After the activity flush, whose automatic halts may still emit events.
      await services.webhooks.close();
      await notifications?.close();
      await database.close();
      await store.close?.();
    },
  };
}

/** Node's default time to receive a request's headers. */
const HEADERS_TIMEOUT_MS = 60_000;

/** How often old device events are deleted. */
const RETENTION_INTERVAL_MS = 60 * 60 * 1000;

/**
 * Deletes device events older than the retention, soon after start and then hourly, on unref'd
 * timers (they never keep the process alive). `stop()` ends a clean-up under way after its current
 * batch and waits for it; the next start catches up.
 */
function startStatsRetention(services: Services, retentionDays: number, log: Logger) {
  const controller = new AbortController();
  let running: Promise<void> = Promise.resolve();
  const prune = () => {
    running = running.then(() =>
      services.stats
        .prune(retentionDays, { signal: controller.signal })
        .then((deleted) => {
          if (deleted > 0) log.info({ deleted, retentionDays }, 'old device events deleted');
        })
        .catch((error: unknown) => log.error({ err: error }, 'deleting old device events failed')),
    );
  };
  const timers =
    retentionDays > 0 ? [setTimeout(prune, 10_000), setInterval(prune, RETENTION_INTERVAL_MS)] : [];
  for (const timer of timers) timer.unref();
  return {
    async stop() {
      for (const timer of timers) clearInterval(timer);
      controller.abort();
      await running;
    },
  };
}

/**
 * Sweeps orphan blobs (src/services/blob-sweep.ts) at start, which is when a crash's leftovers are
 * found, and then every OVERAIR_BLOB_SWEEP_INTERVAL, on an unref'd timer. `stop()` ends a sweep
 * under way after its current batch and waits for it.
 */
function startBlobSweep(repos: Repos, store: BlobStore, config: Config, log: Logger) {
  const controller = new AbortController();
  let running: Promise<void> = Promise.resolve();
  const graceSeconds = config.blobSweepGraceSeconds;
  const sweep = () => {
    running = running.then(async () => {
      if (controller.signal.aborted) return;
      const started = Date.now();
      try {
        const result = await sweepOrphanBlobs(repos, store, {
          graceMs: graceSeconds * 1000,
          signal: controller.signal,
        });
        const { scanned, deleted, freedBytes } = result;
        // Every blob by name when there are few (a crash's leftovers), else the first of them.
        log.info(
          {
            scanned,
            deleted: deleted.length,
            freedBytes,
            graceSeconds,
            ms: Date.now() - started,
            ...(deleted.length > 0 && { blobs: deleted.slice(0, 20) }),
          },
          'orphan blob sweep done',
        );
      } catch (error) {
        log.error({ err: error }, 'orphan blob sweep failed');
      }
    });
  };
  sweep();
  const timer = setInterval(sweep, config.blobSweepIntervalSeconds * 1000);
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      controller.abort();
      await running;
    },
  };
}
