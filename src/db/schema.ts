import type { ColumnType, Generated, Insertable, Selectable, Updateable } from 'kysely';
import type { Role } from '../domain/roles.js';

/**
 * The whole database schema as one interface. Portable types only, so SQLite and PostgreSQL share
 * it: timestamps are ISO-8601 strings (they sort as text), booleans are 0/1 integers.
 */
type Timestamp = string;
type Flag = number;

interface AppsTable {
  id: string;
  name: string;
  created_at: Timestamp;
  /** 1: every bundle must carry a signature that verifies with `signing_public_key`. */
  require_signature: Generated<Flag>;
  /** 1: every bundle must be encrypted for `encryption_public_key` (its key id matches). */
  require_encryption: Generated<Flag>;
  /** PEM of the RSA key devices verify signatures with (Capawesome's `LiveUpdate.publicKey`). */
  signing_public_key: ColumnType<string | null, string | null | undefined, string | null>;
  /** PEM of the RSA key devices decrypt with (Capgo's `CapacitorUpdater.publicKey`). */
  encryption_public_key: ColumnType<string | null, string | null | undefined, string | null>;
  /** Retention: the newest bundles each upload keeps (older ones go unless a channel needs them); null: all. */
  keep_bundles: ColumnType<number | null, number | null | undefined, number | null>;
  /**
   * Bumped by triggers whenever anything the release cache loads for the app changes (migration
   * 0019): the cache reloads an app only when its stamp moved. Never written by the code.
   */
  release_stamp: ColumnType<number, never, never>;
  /** 1: a change to a protected channel by someone without the release role waits for approval. */
  release_approval: Generated<Flag>;
}

export interface BundlesTable {
  id: Generated<number>;
  app_id: string;
  version: string;
  /** sha256 (hex) of the bytes a device downloads; for stored bundles also their storage key. */
  sha256: string;
  size: number | null;
  /** 'blob' when the bytes are in our storage, 'external' when they are hosted elsewhere. */
  location: 'blob' | 'external';
  external_url: string | null;
  /** What the device is told to verify: the plain sha256, or the encrypted checksum for encrypted bundles. */
  checksum: string;
  session_key: string | null;
  key_id: string | null;
  min_native_version: string | null;
  notes: string | null;
  /** RSA-SHA256 signature (base64) of the zip bytes by the publisher's key, when signed. */
  signature: string | null;
  created_at: Timestamp;
  created_by: string | null;
  /** The native layer it was built against (canonical JSON, domain/native-layer.ts); null: unknown. */
  native_layer: ColumnType<string | null, string | null | undefined, string | null>;
  /** sha256 (hex) of `native_layer`. */
  native_fingerprint: ColumnType<string | null, string | null | undefined, string | null>;
  /** Its files for delta updates (services/bundle-files.ts); only 'ready' ones are served. */
  files_state: ColumnType<FilesState, FilesState | undefined, FilesState>;
  /** Why its files could not be prepared (the last attempt's failure); null when nothing failed. */
  files_error: ColumnType<string | null, string | null | undefined, string | null>;
}

/** Where a bundle's files for delta updates stand (migration 0028). */
type FilesState = 'preparing' | 'ready' | 'none' | 'failed';

interface BundleFilesTable {
  bundle_id: number;
  /** Path in the installed bundle. */
  path: string;
  /** sha256 of the file's own bytes, which the plugin verifies. */
  file_hash: string;
  /** sha256 of the bytes stored and served (brotli-compressed when `brotli` is 1). */
  stored_sha256: string;
  stored_size: number;
  brotli: Flag;
}

