/**
 * The JSON shapes of the admin API, shared by the server (which builds them) and the CLI (which
 * reads them), so the two cannot drift apart.
 */
import type { NativeLayer } from './domain/native-layer.js';

/** A native layer (domain/native-layer.ts): Capacitor's versions and the packages with native code. */
export type NativeLayerJson = NativeLayer;
export interface AppJson {
  id: string;
  name: string;
  created_at: string;
  /** Every bundle must carry a signature that verifies with `signing_public_key`. */
  require_signature: boolean;
  /** Every bundle must be encrypted for `encryption_public_key`. */
  require_encryption: boolean;
  /** PEM of the key devices verify signatures with (Capawesome's `LiveUpdate.publicKey`), or null. */
  signing_public_key: string | null;
  /** PEM of the key devices decrypt with (Capgo's `CapacitorUpdater.publicKey`), or null. */
  encryption_public_key: string | null;
  /** The key id of `encryption_public_key`, as Capgo devices send it (`key_id`), or null. */
  encryption_key_id: string | null;
  /** Retention: how many of the newest bundles each upload keeps (null: all). */
  keep_bundles: number | null;
  /** Four-eyes releases: changes of protected channels without the release role become requests. */
  release_approval: boolean;
}

/** The answer to changing an app: the app, and its bundles that no longer meet its requirements. */
export interface AppUpdatedJson extends AppJson {
  /** Bundles live nowhere that do not meet the requirements now in force: they cannot be made live. */
  noncompliant_bundles: { version: string; problems: string[] }[];
}

export interface BundleJson {
  id: number;
  app_id: string;
  version: string;
  sha256: string;
  size: number | null;
  location: 'blob' | 'external';
  url: string;
  checksum: string;
  encrypted: boolean;
  session_key: string | null;
  key_id: string | null;
  min_native_version: string | null;
  notes: string | null;
  /** RSA-SHA256 signature (base64) of the bytes at `url`, by the publisher's key; null when unsigned. */
  signature: string | null;
  created_at: string;
  created_by: string | null;
  /** The native layer it was built against; null when unknown (then no binary is refused it). */
  native_layer: NativeLayerJson | null;
  /** sha256 of the layer's canonical form; null when unknown. */
  native_fingerprint: string | null;
  /** Its files for delta updates (docs/devices.md#delta-updates): served once 'ready'. */
  files: 'preparing' | 'ready' | 'none' | 'failed';
  /** Why the last preparation of its files failed; null when none did. */
  files_error: string | null;
}

export interface ChannelJson {
  name: string;
  app_id: string;
  version: string | null;
  /** A staged rollout in progress: its version and share of devices, else null. */
  rollout: { version: string; percent: number } | null;
  is_default: boolean;
  allow_self_assign: boolean;
  /** Platforms served; empty for all. */
  platforms: string[];
  allow_emulator: boolean;
  allow_dev: boolean;
  allow_prod: boolean;
  native_policy: string;
  allow_downgrade: boolean;
  failure_threshold: number | null;
  failure_min_devices: number;
  /** Halt a rollout whose failure rate's 95% interval lies above its control group's. */
  halt_on_evidence: boolean;
  /** Devices each group needs before the evidence rule judges. */
  evidence_min_devices: number;
  /** Devices on a binary nobody registered: served or refused. */
  unregistered_binaries: 'serve' | 'refuse';
  /** Making a bundle live and rollouts need the release role (rollbacks do not). */
  protected: boolean;
  created_at: string;
  updated_at: string;
}

/** A change of a protected channel waiting for (or decided by) someone with the release role. */
export interface ReleaseRequestJson {
  id: number;
  app_id: string;
  channel: string;
  /** `set`: make `version` live; `rollout`: roll it out to `percent` %. */
  action: 'set' | 'rollout';
  version: string;
  percent: number | null;
  /** `expired`: pending past `expires_at`; `failed`: the change could no longer be made when approved. */
  status: 'pending' | 'approved' | 'rejected' | 'failed' | 'expired';
  requested_by: string;
  created_at: string;
  expires_at: string;
  decided_by: string | null;
  decided_at: string | null;
  /** Why it was rejected, or why it failed. */
  reason: string | null;
}

