import type { Logger } from 'pino';
import type { Repos } from '../db/index.js';
import { DigestPool } from '../bundle/digest-pool.js';
import { WebhookTargetPolicy } from '../domain/webhook-targets.js';
import { pingDatabase } from '../db/ping.js';
import { atMostEvery } from '../log.js';
import { Metrics } from '../metrics/registry.js';
import type { BlobStore } from '../storage/blob-store.js';
import { AppService } from './apps.js';
import { BundleFilesPreparer } from './bundle-files.js';
import { BundleService } from './bundles.js';
import { ChannelSelfService } from './channel-self.js';
import { ChannelService } from './channels.js';
import { DeviceActivity } from './device-activity.js';
import { DeviceHolds } from './holds.js';
import { DeviceService } from './devices.js';
import { LiveWatch } from './live-watch.js';
import { LiveRepo } from '../db/live.js';
import { InsightService } from './insight.js';
import { NativeBuildService } from './native-builds.js';
import { NativeGateService } from './native-gate.js';
import { Readiness } from './readiness.js';
import { ReleaseCache } from './release-cache.js';
import { ReleaseRequestService } from './release-requests.js';
import { RolloutScheduler, healthGate, type Clock, type ReleaseGate } from './rollout-scheduler.js';
import { SafetyService } from './safety.js';
import { SessionService } from './sessions.js';
import { SsoService, type SsoOptions } from './sso.js';
import { StatsService } from './stats.js';
import { TokenService } from './tokens.js';
import { TotpService } from './totp.js';
import { UpdateService } from './updates.js';
import { UserService } from './users.js';
import type { WebhookDeliveryOptions } from './webhook-dispatcher.js';
import { WebhookService } from './webhooks.js';

export interface ServiceOptions {
  maxUploadBytes: number;
  /** Largest native build upload (OVERAIR_MAX_NATIVE_UPLOAD_SIZE), 2 GiB unless given. */
  maxNativeUploadBytes?: number;
  cacheTtlMs?: number;
  /** Retry schedule, timeout and concurrency of webhook deliveries (tests shorten them). */
  webhooks?: WebhookDeliveryOptions;
  /** Internal hosts webhooks may reach (OVERAIR_WEBHOOK_ALLOW_HOSTS): names, addresses, ranges. */
  webhookAllowHosts?: readonly string[];
  /** Lifetime of a dashboard session (OVERAIR_SESSION_TTL), 12 hours unless given. */
  sessionTtlSeconds?: number;
  /** OVERAIR_REQUIRE_TOTP_FOR_ADMINS: admin users without two-factor sign-in may only enrol. */
  requireTotpForAdmins?: boolean;
  /** How long a release request can be approved (OVERAIR_RELEASE_REQUEST_TTL), 72 hours unless given. */
  releaseRequestTtlSeconds?: number;
  /** How stale a device's last_seen may get (OVERAIR_DEVICE_SEEN_PRECISION), 15 minutes unless given. */
  deviceSeenPrecisionSeconds?: number;
  /** Devices whose written state is remembered (OVERAIR_DEVICE_MEMORY), 1 000 000 unless given. */
  deviceMemory?: number;
  /** Single sign-on (OVERAIR_OIDC_*); none: off. */
  sso?: SsoOptions;
  /** OVERAIR_PASSWORD_SIGN_IN: false refuses password sign-in (true unless given). */
  passwordSignIn?: boolean;
  /** Scheduled rollouts: how often they are looked at (OVERAIR_ROLLOUT_TICK), the clock (tests fake it), the gate. */
  rollouts?: { tickMs?: number; clock?: Clock; gate?: ReleaseGate };
  /** This instance's metrics (served at /metrics when configured); a private set unless given. */
  metrics?: Metrics;
  /** OVERAIR_STATS_RETENTION_DAYS: how far back release insight may look (0 or unset: no limit). */
  statsRetentionDays?: number;
  /** The least time between two judgements of a channel on evidence (EVIDENCE_INTERVAL_MS unless given). */
  evidenceIntervalMs?: number;
  /** How often bundles whose files are still to be prepared are looked for (10 s unless given). */
  bundleFilesRetryMs?: number;
}

