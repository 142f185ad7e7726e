import type {
  AppJson,
  BundleJson,
  ChannelJson,
  DeviceJson,
  HistoryJson,
  HoldJson,
  NativeBinaryJson,
  NativeLayerJson,
  ReleaseRequestJson,
  RolloutScheduleJson,
} from '../api-types.js';
import { keyIdOf } from '../crypto/capgo.js';
import { DOWNLOAD_FAILURES_TO_HOLD } from '../db/holds.js';
import type {
  AppRow,
  BundleRow,
  ChannelHistoryRow,
  DeviceHoldRow,
  DeviceRow,
  NativeBinaryRow,
  RolloutScheduleRow,
} from '../db/schema.js';
import { formatRolloutSteps, type RolloutStep } from '../domain/rollout-schedule.js';
import { nextStepAt } from '../services/rollout-scheduler.js';
import type { ChannelView } from '../services/channels.js';
import type { ReleaseRequestView } from '../services/release-requests.js';
import type { RolesJson, WebhookDeliveryJson, WebhookJson } from '../api-types.js';
import type { DeliveryRow } from '../db/webhooks.js';
import type { PublicWebhook } from '../services/webhooks.js';
import type { Grants } from '../domain/roles.js';
import type { Principal } from '../services/sessions.js';
import type { PublicToken } from '../services/tokens.js';
import type { PublicUser } from '../services/users.js';

/** Admin API shapes: snake_case, flags as booleans, internal ids only where they serve as cursors. */
export function appJson(app: AppRow): AppJson {
  return {
    id: app.id,
    name: app.name,
    created_at: app.created_at,
    require_signature: app.require_signature === 1,
    require_encryption: app.require_encryption === 1,
    signing_public_key: app.signing_public_key,
    encryption_public_key: app.encryption_public_key,
    encryption_key_id: app.encryption_public_key === null ? null : keyIdOf(app.encryption_public_key),
    keep_bundles: app.keep_bundles,
    release_approval: app.release_approval === 1,
  };
}

export function bundleJson(bundle: BundleRow, url: string): BundleJson {
  return {
    id: bundle.id,
    app_id: bundle.app_id,
    version: bundle.version,
    sha256: bundle.sha256,
    size: bundle.size === null ? null : Number(bundle.size),
    location: bundle.location,
    url,
    checksum: bundle.checksum,
    encrypted: bundle.session_key !== null,
    session_key: bundle.session_key,
    key_id: bundle.key_id,
    min_native_version: bundle.min_native_version,
    notes: bundle.notes,
    signature: bundle.signature,
    created_at: bundle.created_at,
    created_by: bundle.created_by,
    native_layer: bundle.native_layer === null ? null : (JSON.parse(bundle.native_layer) as NativeLayerJson),
    native_fingerprint: bundle.native_fingerprint,
    files: bundle.files_state,
    files_error: bundle.files_error,
  };
}

export function nativeBinaryJson(binary: NativeBinaryRow): NativeBinaryJson {
  return {
    app_id: binary.app_id,
    platform: binary.platform,
    version: binary.version,
    version_code: binary.version_code === '' ? null : binary.version_code,
    native_layer: JSON.parse(binary.native_layer) as NativeLayerJson,
    native_fingerprint: binary.native_fingerprint,
    store_url: binary.store_url,
    source: binary.source as NativeBinaryJson['source'],
    created_at: binary.created_at,
    created_by: binary.created_by,
  };
}

export function channelJson(channel: ChannelView): ChannelJson {
  return {
    name: channel.name,
    app_id: channel.app_id,
    version: channel.version,
    rollout: channel.rolloutVersion
      ? { version: channel.rolloutVersion, percent: channel.rollout_percent }
      : null,
    is_default: channel.is_default === 1,
    allow_self_assign: channel.allow_self_assign === 1,
    platforms: channel.platforms ? channel.platforms.split(',') : [],
    allow_emulator: channel.allow_emulator === 1,
    allow_dev: channel.allow_dev === 1,
    allow_prod: channel.allow_prod === 1,
    native_policy: channel.native_policy,
    allow_downgrade: channel.allow_downgrade === 1,
    failure_threshold: channel.failure_threshold,
    failure_min_devices: channel.failure_min_devices,
    halt_on_evidence: channel.halt_on_evidence === 1,
    evidence_min_devices: channel.evidence_min_devices,
    unregistered_binaries: channel.unregistered_binaries as ChannelJson['unregistered_binaries'],
    protected: channel.protected === 1,
    created_at: channel.created_at,
    updated_at: channel.updated_at,
  };
}