export interface ChannelsTable {
  id: Generated<number>;
  app_id: string;
  name: string;
  bundle_id: number | null;
  is_default: Flag;
  allow_self_assign: Flag;
  created_at: Timestamp;
  updated_at: Timestamp;
  /** Staged rollout: this bundle goes to `rollout_percent` % of the devices, `bundle_id` to the rest. */
  rollout_bundle_id: number | null;
  rollout_percent: Generated<number>;
  /** Comma-separated platforms the channel serves; '' for all. */
  platforms: Generated<string>;
  allow_emulator: Generated<Flag>;
  allow_dev: Generated<Flag>;
  allow_prod: Generated<Flag>;
  /** 'none' | 'major' | 'minor' | 'patch' | 'under_native' (see domain/policy). */
  native_policy: Generated<string>;
  allow_downgrade: Generated<Flag>;
  /** Failure rate (0-1) that halts a release, or null for no automatic halt. */
  failure_threshold: number | null;
  failure_min_devices: Generated<number>;
  /** 1: halt a release whose failure rate is above its control group's, the 95% intervals apart. */
  halt_on_evidence: Generated<Flag>;
  /** Devices each group needs before the evidence rule judges. */
  evidence_min_devices: Generated<number>;
  /** 'serve' | 'refuse': devices on a binary nobody registered (domain/native-layer.ts). */
  unregistered_binaries: Generated<string>;
  /** 1: changing what the channel serves needs the release role (services/release-permission.ts). */
  protected: Generated<Flag>;
}

interface ChannelHistoryTable {
  id: Generated<number>;
  app_id: string;
  channel_id: number;
  channel_name: string;
  /**
   * 'set' | 'rollout' | 'rollback' | 'halt' | 'bundle_deleted', or a note (nothing changed live):
   * 'bundle_edited' | 'schedule_cancelled'
   */
  action: string;
  bundle_id: number | null;
  /** Kept as text so the history still reads after the bundle is deleted. */
  version: string | null;
  previous_version: string | null;
  reason: string | null;
  at: Timestamp;
  actor: string | null;
}

export interface DevicesTable {
  app_id: string;
  device_id: string;
  platform: string;
  version_name: string;
  version_build: string;
  version_code: string;
  version_os: string;
  plugin_version: string;
  custom_id: string;
  /** The channel the device asks for (the plugin's `defaultChannel`, kept on the device after setChannel). */
  requested_channel: string;
  /** The channel the server resolved for the device at its last update check. */
  channel: string;
  is_emulator: Flag;
  is_prod: Flag;
  channel_override: string | null;
  /** The channel a plugin before 7.34 assigned itself through the channel API. */
  self_assigned_channel: string | null;
  first_seen: Timestamp;
  last_seen: Timestamp;
  /**
   * The bundle the device reported when its row first had one (migration 0029): the bundle it
   * arrived with, in adoption's hourly arrivals. '' until then (a device pinned before its first check).
   */
  first_version: Generated<string>;
}

export interface DeviceEventsTable {
  id: Generated<number>;
  app_id: string;
  device_id: string;
  action: string;
  version_name: string;
  old_version_name: string;
  platform: string;
  plugin_version: string;
  /** The channel the device was on when it reported. */
  channel: Generated<string>;
  at: Timestamp;
}

/**
 * Per hour, channel and pair of bundles: how many devices moved from one to the other (an install,
 * `set`, or a rollback, `update_fail`), counted as the events are written (migration 0024): adoption
 * over time reads a few hundred of these rows instead of every install in the period.
 */
interface InstallMovesHourlyTable {
  app_id: string;
  channel: string;
  /** The hour, as the first 13 characters of an ISO timestamp (2026-05-01T14). */
  hour: string;
  from_version: string;
  to_version: string;
  devices: number;
}

/**
 * Devices on each channel per bundle they run (version_name not ''; channel not ''), kept by
 * triggers on devices (migration 0029): adoption's "running now" is these few rows.
 */
interface ChannelBundleDevicesTable {
  app_id: string;
  channel: string;
  version_name: string;
  devices: number;
}

/**
 * Devices on each channel per hour of their first sighting and the bundle they arrived with
 * (first_version, else the bundle they run), kept by triggers on devices (migration 0029): the
 * arrivals adoption undoes when it rebuilds the past. Pruned with the statistics retention.
 */
interface ChannelArrivalsHourlyTable {
  app_id: string;
  channel: string;
  /** The hour of first_seen, as the first 13 characters of an ISO timestamp (2026-05-01T14). */
  hour: string;
  version_name: string;
  devices: number;
}