/** Every use case, wired once over shared repositories, storage and cache. */
export function createServices(repos: Repos, store: BlobStore, log: Logger, options: ServiceOptions) {
  const metrics = options.metrics ?? new Metrics();
  const cache = new ReleaseCache(
    repos,
    options.cacheTtlMs,
    undefined,
    atMostEvery(10_000, (appId: string, ageMs: number) =>
      log.warn(
        { appId, ageMs },
        'the database is unreachable: update checks answered from the last known release',
      ),
    ),
    metrics,
  );
  const activity = new DeviceActivity(repos, log, {
    seenPrecisionMs:
      options.deviceSeenPrecisionSeconds === undefined
        ? undefined
        : options.deviceSeenPrecisionSeconds * 1000,
    maxRemembered: options.deviceMemory,
  });
  const webhooks = new WebhookService(
    repos,
    log,
    new WebhookTargetPolicy(options.webhookAllowHosts),
    options.webhooks,
    metrics,
  );
  const channels = new ChannelService(repos, cache, webhooks, metrics);
  const insight = new InsightService(repos, activity, options.statsRetentionDays);
  // The automatic halt judges releases after each write of device events (threshold and evidence).
  const safety = new SafetyService(repos, channels, log, insight, options.evidenceIntervalMs);
  // Scheduled rollouts go on to their next step only when the gate finds the release healthy: by
  // the failure threshold and the evidence rule (release health, src/domain/release-health.ts).
  const rollouts = new RolloutScheduler(repos, channels, log, {
    tickMs: options.rollouts?.tickMs ?? 30_000,
    clock: options.rollouts?.clock,
    gate: options.rollouts?.gate ?? healthGate(insight),
  });
  const holds = new DeviceHolds(repos, cache);
  // Holds first: a device that just failed a release must not be offered it again before anything else.
  activity.onEventsWritten(holds.onEventsWritten);
  activity.onEventsWritten((events) => safety.afterWrite(events));
  // Devices watched live (docs/devices.md#watching-a-device-live); started by the server with its bus.
  const live = new LiveWatch(new LiveRepo(repos.db), log);
  const tokens = new TokenService(repos);
  const users = new UserService(repos);
  const totp = new TotpService(repos);
  const sessions = new SessionService(
    repos,
    tokens,
    users,
    totp,
    options.sessionTtlSeconds ?? 12 * 3600,
    options.requireTotpForAdmins,
  );
  // Worker threads, started at the first upload of a plain bundle; closed with the server.
  const digests = new DigestPool();
  // Started by the server (it resumes what an earlier run left preparing).
  const bundleFiles = new BundleFilesPreparer(repos, store, digests, cache, log, {
    maxBytes: options.maxUploadBytes,
    retryMs: options.bundleFilesRetryMs,
  });
  return {
    store,
    metrics,
    cache,
    activity,
    holds,
    apps: new AppService(repos, store, cache),
    digests,
    bundleFiles,
    bundles: new BundleService(repos, store, cache, options.maxUploadBytes, digests, bundleFiles, webhooks),
    nativeBuilds: new NativeBuildService(repos, store, options.maxNativeUploadBytes ?? 2 * 1024 ** 3, cache),
    nativeGate: new NativeGateService(repos, cache),
    channels,
    releases: new ReleaseRequestService(
      repos,
      channels,
      cache,
      options.releaseRequestTtlSeconds ?? 72 * 3600,
      webhooks,
    ),
    rollouts,
    devices: new DeviceService(repos, activity, cache),
    tokens,
    users,
    totp,
    sessions,
    sso: new SsoService(repos, sessions, log, options.sso ?? null),
    passwordSignIn: options.passwordSignIn ?? true,
    webhooks,
    audit: repos.audit,
    /** Failed admin authentications, counted over every instance (SharedAuthLimiter). */
    authFailures: repos.authFailures,
    live,
    updates: new UpdateService(cache, activity, live),
    channelSelf: new ChannelSelfService(repos, cache, activity),
    stats: new StatsService(cache, activity, repos, metrics, live),
    insight,
    safety,
    readiness: new Readiness(
      { database: () => pingDatabase(repos.db), storage: async () => store.ping?.() },
      log,
    ),
  };
}

export type Services = ReturnType<typeof createServices>;