/** A binary registered with its native layer (`overair native register`, or a test build's upload). */
export interface NativeBinaryJson {
  app_id: string;
  platform: 'android' | 'ios';
  version: string;
  /** The build number it stands for; null: every build of the version. */
  version_code: string | null;
  native_layer: NativeLayerJson;
  native_fingerprint: string;
  store_url: string | null;
  source: 'register' | 'upload';
  created_at: string;
  created_by: string | null;
}

/** `POST /apps/APP/bundles/cleanup`: the bundles a retention cleanup deleted (or would delete). */
export interface CleanupJson {
  app_id: string;
  /** The newest bundles kept (the request's, else the app's keep_bundles), or null. */
  keep: number | null;
  older_than_days: number | null;
  dry_run: boolean;
  /** Newest first; with dry_run, what would be deleted. */
  deleted: { version: string; created_at: string; size: number | null }[];
  /** Bundles the limits alone would delete, kept because a channel can still need them. */
  kept: { version: string; reasons: string[] }[];
  /** Stored blobs (zips, delta files) deleted because no other bundle or file shares them. */
  blobs_deleted: number;
  /** Why some bytes could not be deleted now (the orphan blob sweep removes them later), else null. */
  blob_error: string | null;
}

/** What retention did after an upload (`retention` in the upload's answer, when keep_bundles is set). */
export interface UploadRetentionJson {
  keep: number;
  /** Versions deleted, newest first; their unshared bytes are deleted in the background. */
  deleted: string[];
  /** Why retention failed (the upload itself succeeded; the next upload or cleanup catches up), else null. */
  error: string | null;
}

/** The answer to an upload or registration: the bundle, and what retention did after it. */
export interface BundleUploadedJson extends BundleJson {
  retention?: UploadRetentionJson;
}

/** `GET /apps/APP/bundles/V/compatibility`: the bundle against every registered binary. */
export interface CompatibilityJson {
  app_id: string;
  version: string;
  /** The channel whose devices and rule were counted; null: every device, unregistered ones served. */
  channel: string | null;
  native_layer: NativeLayerJson | null;
  native_fingerprint: string | null;
  unregistered_binaries: 'serve' | 'refuse';
  /** Since when devices are counted (30 days back). */
  devices_since: string;
  binaries: {
    platform: 'android' | 'ios';
    version: string;
    version_code: string | null;
    native_fingerprint: string;
    compatible: boolean;
    /** What the bundle needs that the binary lacks, one line each. */
    problems: string[];
    devices: number;
  }[];
  /** Devices seen on binaries nobody registered. */
  unregistered: { platform: string; version: string; version_code: string; devices: number }[];
  /** Per native package (Capacitor's own first): the bundle's version and each binary's, in the order of `binaries`. */
  packages: { name: string; bundle: string | null; binaries: (string | null)[] }[];
  devices: { total: number; reached: number; refused: number };
}

/** A channel's rollout schedule (the latest), as GET .../schedule and a scheduled rollout answer it. */
export interface RolloutScheduleJson {
  channel: string;
  version: string;
  /** The steps as written: `1%:1h,10%:6h,100%`. */
  steps: string;
  /** Each step: share of devices, and seconds it lasts (null for the last, 100 %). */
  step_list: { percent: number; seconds: number | null }[];
  /** The step being served, from 1. */
  current_step: number;
  /** Its share of devices. */
  percent: number;
  state: 'running' | 'completed' | 'halted' | 'cancelled';
  step_started_at: string;
  /** When the current step's time is up (the next step starts at the tick after, if the release is healthy); null once it ended. */
  next_step_at: string | null;
  /** Why it ended (halted, cancelled); null while running and once completed. */
  reason: string | null;
  actor: string | null;
  created_at: string;
  updated_at: string;
}

export interface HistoryJson {
  id: number;
  channel: string;
  action: string;
  version: string | null;
  previous_version: string | null;
  reason: string | null;
  at: string;
  actor: string | null;
}