/**
 * One device's part in the releases of one bundle on one channel (migration 0027), kept as its
 * events are written (db/devices.ts insertEvents): the first and last time it did something that
 * puts it in the bundle's group (tried it, or failed it), and the last of each kind the health
 * queries count. "Devices with an event since T" is "rows whose last is at or after T": release
 * health counts rows, not distinct devices among the events.
 */
export interface ReleaseDevicesTable {
  app_id: string;
  channel: string;
  version_name: string;
  device_id: string;
  /** Any event that makes the device one of the bundle's group (tried it, or failed it). */
  first_at: string;
  last_at: string;
  /** A failure: to start it, or before it ran (domain/device-events categoryOf). */
  first_failed_at: string | null;
  last_failed_at: string | null;
  /** Tried it (domain/safety TRIED_ACTIONS): the threshold rule's devices. */
  last_tried_at: string | null;
  /** Failed to start it (update_fail, app_launch_timeout): the threshold rule's failures. */
  last_start_failed_at: string | null;
  /** Installed it (`set`): a release's installs. */
  first_install_at: string | null;
  last_install_at: string | null;
}

export interface WebhooksTable {
  id: Generated<number>;
  /** null: every app. */
  app_id: string | null;
  url: string;
  /** HMAC key for the signature header; shown once at creation. */
  secret: string;
  /** Comma-separated event names, or '*'. */
  events: string;
  created_at: Timestamp;
}

export interface WebhookDeliveriesTable {
  id: Generated<number>;
  webhook_id: number;
  event: string;
  payload: string;
  /** 'pending' | 'delivered' | 'failed' */
  status: string;
  attempts: Generated<number>;
  response_status: number | null;
  last_error: string | null;
  next_attempt_at: Timestamp | null;
  created_at: Timestamp;
  delivered_at: Timestamp | null;
}

interface DeviceHoldsTable {
  app_id: string;
  device_id: string;
  version: string;
  install_failures: Generated<number>;
  download_failures: Generated<number>;
  last_action: string;
  first_at: Timestamp;
  last_at: Timestamp;
}

interface TokensTable {
  id: Generated<number>;
  name: string;
  /** sha256 (hex) of the secret; the secret itself is never stored. */
  hash: string;
  /** 1: a server-wide admin (users, server tokens, the whole audit log, every app). */
  server_admin: Generated<Flag>;
  /** The role on every app, present and future (src/domain/roles.ts); null: none. */
  all_apps_role: ColumnType<Role | null, Role | null | undefined, Role | null>;
  created_at: Timestamp;
  last_used_at: ColumnType<Timestamp | null, Timestamp | null | undefined, Timestamp | null>;
  /** After this moment the token is refused; null for no expiry. */
  expires_at: ColumnType<Timestamp | null, Timestamp | null | undefined, Timestamp | null>;
}

/** A role of a token or a user on one app (one of the two is set); deleted with either, or the app. */
interface AppGrantsTable {
  id: Generated<number>;
  token_id: number | null;
  user_id: number | null;
  app_id: string;
  role: Role;
}

/** Dashboard users, who sign in with a password or through single sign-on. */
interface UsersTable {
  id: Generated<number>;
  username: string;
  /** `scrypt$N$r$p$salt$hash` (src/crypto/passwords.ts); the password itself is never stored. */
  password_hash: string;
  /** As for tokens: server-wide admin, and the role on every app. */
  server_admin: Generated<Flag>;
  all_apps_role: ColumnType<Role | null, Role | null | undefined, Role | null>;
  created_at: Timestamp;
  password_changed_at: Timestamp;
  /**
   * The TOTP secret (base32), as stored by src/crypto/totp-secret.ts; set while an enrolment is in
   * progress and while two-factor sign-in is on. Null: no enrolment.
   */
  totp_secret: ColumnType<string | null, string | null | undefined, string | null>;
  /** When two-factor sign-in was turned on (the enrolment confirmed with a code); null: off. */
  totp_enabled_at: ColumnType<Timestamp | null, Timestamp | null | undefined, Timestamp | null>;
  /** The last time step (unix seconds / 30) a code was accepted for: no code is accepted twice. */
  totp_last_step: ColumnType<number | null, number | null | undefined, number | null>;
  /**
   * A user of single sign-on (docs/sso.md): the OpenID provider's issuer and the user's subject
   * there; both null for a local user. Such a user has no usable password.
   */
  oidc_issuer: ColumnType<string | null, string | null | undefined, string | null>;
  oidc_subject: ColumnType<string | null, string | null | undefined, string | null>;
}

