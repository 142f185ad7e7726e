import type { SecretBox } from '../crypto/secret-box.js';
import type { Kysely } from 'kysely';
import { AppsRepo } from './apps.js';
import { AuditRepo } from './audit.js';
import { AuthFailuresRepo } from './auth-failures.js';
import { BlobLock } from './blob-lock.js';
import { BundlesRepo } from './bundles.js';
import { ChannelsRepo } from './channels.js';
import { DevicesRepo } from './devices.js';
import { GrantsRepo } from './grants.js';
import { HoldsRepo } from './holds.js';
import { LeasesRepo } from './leases.js';
import { InsightRepo } from './insight.js';
import { NativeBinariesRepo } from './native-binaries.js';
import { NativeBuildsRepo } from './native-builds.js';
import { ReleaseRequestsRepo } from './release-requests.js';
import { RolloutSchedulesRepo } from './rollout-schedules.js';
import type { Database } from './schema.js';
import { SessionsRepo } from './sessions.js';
import { SettingsRepo } from './settings.js';
import { StatsRepo } from './stats.js';
import { TokensRepo } from './tokens.js';
import { UsersRepo } from './users.js';
import { WebhooksRepo } from './webhooks.js';

/** All repositories over one connection or transaction. */
export class Repos {
  readonly apps: AppsRepo;
  readonly bundles: BundlesRepo;
  readonly channels: ChannelsRepo;
  readonly devices: DevicesRepo;
  readonly stats: StatsRepo;
  readonly insight: InsightRepo;
  readonly tokens: TokensRepo;
  readonly grants: GrantsRepo;
  readonly audit: AuditRepo;
  readonly holds: HoldsRepo;
  readonly webhooks: WebhooksRepo;
  readonly users: UsersRepo;
  readonly sessions: SessionsRepo;
  readonly nativeBuilds: NativeBuildsRepo;
  readonly nativeBinaries: NativeBinariesRepo;
  readonly settings: SettingsRepo;
  readonly authFailures: AuthFailuresRepo;
  readonly releaseRequests: ReleaseRequestsRepo;
  readonly schedules: RolloutSchedulesRepo;
  readonly leases: LeasesRepo;

  /** `secrets`: OVERAIR_SECRET_KEY's box, which seals and opens the secrets stored (webhooks', users' TOTP secrets). */
  /**
   * `blobLock`: the database handle's lock on blob references (blob-lock.ts), handed on to every
   * transaction's repositories.
   */
  constructor(
    readonly db: Kysely<Database>,
    readonly secrets: SecretBox | null = null,
    readonly blobLock: BlobLock = BlobLock.of(db),
  ) {
    this.apps = new AppsRepo(db);
    this.bundles = new BundlesRepo(db);
    this.channels = new ChannelsRepo(db);
    this.devices = new DevicesRepo(db);
    this.stats = new StatsRepo(db);
    this.insight = new InsightRepo(db);
    this.tokens = new TokensRepo(db);
    this.grants = new GrantsRepo(db);
    this.audit = new AuditRepo(db);
    this.holds = new HoldsRepo(db);
    this.webhooks = new WebhooksRepo(db, secrets);
    this.users = new UsersRepo(db, secrets);
    this.sessions = new SessionsRepo(db);
    this.nativeBuilds = new NativeBuildsRepo(db);
    this.nativeBinaries = new NativeBinariesRepo(db);
    this.settings = new SettingsRepo(db);
    this.authFailures = new AuthFailuresRepo(db);
    this.releaseRequests = new ReleaseRequestsRepo(db);
    this.schedules = new RolloutSchedulesRepo(db);
    this.leases = new LeasesRepo(db);
  }

  /** Runs `work` in one transaction with repositories bound to it. */
  transaction<T>(work: (repos: Repos) => Promise<T>): Promise<T> {
    return this.db.transaction().execute((trx) => work(new Repos(trx, this.secrets, this.blobLock)));
  }
}

/** Unique-constraint violations look different per driver; this recognises both. */
export function isUniqueViolation(error: unknown): boolean {
  const code = (error as { code?: string } | null)?.code;
  return code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || code === '23505';
}