export function scheduleJson(schedule: RolloutScheduleRow): RolloutScheduleJson {
  const steps = JSON.parse(schedule.steps) as RolloutStep[];
  return {
    channel: schedule.channel_name,
    version: schedule.version,
    steps: formatRolloutSteps(steps),
    step_list: steps.map((step) => ({ percent: step.percent, seconds: step.seconds })),
    current_step: schedule.current_step + 1,
    percent: steps[schedule.current_step]?.percent ?? 0,
    state: schedule.state as RolloutScheduleJson['state'],
    step_started_at: schedule.step_started_at,
    next_step_at: nextStepAt(schedule),
    reason: schedule.reason,
    actor: schedule.actor,
    created_at: schedule.created_at,
    updated_at: schedule.updated_at,
  };
}

export function historyJson(entry: ChannelHistoryRow): HistoryJson {
  return {
    id: entry.id,
    channel: entry.channel_name,
    action: entry.action,
    version: entry.version,
    previous_version: entry.previous_version,
    reason: entry.reason,
    at: entry.at,
    actor: entry.actor,
  };
}

export function deviceJson(device: DeviceRow): DeviceJson {
  return {
    device_id: device.device_id,
    app_id: device.app_id,
    platform: device.platform,
    version_name: device.version_name,
    version_build: device.version_build,
    version_code: device.version_code,
    version_os: device.version_os,
    plugin_version: device.plugin_version,
    custom_id: device.custom_id,
    channel: device.channel,
    requested_channel: device.requested_channel,
    channel_override: device.channel_override,
    self_assigned_channel: device.self_assigned_channel,
    is_emulator: device.is_emulator === 1,
    is_prod: device.is_prod === 1,
    first_seen: device.first_seen,
    last_seen: device.last_seen,
  };
}

export function webhookJson(webhook: PublicWebhook): WebhookJson {
  return {
    id: webhook.id,
    app_id: webhook.app_id,
    url: webhook.url,
    events: webhook.events === '*' ? '*' : webhook.events.split(','),
    created_at: webhook.created_at,
  };
}

export function deliveryJson(delivery: DeliveryRow): WebhookDeliveryJson {
  return {
    id: delivery.id,
    webhook_id: delivery.webhook_id,
    event: delivery.event,
    status: delivery.status as WebhookDeliveryJson['status'],
    attempts: delivery.attempts,
    response_status: delivery.response_status,
    last_error: delivery.last_error,
    next_attempt_at: delivery.next_attempt_at,
    created_at: delivery.created_at,
    delivered_at: delivery.delivered_at,
    payload: JSON.parse(delivery.payload) as unknown,
  };
}

export function holdJson(hold: DeviceHoldRow): HoldJson {
  return {
    device_id: hold.device_id,
    version: hold.version,
    install_failures: hold.install_failures,
    download_failures: hold.download_failures,
    held: hold.install_failures > 0 || hold.download_failures >= DOWNLOAD_FAILURES_TO_HOLD,
    last_action: hold.last_action,
    first_at: hold.first_at,
    last_at: hold.last_at,
  };
}

/** Roles as the API shows them (`RolesJson`). */
const rolesJson = (grants: Grants): RolesJson => ({
  server_admin: grants.serverAdmin,
  all: grants.allApps,
  apps: Object.fromEntries(grants.apps),
});

/** What the caller is: its name, kind and roles (GET /whoami; the dashboard hides what it may not do). */
export const principalJson = (principal: Principal) => ({
  id: principal.id,
  name: principal.name,
  kind: principal.kind,
  roles: rolesJson(principal.grants),
});

export const tokenJson = ({ grants, ...token }: PublicToken) => ({ ...token, roles: rolesJson(grants) });

export const userJson = ({ grants, ...user }: PublicUser) => ({ ...user, roles: rolesJson(grants) });

export function releaseRequestJson(request: ReleaseRequestView): ReleaseRequestJson {
  return {
    id: request.id,
    app_id: request.app_id,
    channel: request.channel,
    action: request.action,
    version: request.version,
    percent: request.percent === null ? null : Number(request.percent),
    status: request.status,
    requested_by: request.requested_by,
    created_at: request.created_at,
    expires_at: request.expires_at,
    decided_by: request.decided_by,
    decided_at: request.decided_at,
    reason: request.reason,
  };
}