/** One-time recovery codes of users with two-factor sign-in, as sha256 hashes. */
interface RecoveryCodesTable {
  id: Generated<number>;
  user_id: number;
  hash: string;
  created_at: Timestamp;
  /** Set when the code is used; a used code never works again. */
  used_at: Timestamp | null;
}

/** Dashboard sessions, opened with a user's password or with a token. */
interface SessionsTable {
  id: Generated<number>;
  /** sha256 (hex) of the cookie's secret; the secret itself is never stored. */
  hash: string;
  /** Exactly one of user_id and token_id is set; deleting the user or token deletes the session. */
  user_id: number | null;
  token_id: number | null;
  /** Sent back in X-CSRF-Token with every cookie-authenticated change. */
  csrf_token: string;
  created_at: Timestamp;
  expires_at: Timestamp;
  /** When a request last used it (written at most once a minute); null before the first. */
  last_used_at: ColumnType<Timestamp | null, Timestamp | null | undefined, Timestamp | null>;
  /** The browser's User-Agent at sign-in (cut to 256 characters), and the client address. */
  user_agent: ColumnType<string | null, string | null | undefined, string | null>;
  address: ColumnType<string | null, string | null | undefined, string | null>;
}

/** Native test builds (APK, AAB, IPA), stored as blobs; unique per app, platform and version. */
interface NativeBuildsTable {
  id: Generated<number>;
  app_id: string;
  platform: 'android' | 'ios';
  version: string;
  version_code: string | null;
  /** A native channel is just a name; a device's live-update channel of the same name finds it. */
  channel: string;
  sha256: string;
  size: number;
  file_kind: 'apk' | 'aab' | 'ipa';
  notes: string | null;
  created_at: Timestamp;
  created_by: string | null;
}

/** Binaries (store or test builds) registered with the native layer they were built with. */
interface NativeBinariesTable {
  id: Generated<number>;
  app_id: string;
  platform: 'android' | 'ios';
  /** The native version a device reports as version_build. */
  version: string;
  /** The build number a device reports as version_code; '' for any build of the version. */
  version_code: string;
  /** Canonical JSON of the native layer (domain/native-layer.ts). */
  native_layer: string;
  native_fingerprint: string;
  /** Where users get this binary (a store page), sent to devices a bundle is refused to. */
  store_url: string | null;
  /** 'register' (overair native register) or 'upload' (a test build uploaded with its layer). */
  source: string;
  created_at: Timestamp;
  created_by: string | null;
}

interface AuditLogTable {
  id: Generated<number>;
  at: Timestamp;
  actor: string;
  action: string;
  app_id: string | null;
  target: string | null;
  detail: string | null;
}

/** A change to a protected channel waiting for someone with the release role (migration 0022). */
export interface ReleaseRequestsTable {
  id: Generated<number>;
  app_id: string;
  channel_id: number;
  channel: string;
  action: 'set' | 'rollout';
  version: string;
  percent: number | null;
  seen_bundle_id: number | null;
  seen_rollout_bundle_id: number | null;
  seen_rollout_percent: number;
  status: 'pending' | 'approved' | 'rejected' | 'failed';
  /** The requester's audit name (`token:ci`). */
  requested_by: string;
  /** The requester's identity, `token:ID` or `user:ID`: never the approver's. */
  requester: string;
  created_at: Timestamp;
  expires_at: Timestamp;
  decided_by: string | null;
  decided_at: Timestamp | null;
  /** Why it was rejected, or why its approval failed. */
  reason: string | null;
}

/** Server-wide values every instance shares, by key (see SettingsRepo). */
interface SettingsTable {
  key: string;
  value: string;
  updated_at: Timestamp;
}

/** Failed admin authentications of one client address (an IPv6 /64), in its current window. */
interface AuthFailuresTable {
  address: string;
  failures: number;
  window_start: Timestamp;
  /** Until when the address is refused; null while it is not. */
  blocked_until: Timestamp | null;
}

