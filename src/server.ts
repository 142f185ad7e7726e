import type { AddressInfo } from 'node:net';
import http from 'node:http';
import type { Hono } from 'hono';
import type { Kysely } from 'kysely';
import type { Config } from './config.js';
import { openDatabase } from './db/connect.js';
import { Repos } from './db/index.js';
import { ReleaseNotifications } from './db/release-notifications.js';
import { LiveRepo } from './db/live.js';
import { NotifyBus, TableBus } from './services/live-bus.js';
import type { Database } from './db/schema.js';
import { SettingsRepo } from './db/settings.js';
import { createHttpApp } from './http/app.js';
import { DownloadLinks } from './http/download.js';
import { DeviceRateLimit } from './http/device-rate-limit.js';
import { BodyTimeouts } from './http/body-timeouts.js';
import { drainHttpServer } from './http/drain.js';
import { createNodeListener } from './http/node-listener.js';
import { startMetricsListener, type MetricsListener } from './http/metrics-endpoint.js';
import { isDatabaseUnavailable } from './db/unavailable.js';
import { Metrics } from './metrics/registry.js';
import { createLogger, type Logger } from './log.js';
import { sweepOrphanBlobs } from './services/blob-sweep.js';
import { createServices, type Services } from './services/index.js';
import type { Clock, ReleaseGate } from './services/rollout-scheduler.js';
import type { WebhookDeliveryOptions } from './services/webhook-dispatcher.js';
import { loadOrCreateDownloadSecret } from './storage/download-secret.js';
import { SecretBox } from './crypto/secret-box.js';
import { prepareSecretsAtRest, sealedSecretSettings } from './services/secrets-at-rest.js';
import { ssoOptions } from './services/sso-options.js';
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
  /** The metrics listener's URL (`http://HOST:PORT/metrics`) with OVERAIR_METRICS_LISTEN, else null. */
  metricsUrl: string | null;
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
  /**
   * Scheduled rollouts' clock and tick (tests run them under a fake clock, ticking fast), and the
   * gate that judges a release between steps (healthGate unless given).
   */
  rollouts?: { clock?: Clock; tickMs?: number; gate?: ReleaseGate };
  /** The least time between two judgements of a channel on evidence (EVIDENCE_INTERVAL_MS unless given). */
  evidenceIntervalMs?: number;
}