export interface DeviceJson {
  device_id: string;
  app_id: string;
  platform: string;
  version_name: string;
  version_build: string;
  version_code: string;
  version_os: string;
  plugin_version: string;
  custom_id: string;
  channel: string;
  requested_channel: string;
  channel_override: string | null;
  self_assigned_channel: string | null;
  is_emulator: boolean;
  is_prod: boolean;
  first_seen: string;
  last_seen: string;
}

/**
 * What a token or user holds (docs/security.md#roles): server-wide admin, the role on all apps (null
 * for none), and roles on single apps (app id to role). Roles nest: read < publish < release < admin.
 */
export interface RolesJson {
  server_admin: boolean;
  all: 'read' | 'publish' | 'release' | 'admin' | null;
  apps: Record<string, 'read' | 'publish' | 'release' | 'admin'>;
}

export interface TokenJson {
  id: number;
  name: string;
  roles: RolesJson;
  created_at: string;
  last_used_at: string | null;
  /** When the token stops working; null for never. */
  expires_at: string | null;
}

/** A dashboard user, as `GET /users` lists them (never the password hash). */
export interface UserJson {
  id: number;
  username: string;
  roles: RolesJson;
  created_at: string;
  password_changed_at: string;
  totp_enabled: boolean;
}

/** The answer of `POST`/`GET /session`: who is signed in, and the token for X-CSRF-Token. */
export interface SessionJson {
  user: { name: string; kind: 'user' | 'token'; roles: RolesJson };
  csrf_token: string;
  expires_at: string;
  /** An admin without two-factor sign-in on a server that requires it: this session may only enrol. */
  totp_enrolment_required: boolean;
}

/** A live session, as `GET /me/sessions` and `GET /sessions` list it. */
export interface SessionListingJson {
  id: number;
  user: string | null;
  token: string | null;
  created_at: string;
  last_used_at: string | null;
  expires_at: string;
  user_agent: string | null;
  address: string | null;
  current: boolean;
}

/** `GET /me/totp`. */
export interface TotpStatusJson {
  enabled: boolean;
  enrolling: boolean;
  enabled_at: string | null;
  recovery_codes_left: number;
}

/** `POST /me/totp`: an enrolment started. */
export interface TotpEnrolmentJson {
  secret: string;
  otpauth_uri: string;
  qr_code: string;
}

export interface Page<T> {
  items: T[];
  next_cursor?: string | null;
}

/** Counts of distinct devices for one bundle version (over the period, or one time bucket). */
export interface VersionCounts {
  /** Devices that downloaded it completely (download_complete, download_zip_complete, download_manifest_complete). */
  downloads: number;
  /** Devices that activated it (`set`). */
  installs: number;
  /** Devices whose download, checksum, decryption or unzip of it failed (`*_fail` before activation). */
  download_failures: number;
  /** Devices that failed to start it (update_fail, app_launch_timeout). */
  install_failures: number;
  /** Devices that rolled it back (update_fail). */
  rollbacks: number;
}

export interface VersionStatsJson extends VersionCounts {
  version: string;
  /** Devices running it now (their last report), on the channel when one is asked for. */
  devices: number;
}

export interface StatsJson {
  app_id: string;
  channel: string | null;
  since: string;
  until: string;
  bucket: 'hour' | 'day';
  /** Newest version first (by semver when both are, else by name). */
  versions: VersionStatsJson[];
  /** One point per bucket and version with any event; `at` is the bucket's start. */
  series: (VersionCounts & { at: string; version: string })[];
  plugin_versions: { plugin_version: string; devices: number }[];
}

/** `GET /apps/APP/channels/CHANNEL/adoption`: devices per bundle over time, and one release's installs. */
export interface AdoptionJson {
  app_id: string;
  channel: string;
  bucket: 'hour' | 'day';
  /** Start of the first bucket (within the statistics retention). */
  since: string;
  /** When the answer was made: the last bucket is still filling. */
  until: string;
  /** Every version with devices in some bucket, newest first. */
  versions: string[];
  /** One point per bucket, oldest first: devices running each version at the bucket's end (zeros left out). */
  points: { at: string; devices: Record<string, number> }[];
  /** The release asked for (else the channel's current one): distinct devices that installed it since it went live. */
  release: {
    version: string;
    /** When it went live or its rollout began (channel history); null when the history does not say. */
    since: string | null;
    installs: number;
    /** Cumulative installs at the end of each bucket of the period. */
    points: { at: string; installs: number }[];
  } | null;
}