/** A channel's rollout schedule (the latest): its steps, where it is, and how it ended. */
interface RolloutSchedulesTable {
  id: Generated<number>;
  app_id: string;
  channel_id: number;
  channel_name: string;
  /** The bundle rolled out; null once deleted (the schedule then ends at its next tick). */
  bundle_id: number | null;
  version: string;
  /** JSON of RolloutStep[] (domain/rollout-schedule.ts). */
  steps: string;
  /** Index in `steps` of the step being served. */
  current_step: number;
  step_started_at: Timestamp;
  /** 'running' | 'completed' | 'halted' | 'cancelled' */
  state: string;
  /** Why it ended (halted, cancelled); null while running and once completed. */
  reason: string | null;
  actor: string | null;
  created_at: Timestamp;
  updated_at: Timestamp;
}

/** A named lease on background work: who holds it, until when (see LeasesRepo). */
interface LeasesTable {
  name: string;
  holder: string;
  expires_at: Timestamp;
}

export interface Database {
  rollout_schedules: RolloutSchedulesTable;
  leases: LeasesTable;
  apps: AppsTable;
  bundles: BundlesTable;
  bundle_files: BundleFilesTable;
  channels: ChannelsTable;
  channel_history: ChannelHistoryTable;
  devices: DevicesTable;
  device_events: DeviceEventsTable;
  install_moves_hourly: InstallMovesHourlyTable;
  channel_bundle_devices: ChannelBundleDevicesTable;
  channel_arrivals_hourly: ChannelArrivalsHourlyTable;
  release_devices: ReleaseDevicesTable;
  device_holds: DeviceHoldsTable;
  tokens: TokensTable;
  app_grants: AppGrantsTable;
  webhooks: WebhooksTable;
  webhook_deliveries: WebhookDeliveriesTable;
  audit_log: AuditLogTable;
  users: UsersTable;
  sessions: SessionsTable;
  recovery_codes: RecoveryCodesTable;
  native_builds: NativeBuildsTable;
  native_binaries: NativeBinariesTable;
  settings: SettingsTable;
  auth_failures: AuthFailuresTable;
  release_requests: ReleaseRequestsTable;
  live_watches: LiveWatchesTable;
  live_events: LiveEventsTable;
}

export type AppRow = Selectable<AppsTable>;
export type AppChanges = Updateable<AppsTable>;
export type BundleRow = Selectable<BundlesTable>;
export type NewBundle = Insertable<BundlesTable>;
export type BundleFileRow = Selectable<BundleFilesTable>;
export type ChannelRow = Selectable<ChannelsTable>;
export type ChannelHistoryRow = Selectable<ChannelHistoryTable>;
export type ReleaseRequestRow = Selectable<ReleaseRequestsTable>;
export type RolloutScheduleRow = Selectable<RolloutSchedulesTable>;
export type NewRolloutSchedule = Insertable<RolloutSchedulesTable>;
export type DeviceRow = Selectable<DevicesTable>;
export type DeviceHoldRow = Selectable<DeviceHoldsTable>;
export type TokenRow = Selectable<TokensTable>;
export type AuditRow = Selectable<AuditLogTable>;
export type UserRow = Selectable<UsersTable>;
export type SessionRow = Selectable<SessionsTable>;
export type NativeBuildRow = Selectable<NativeBuildsTable>;
export type NewNativeBuild = Insertable<NativeBuildsTable>;
export type NativeBinaryRow = Selectable<NativeBinariesTable>;
export type NewNativeBinary = Insertable<NativeBinariesTable>;

/** A device an instance holds live streams for, until `expires_at` unless renewed (migration 0025). */
interface LiveWatchesTable {
  instance_id: string;
  app_id: string;
  device_id: string;
  expires_at: string;
}

/** A live event on its way to other instances (SQLite's bus; pruned after seconds). */
interface LiveEventsTable {
  id: Generated<number>;
  /** The instance that published it (it delivered it to its own streams already). */
  origin: string;
  /** The event as JSON (services/live-watch.ts). */
  payload: string;
  at: string;
}