/** Opens the database (migrating it), the bundle store, and starts listening. */
export async function startServer(
  config: Config,
  log: Logger = createLogger(config.logLevel),
  options: ServerOptions = {},
): Promise<RunningServer> {
  // Before anything is opened: an unreadable client secret file stops the start here.
  const sso = await ssoOptions(config);
  // The store first: when its bucket cannot be reached, nothing else has been opened yet.
  const store = await openBlobStore(config, log);
  const metrics = new Metrics();
  const metricsServed = config.metricsListen !== undefined || config.metricsToken !== undefined;
  const database = await openDatabase(config.database, {
    onQueryError: (error) => metrics.databaseError(isDatabaseUnavailable(error)),
  });
  if (metricsServed) {
    metrics.collectProcessMetrics();
    if (database.poolStats) metrics.watchPool(database.poolStats);
  }
  const secretBox = config.secretKey ? new SecretBox(config.secretKey) : null;
  const repos = new Repos(database.db, secretBox);
  try {
    // Before anything reads a stored secret: a wrong or missing key stops the start here.
    await prepareSecretsAtRest(repos, secretBox, log);
  } catch (error) {
    await database.close();
    await store.close?.();
    throw error;
  }
  const services = createServices(repos, store, log, {
    maxUploadBytes: config.maxUploadBytes,
    maxNativeUploadBytes: config.maxNativeUploadBytes,
    webhooks: options.webhooks,
    webhookAllowHosts: config.webhookAllowHosts,
    sessionTtlSeconds: config.sessionTtlSeconds,
    releaseRequestTtlSeconds: config.releaseRequestTtlSeconds,
    requireTotpForAdmins: config.requireTotpForAdmins,
    deviceSeenPrecisionSeconds: config.deviceSeenPrecisionSeconds,
    deviceMemory: config.deviceMemory,
    sso,
    passwordSignIn: config.passwordSignIn,
    rollouts: {
      tickMs: options.rollouts?.tickMs ?? config.rolloutTickSeconds * 1000,
      clock: options.rollouts?.clock,
      gate: options.rollouts?.gate,
    },
    metrics,
    statsRetentionDays: config.statsRetentionDays,
    evidenceIntervalMs: options.evidenceIntervalMs,
  });
  // Instances sharing a PostgreSQL database tell each other which apps' releases they changed.
  const notifications =
    config.database.kind === 'postgres'
      ? new ReleaseNotifications(config.database.url, database.db, services.cache, log)
      : undefined;
  // Live device events reach other instances by NOTIFY on PostgreSQL, through a table on SQLite;
  // before the listener starts, which then listens to them too.
  await services.live.start(
    notifications
      ? new NotifyBus(database.db, notifications, log)
      : new TableBus(new LiveRepo(database.db), log),
  );
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
            (await loadOrCreateDownloadSecret(
              config.dataDir,
              sealedSecretSettings(new SettingsRepo(database.db), secretBox),
              log,
            )),
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
    // On the main port only when there is no listener of its own.
    metricsToken: config.metricsListen === undefined ? config.metricsToken : undefined,
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
  let metricsListener: MetricsListener | undefined;
  if (config.metricsListen) {
    try {
      metricsListener = await startMetricsListener(metrics, config.metricsListen, config.metricsToken, log);
    } catch (error) {
      server.close();
      throw error;
    }
  }
  const shownHost = config.host === '0.0.0.0' || config.host === '::' ? 'localhost' : config.host;
  const url = `http://${shownHost}:${port}`;
  log.info({ url, data: config.dataDir }, 'overair listening');
  const retention = startRetention(log, [
    {
      what: 'old device events',
      keep: { retentionDays: config.statsRetentionDays },
      active: config.statsRetentionDays > 0,
      prune: (signal) => services.stats.prune(config.statsRetentionDays, { signal }),
    },
    {
      what: 'old audit log entries and settled release requests',
      keep: { retentionSeconds: config.auditRetentionSeconds },
      active: config.auditRetentionSeconds > 0,
      prune: (signal) => pruneAudit(repos, config.auditRetentionSeconds, signal),
    },
    {
      what: 'old webhook deliveries',
      keep: { retentionSeconds: config.webhookDeliveryRetentionSeconds },
      active: config.webhookDeliveryRetentionSeconds > 0,
      prune: (signal) => pruneWebhookDeliveries(repos, config.webhookDeliveryRetentionSeconds, signal),
    },
  ]);
  const sweep = startBlobSweep(repos, store, config, log);
  // Webhook deliveries left pending by an earlier run go out now.
  services.webhooks.start();
  // Schedules an earlier run left running go on (at their next step's time).
  services.rollouts.start();
  // Bundle files an earlier run left preparing (a crash, a failing store) are prepared again.
  services.bundleFiles.start();

  return {
    url,
    port,
    services,
    app,
    initialToken,
    db: database.db,
    metricsUrl: metricsListener?.url ?? null,
    async close() {
      // Out of the balancer's rotation (/readyz answers 503) and no new connections; requests in
      // flight finish, within the shutdown timeout, before anything they use is closed.
      services.readiness.startDraining();
      // Live streams never end by themselves: end them, or the drain would wait for its timeout.
      services.live.endStreams();
      // drainHttpServer stops listening before it returns (the socket is closed synchronously), so
      // from this log line on a new connection is refused: operators and tests can rely on it.
      const drained = drainHttpServer(server, config.shutdownTimeoutSeconds * 1000);
      log.info(
        { timeoutSeconds: config.shutdownTimeoutSeconds },
        'shutting down: no new connections; finishing requests in flight',
      );
      await retention.stop();
      await sweep.stop();
      // Before the webhooks close: a step under way emits its event.
      await services.rollouts.stop();
      services.safety.close();
      if ((await drained) === 'forced')
        log.warn('shutdown timeout reached: requests still in flight were cut');
      // Scrapes went on while requests finished; the counts after this are of no one's interest.
      await metricsListener?.close();
      bodyTimeouts.close();
      // A preparation of bundle files under way ends when the digest pool closes; the next start redoes it.
      const bundleFiles = services.bundleFiles.close();
      await services.digests.close();
      await bundleFiles;
      // Blob deletions of retention after an upload, before the store closes (the sweep would finish them).
      await services.bundles.settle();
      await services.activity.close();
      // After the activity flush, whose automatic halts may still emit events.
      await services.webhooks.close();
      await services.live.close();
      await notifications?.close();
      await database.close();
      await store.close?.();
    },
  };
}