/** A group of devices with its failure rate and the rate's 95% Wilson interval. */
export interface GroupHealthJson {
  version: string;
  devices: number;
  failed: number;
  rate: number;
  low: number;
  high: number;
  /** The group's hours: from `since` to `until` (null: now). */
  since: string | null;
  until: string | null;
}

/** `GET /apps/APP/channels/CHANNEL/health`: the current release's failure rate against others'. */
export interface ReleaseHealthJson {
  app_id: string;
  channel: string;
  /** False when the evidence rule finds the release worse than its control, or it is over the threshold. */
  healthy: boolean;
  reason: string;
  /** The evidence rule's verdict during a rollout; null when there is no control group. */
  verdict: 'worse' | 'no_evidence' | 'too_few_devices' | null;
  /** The channel's rollout share, or null when it releases its live bundle to everyone. */
  rollout_percent: number | null;
  /** The release being judged: the rollout's bundle, else the live one; null when nothing is live. */
  release: GroupHealthJson | null;
  /** During a rollout: devices outside it that tried the live bundle over the same hours. */
  control: GroupHealthJson | null;
  /** The release the judged one replaced on the channel, over its own hours. */
  previous: GroupHealthJson | null;
  /** Whether the failure threshold's rule (failure_threshold, failure_min_devices) says halt. */
  over_threshold: boolean;
  halt_on_evidence: boolean;
  evidence_min_devices: number;
}

export interface WebhookJson {
  id: number;
  /** The app whose events it receives; null for every app. */
  app_id: string | null;
  url: string;
  /** '*' for every event, or the event names it receives. */
  events: '*' | string[];
  created_at: string;
}

/** The answer to creating a webhook: the only time its signing secret is shown. */
export interface CreatedWebhookJson extends WebhookJson {
  secret: string;
}

export interface WebhookDeliveryJson {
  id: number;
  webhook_id: number;
  event: string;
  /** 'pending' (retries left), 'delivered' (a 2xx answer) or 'failed' (every attempt failed). */
  status: 'pending' | 'delivered' | 'failed';
  attempts: number;
  /** HTTP status of the last answer; null when there was none (network error, timeout, not sent yet). */
  response_status: number | null;
  /**
   * Why the last attempt failed, short: `HTTP 503`, `ECONNREFUSED`, `timed out after 10000 ms`,
   * `refused: ...` (an internal receiver). Never any of the answer's body.
   */
  last_error: string | null;
  /** When the next attempt is due, for pending deliveries. */
  next_attempt_at: string | null;
  created_at: string;
  delivered_at: string | null;
  /** The JSON body sent: {id, event, app_id, created_at, data}. */
  payload: unknown;
}

/** A version a device reported failing; `held` when it is no longer offered to that device. */
export interface HoldJson {
  device_id: string;
  version: string;
  install_failures: number;
  download_failures: number;
  held: boolean;
  last_action: string;
  first_at: string;
  last_at: string;
}

/** A native test build (APK, AAB or IPA) as the admin API returns it. */
export interface NativeBuildJson {
  app_id: string;
  platform: 'android' | 'ios';
  version: string;
  version_code: string | null;
  channel: string;
  sha256: string;
  size: number;
  file_kind: 'apk' | 'aab' | 'ipa';
  notes: string | null;
  created_at: string;
  created_by: string | null;
  /** The blob's download link, with a file name (signed and expiring with private downloads). */
  download_url: string;
  /** The stable link to the newest build of this channel and platform. */
  latest_url: string;
}

/** One event of a device's live stream (GET …/devices/:deviceId/live), as its `data` carries it. */
export type LiveStreamJson =
  | import('./domain/live-events.js').LiveEvent
  | { kind: 'dropped'; count: number }
  | { kind: 'gap'; missed: number | null }
  | { kind: 'closed'; reason: string; reconnect: boolean };