/** Node's default time to receive a request's headers. */
const HEADERS_TIMEOUT_MS = 60_000;

/** How often old device events, audit entries and webhook deliveries are deleted. */
const RETENTION_INTERVAL_MS = 60 * 60 * 1000;

/** One kind of row deleted once older than its retention. */
interface RetentionTask {
  /** For the log: `old device events`. */
  what: string;
  /** The retention, as logged. */
  keep: Record<string, number>;
  /** False when the retention keeps everything: no timer at all. */
  active: boolean;
  /** Deletes in batches, stopping between two when `signal` is aborted; resolves to the count. */
  prune(signal: AbortSignal): Promise<number>;
}

/**
 * Deletes what is older than its retention (device events, audit entries, webhook deliveries), soon
 * after start and then hourly, one task after the other, on unref'd timers (they never keep the
 * process alive). `stop()` ends a clean-up under way after its current batch and waits for it; the
 * next start catches up.
 */
function startRetention(log: Logger, tasks: RetentionTask[]) {
  const controller = new AbortController();
  const active = tasks.filter((task) => task.active);
  let running: Promise<void> = Promise.resolve();
  const prune = () => {
    for (const task of active) {
      running = running.then(async () => {
        if (controller.signal.aborted) return;
        try {
          const deleted = await task.prune(controller.signal);
          if (deleted > 0) log.info({ deleted, ...task.keep }, `${task.what} deleted`);
        } catch (error) {
          log.error({ err: error }, `deleting ${task.what} failed`);
        }
      });
    }
  };
  const timers =
    active.length > 0 ? [setTimeout(prune, 10_000), setInterval(prune, RETENTION_INTERVAL_MS)] : [];
  for (const timer of timers) timer.unref();
  return {
    async stop() {
      for (const timer of timers) clearInterval(timer);
      controller.abort();
      await running;
    },
  };
}

/** Lets requests run between two batches; false once the server is stopping. */
function betweenBatches(signal: AbortSignal) {
  return async () => {
    await new Promise<void>((resolve) => setImmediate(resolve));
    return !signal.aborted;
  };
}

/**
 * Deletes audit entries older than `retentionSeconds`, in batches, and the release requests settled
 * before then (decided, or expired undecided), which record the same decisions; resolves to the
 * number of both.
 */
export async function pruneAudit(
  repos: Repos,
  retentionSeconds: number,
  signal?: AbortSignal,
  at = new Date(),
): Promise<number> {
  const cutoff = new Date(at.getTime() - retentionSeconds * 1000).toISOString();
  const entries = await repos.audit.deleteBefore(
    cutoff,
    betweenBatches(signal ?? new AbortController().signal),
  );
  if (signal?.aborted) return entries;
  return entries + (await repos.releaseRequests.deleteSettledBefore(cutoff));
}

/** Deletes settled webhook deliveries older than `retentionSeconds`, in batches. */
export function pruneWebhookDeliveries(
  repos: Repos,
  retentionSeconds: number,
  signal?: AbortSignal,
  at = new Date(),
) {
  const cutoff = new Date(at.getTime() - retentionSeconds * 1000).toISOString();
  return repos.webhooks.deleteDeliveriesBefore(
    cutoff,
    betweenBatches(signal ?? new AbortController().signal),
  );
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
