/**
 * The answers of the admin API as zod schemas, for the OpenAPI document only (answers are built by
 * the serializers of src/http/serialize.ts and the services, not parsed). The type checks at the end
 * make the build fail when a schema here and the type its handler returns part ways.
 */
import { z } from 'zod';
import type { AuditRow } from '../db/schema.js';
import type { AdoptionJson, AppUpdatedJson, ReleaseHealthJson, StatsJson } from '../api-types.js';
import type { TotpEnrolment, TotpStatus } from '../services/totp.js';
import type { SessionListing } from '../db/sessions.js';
import type { ErrorBody } from './errors.js';
import type {
  appJson,
  bundleJson,
  channelJson,
  deliveryJson,
  deviceJson,
  historyJson,
  holdJson,
  principalJson,
  tokenJson,
  userJson,
  scheduleJson,
  webhookJson,
} from './serialize.js';
import { ROLES } from '../domain/roles.js';
import type { nativeBuildJson } from './native-routes.js';
import type { BundleUploadedJson, CleanupJson, CompatibilityJson } from '../api-types.js';
import { nativeLayer } from './admin-schemas.js';
import type { nativeBinaryJson } from './serialize.js';

const role = z.enum(ROLES);
/** What a token or user holds (docs/security.md#roles). */
const roles = z
  .object({
    server_admin: z.boolean().meta({ description: 'A server-wide admin: users, server tokens, every app.' }),
    all: role.nullable().meta({ description: 'The role on every app, present and future; null for none.' }),
    apps: z.record(z.string(), role).meta({ description: 'Roles on single apps: app id to role.' }),
  })
  .meta({ id: 'Roles' });
const at = z.string().meta({ description: 'ISO 8601 date-time (UTC).' });
const nullable = <T extends z.ZodType>(schema: T) => schema.nullable();

export const errorBody = z
  .object({
    error: z.string().meta({ description: 'A stable code, e.g. `invalid_request`, `app_not_found`.' }),
    message: z.string().meta({ description: 'What is wrong, for people.' }),
  })
  .meta({ id: 'Error', description: 'Every error answer (4xx, 5xx).' });

/** A list without pages. */
export const list = <T extends z.ZodType>(item: T) => z.object({ items: z.array(item) });
/** One page of a list, newest first; `next_cursor` is null on the last page. */
export const page = <T extends z.ZodType>(item: T) =>
  z.object({ items: z.array(item), next_cursor: z.string().nullable() });

export const deleted = z.object({ deleted: z.literal(true) });
export const whoami = z
  .object({ id: z.number().int(), name: z.string(), kind: z.enum(['token', 'user']), roles })
  .meta({ id: 'Principal' });

export const app = z
  .object({
    id: z.string(),
    name: z.string(),
    created_at: at,
    require_signature: z.boolean().meta({
      description: 'Every bundle must carry a signature that verifies with `signing_public_key`.',
    }),
    require_encryption: z
      .boolean()
      .meta({ description: 'Every bundle must be encrypted for `encryption_public_key`.' }),
    signing_public_key: nullable(z.string()).meta({
      description: "PEM of the key devices verify signatures with (Capawesome's `LiveUpdate.publicKey`).",
    }),
    encryption_public_key: nullable(z.string()).meta({
      description: "PEM of the key devices decrypt with (Capgo's `CapacitorUpdater.publicKey`).",
    }),
    encryption_key_id: nullable(z.string()).meta({
      description: 'The `key_id` Capgo devices holding `encryption_public_key` send.',
    }),
    keep_bundles: nullable(z.number().int()).meta({
      description:
        'Retention: how many of the newest bundles each upload keeps (those a channel can still need are always kept); null: all.',
    }),
    release_approval: z.boolean().meta({
      description:
        'Four-eyes releases: changes of protected channels by someone without the release role become release requests.',
    }),
  })
  .meta({ id: 'App' });
export const appUpdated = app
  .extend({
    noncompliant_bundles: z.array(z.object({ version: z.string(), problems: z.array(z.string()) })).meta({
      description:
        'Bundles live nowhere that do not meet the requirements now in force: they can no longer be made live.',
    }),
  })
  .meta({ id: 'AppUpdated' });

export const bundle = z
  .object({
    id: z.number().int(),
    app_id: z.string(),
    version: z.string(),
    sha256: z.string(),
    size: nullable(z.number().int()),
    location: z.enum(['blob', 'external']),
    url: z.string().meta({ description: 'Where devices download it (signed when downloads are private).' }),
    checksum: z.string(),
    encrypted: z.boolean(),
    session_key: nullable(z.string()),
    key_id: nullable(z.string()),
    min_native_version: nullable(z.string()),
    notes: nullable(z.string()),
    signature: nullable(z.string()),
    created_at: at,
    created_by: nullable(z.string()),
    native_layer: nativeLayer.nullable().meta({ description: 'Null when unknown: served to every binary.' }),
    native_fingerprint: nullable(z.string()).meta({ description: "sha256 of the layer's canonical form." }),
    files: z.enum(['preparing', 'ready', 'none', 'failed']).meta({
      description:
        "Its files for delta updates, prepared after the upload: devices get the whole zip until 'ready'. 'none': encrypted or hosted elsewhere; 'failed': served whole (files_error says why).",
    }),
    files_error: nullable(z.string()).meta({
      description: 'Why the last preparation of its files failed; null when none did.',
    }),
  })
  .meta({ id: 'Bundle' });
/** What retention did after an upload; present when the app has `keep_bundles`. */
const uploadRetention = z
  .object({
    keep: z.number().int(),
    deleted: z.array(z.string()).meta({
      description: 'Versions deleted, newest first; their unshared bytes are deleted in the background.',
    }),
    error: nullable(z.string()).meta({
      description:
        'Why retention failed: the upload itself succeeded, and the next upload or cleanup catches up.',
    }),
  })
  .meta({ id: 'UploadRetention' });
export const bundleUploaded = bundle
  .extend({
    retention: uploadRetention.optional().meta({
      description: "The app's `keep_bundles` applied after this upload (absent when it keeps every bundle).",
    }),
  })
  .meta({ id: 'BundleUploaded' });
export const cleanup = z
  .object({
    app_id: z.string(),
    keep: nullable(z.number().int()).meta({
      description: "The newest bundles kept: the request's `keep`, else the app's `keep_bundles`.",
    }),
    older_than_days: nullable(z.number()),
    dry_run: z.boolean(),
    deleted: z
      .array(z.object({ version: z.string(), created_at: at, size: nullable(z.number().int()) }))
      .meta({ description: 'Newest first; with `dry_run`, what would be deleted.' }),
    kept: z.array(z.object({ version: z.string(), reasons: z.array(z.string()) })).meta({
      description:
        'Bundles the limits alone would delete, kept because a channel can still need them (`live on production`, `rolling out on beta`, `rollback target of production`).',
    }),
    blobs_deleted: z
      .number()
      .int()
      .meta({ description: 'Stored zips and delta files deleted (those no other bundle shares).' }),
    blob_error: nullable(z.string()).meta({
      description: 'Why some bytes could not be deleted now; the orphan blob sweep deletes them later.',
    }),
  })
  .meta({ id: 'Cleanup' });
export const bundleDeleted = z.object({
  deleted: z.literal(true),
  channels: z.record(z.string(), z.string().nullable()).meta({
    description: 'Channels it was live on, each with the version now live there (or null).',
  }),
});

export const channel = z
  .object({
    name: z.string(),
    app_id: z.string(),
    version: nullable(z.string()),
    rollout: z
      .object({ version: z.string(), percent: z.number() })
      .nullable()
      .meta({ description: 'A staged rollout in progress, else null.' }),
    is_default: z.boolean(),
    allow_self_assign: z.boolean(),
    platforms: z.array(z.string()),
    allow_emulator: z.boolean(),
    allow_dev: z.boolean(),
    allow_prod: z.boolean(),
    native_policy: z.string(),
    allow_downgrade: z.boolean(),
    failure_threshold: nullable(z.number()),
    failure_min_devices: z.number().int(),
    halt_on_evidence: z.boolean(),
    evidence_min_devices: z.number().int(),
    unregistered_binaries: z.enum(['serve', 'refuse']),
    protected: z.boolean().meta({
      description: 'Making a bundle live and rollouts need the release role (rollbacks do not).',
    }),
    created_at: at,
    updated_at: at,
  })
  .meta({ id: 'Channel' });

export const releaseRequest = z
  .object({
    id: z.number().int(),
    app_id: z.string(),
    channel: z.string(),
    action: z.enum(['set', 'rollout']).meta({ description: '`set`: make live; `rollout`: to `percent` %.' }),
    version: z.string(),
    percent: nullable(z.number()),
    status: z.enum(['pending', 'approved', 'rejected', 'failed', 'expired']).meta({
      description:
        '`failed`: approved when the channel had changed or the bundle could no longer be released; `expired`: not decided in time.',
    }),
    requested_by: z.string(),
    created_at: at,
    expires_at: at,
    decided_by: nullable(z.string()),
    decided_at: nullable(at),
    reason: nullable(z.string()).meta({ description: 'Why it was rejected, or why it failed.' }),
  })
  .meta({ id: 'ReleaseRequest' });
export const schedule = z
  .object({
    channel: z.string(),
    version: z.string(),
    steps: z.string().meta({ description: 'The steps as written: `1%:1h,10%:6h,50%:24h,100%`.' }),
    step_list: z.array(
      z.object({
        percent: z.number().int(),
        seconds: nullable(z.number().int()).meta({
          description: 'How long the step lasts; null for the last (100%).',
        }),
      }),
    ),
    current_step: z.number().int().meta({ description: 'The step being served, from 1.' }),
    percent: z.number().int().meta({ description: "The current step's share of devices." }),
    state: z.enum(['running', 'completed', 'halted', 'cancelled']),
    step_started_at: at,
    next_step_at: nullable(at).meta({
      description:
        "When the current step's time is up: the next step starts at the scheduler's next tick after it, if the release is healthy (else the channel is halted). Null once the schedule ended.",
    }),
    reason: nullable(z.string()).meta({ description: 'Why it ended (halted, cancelled).' }),
    actor: nullable(z.string()),
    created_at: at,
    updated_at: at,
  })
  .meta({ id: 'RolloutSchedule' });

export const channelRollout = channel
  .extend({
    schedule: schedule.optional().meta({ description: 'The schedule started, when `steps` were given.' }),
  })
  .meta({ id: 'ChannelRollout' });

export const history = z
  .object({
    id: z.number().int(),
    channel: z.string(),
    action: z.string().meta({
      description:
        "`set`, `rollout`, `rollback`, `halt`, `bundle_deleted`, or a note (nothing changed live): `bundle_edited` (the bundle's notes or minimum native version were corrected), `schedule_cancelled` (a rollout schedule was cancelled, the reason says by what).",
    }),
    version: nullable(z.string()),
    previous_version: nullable(z.string()),
    reason: nullable(z.string()),
    at,
    actor: nullable(z.string()),
  })
  .meta({ id: 'ChannelHistoryEntry' });

const versionCounts = {
  downloads: z.number().int(),
  installs: z.number().int(),
  download_failures: z.number().int(),
  install_failures: z.number().int(),
  rollbacks: z.number().int(),
};
export const stats = z
  .object({
    app_id: z.string(),
    channel: nullable(z.string()),
    since: at,
    until: at,
    bucket: z.enum(['hour', 'day']),
    versions: z.array(z.object({ version: z.string(), devices: z.number().int(), ...versionCounts })),
    series: z.array(z.object({ at, version: z.string(), ...versionCounts })),
    plugin_versions: z.array(z.object({ plugin_version: z.string(), devices: z.number().int() })),
  })
  .meta({ id: 'Stats' });

export const adoption = z
  .object({
    app_id: z.string(),
    channel: z.string(),
    bucket: z.enum(['hour', 'day']),
    since: at,
    until: at,
    versions: z
      .array(z.string())
      .meta({ description: 'Every version with devices in some bucket, newest first.' }),
    points: z
      .array(z.object({ at, devices: z.record(z.string(), z.number().int()) }))
      .meta({ description: "Per bucket, oldest first: devices running each version at the bucket's end." }),
    release: nullable(
      z.object({
        version: z.string(),
        since: nullable(at),
        installs: z.number().int(),
        points: z.array(z.object({ at, installs: z.number().int() })),
      }),
    ).meta({
      description: 'Distinct devices that installed the release since it went live, cumulative per bucket.',
    }),
  })
  .meta({ id: 'Adoption' });

const groupHealth = z
  .object({
    version: z.string(),
    devices: z.number().int(),
    failed: z.number().int(),
    rate: z.number(),
    low: z.number().meta({ description: "The 95% Wilson interval's lower end." }),
    high: z.number().meta({ description: "The 95% Wilson interval's upper end." }),
    since: nullable(at),
    until: nullable(at),
  })
  .meta({ id: 'GroupHealth' });
export const releaseHealth = z
  .object({
    app_id: z.string(),
    channel: z.string(),
    healthy: z.boolean(),
    reason: z.string(),
    verdict: nullable(z.enum(['worse', 'no_evidence', 'too_few_devices'])),
    rollout_percent: nullable(z.number()),
    release: nullable(groupHealth),
    control: nullable(groupHealth),
    previous: nullable(groupHealth),
    over_threshold: z.boolean(),
    halt_on_evidence: z.boolean(),
    evidence_min_devices: z.number().int(),
  })
  .meta({ id: 'ReleaseHealth' });

export const device = z
  .object({
    device_id: z.string(),
    app_id: z.string(),
    platform: z.string(),
    version_name: z.string(),
    version_build: z.string(),
    version_code: z.string(),
    version_os: z.string(),
    plugin_version: z.string(),
    custom_id: z.string(),
    channel: z.string(),
    requested_channel: z.string(),
    channel_override: nullable(z.string()),
    self_assigned_channel: nullable(z.string()),
    is_emulator: z.boolean(),
    is_prod: z.boolean(),
    first_seen: at,
    last_seen: at,
  })
  .meta({ id: 'Device' });

/** The `data` of one event of a device's live stream (GET …/devices/:deviceId/live). */
export const liveEvent = z
  .union([
    z.object({
      kind: z.literal('check'),
      app_id: z.string(),
      device_id: z.string(),
      at,
      sent: z.object({
        platform: z.string(),
        version_name: z.string(),
        version_build: z.string(),
        version_code: z.string(),
        version_os: z.string(),
        plugin_version: z.string(),
        custom_id: z.string(),
        default_channel: z.string(),
        is_emulator: z.boolean(),
        is_prod: z.boolean(),
        key_id: z.string().optional(),
      }),
      answer: z.object({
        outcome: z.enum(['update', 'up_to_date', 'blocked', 'failed']),
        version: z.string().optional(),
        channel: z.string().optional(),
        error: z.string().optional(),
        message: z.string().optional(),
      }),
      reason: z.string().meta({ description: 'Why: the channel, the rule that picked it, the rollout.' }),
    }),
    z.object({
      kind: z.enum(['download', 'event']),
      app_id: z.string(),
      device_id: z.string(),
      at,
      action: z.string(),
      version_name: z.string(),
      old_version_name: z.string(),
      channel: z.string(),
    }),
    z.object({ kind: z.literal('dropped'), count: z.number().int() }),
    z.object({ kind: z.literal('gap'), missed: nullable(z.number().int()) }),
    z.object({ kind: z.literal('closed'), reason: z.string(), reconnect: z.boolean() }),
  ])
  .meta({ id: 'LiveEvent' });

export const hold = z
  .object({
    device_id: z.string(),
    version: z.string(),
    install_failures: z.number().int(),
    download_failures: z.number().int(),
    held: z.boolean().meta({ description: 'Whether the version is no longer offered to the device.' }),
    last_action: z.string(),
    first_at: at,
    last_at: at,
  })
  .meta({ id: 'Hold' });
export const holdsCleared = z.object({ cleared: z.number().int() });

export const token = z
  .object({
    id: z.number().int(),
    name: z.string(),
    roles,
    created_at: at,
    last_used_at: nullable(at),
    expires_at: nullable(at).meta({ description: 'When it stops working; null for never.' }),
  })
  .meta({ id: 'Token' });
export const createdToken = token
  .extend({ token: z.string().meta({ description: 'The secret, shown this once.' }) })
  .meta({ id: 'CreatedToken' });

export const auditEntry = z
  .object({
    id: z.number().int(),
    at,
    actor: z.string(),
    action: z.string(),
    app_id: nullable(z.string()),
    target: nullable(z.string()),
    detail: z.unknown().meta({ description: 'Details of the change (JSON), or null.' }),
  })
  .meta({ id: 'AuditEntry' });

export const user = z
  .object({
    id: z.number().int(),
    username: z.string(),
    roles,
    created_at: at,
    password_changed_at: at,
    totp_enabled: z.boolean().meta({ description: 'Two-factor sign-in is on.' }),
  })
  .meta({ id: 'User' });
export const passwordUpdated = z.object({ updated: z.literal(true) });

export const session = z
  .object({
    user: z.object({ name: z.string(), kind: z.enum(['user', 'token']), roles }),
    csrf_token: z.string().meta({ description: 'Send it as X-CSRF-Token with every change.' }),
    expires_at: at,
    totp_enrolment_required: z.boolean().meta({
      description:
        'An admin without two-factor sign-in on a server that requires it: this session may only enrol.',
    }),
  })
  .meta({ id: 'Session' });
export const signedOut = z.object({ signed_out: z.literal(true) });

export const signInMethods = z.object({
  password: z.boolean().meta({ description: 'False when OVERAIR_PASSWORD_SIGN_IN is off.' }),
  sso: nullable(z.object({ name: z.string() })).meta({
    description: "Single sign-on when set up: the provider's name for the sign-in button.",
  }),
});

export const sessionListing = z
  .object({
    id: z.number().int(),
    user: nullable(z.string()).meta({ description: "The user's name; null for a token's session." }),
    token: nullable(z.string()).meta({ description: "The token's name; null for a user's session." }),
    created_at: at,
    last_used_at: nullable(at).meta({ description: 'Written at most once a minute.' }),
    expires_at: at,
    user_agent: nullable(z.string()),
    address: nullable(z.string()),
    current: z.boolean().meta({ description: 'The session this request was made with.' }),
  })
  .meta({ id: 'SessionListing' });
export const sessionEnded = z.object({ ended: z.literal(true) });

export const totpStatus = z
  .object({
    enabled: z.boolean(),
    enrolling: z.boolean().meta({ description: 'An enrolment was started and not confirmed yet.' }),
    enabled_at: nullable(at),
    recovery_codes_left: z.number().int(),
  })
  .meta({ id: 'TotpStatus' });
export const totpEnrolment = z
  .object({
    secret: z.string().meta({ description: 'Base32, to type into an authenticator app.' }),
    otpauth_uri: z.string(),
    qr_code: z.string().meta({ description: 'The otpauth URI as a QR code: an SVG data: URL.' }),
  })
  .meta({ id: 'TotpEnrolment' });
export const totpEnabled = z.object({
  enabled: z.literal(true),
  recovery_codes: z.array(z.string()).meta({ description: 'Ten one-time codes, shown this once only.' }),
});
export const totpDisabled = z.object({ enabled: z.literal(false) });

export const webhook = z
  .object({
    id: z.number().int(),
    app_id: nullable(z.string()).meta({ description: 'The app whose events it receives; null for all.' }),
    url: z.string(),
    events: z.union([z.literal('*'), z.array(z.string())]),
    created_at: at,
  })
  .meta({ id: 'Webhook' });
export const createdWebhook = webhook
  .extend({ secret: z.string().meta({ description: 'The signing secret, shown this once.' }) })
  .meta({ id: 'CreatedWebhook' });

export const delivery = z
  .object({
    id: z.number().int(),
    webhook_id: z.number().int(),
    event: z.string(),
    status: z.enum(['pending', 'delivered', 'failed']),
    attempts: z.number().int(),
    response_status: nullable(z.number().int()),
    last_error: nullable(z.string()),
    next_attempt_at: nullable(at),
    created_at: at,
    delivered_at: nullable(at),
    payload: z.unknown().meta({ description: 'The JSON body sent: {id, event, app_id, created_at, data}.' }),
  })
  .meta({ id: 'WebhookDelivery' });

export const nativeBuild = z
  .object({
    app_id: z.string(),
    platform: z.enum(['android', 'ios']),
    version: z.string(),
    version_code: nullable(z.string()),
    channel: z.string(),
    sha256: z.string(),
    size: z.number().int(),
    file_kind: z.enum(['apk', 'aab', 'ipa']),
    notes: nullable(z.string()),
    created_at: at,
    created_by: nullable(z.string()),
    download_url: z.string(),
    latest_url: z.string().meta({ description: 'The stable link to the newest build of this channel.' }),
  })
  .meta({ id: 'NativeBuild' });

export const nativeBinary = z
  .object({
    app_id: z.string(),
    platform: z.enum(['android', 'ios']),
    version: z.string(),
    version_code: nullable(z.string()).meta({ description: 'Null: every build of the version.' }),
    native_layer: nativeLayer,
    native_fingerprint: z.string(),
    store_url: nullable(z.string()),
    source: z.enum(['register', 'upload']),
    created_at: at,
    created_by: nullable(z.string()),
  })
  .meta({ id: 'NativeBinary' });
export const nativeBinaryRegistered = nativeBinary.extend({
  replaced: z
    .boolean()
    .meta({ description: 'Whether it replaced an earlier registration of the same binary.' }),
});

export const compatibility = z
  .object({
    app_id: z.string(),
    version: z.string(),
    channel: nullable(z.string()),
    native_layer: nativeLayer.nullable(),
    native_fingerprint: nullable(z.string()),
    unregistered_binaries: z.enum(['serve', 'refuse']),
    devices_since: at,
    binaries: z.array(
      z.object({
        platform: z.enum(['android', 'ios']),
        version: z.string(),
        version_code: nullable(z.string()),
        native_fingerprint: z.string(),
        compatible: z.boolean(),
        problems: z.array(z.string()),
        devices: z.number().int().meta({ description: 'Devices seen on it in the last 30 days.' }),
      }),
    ),
    unregistered: z.array(
      z.object({
        platform: z.string(),
        version: z.string(),
        version_code: z.string(),
        devices: z.number().int(),
      }),
    ),
    packages: z.array(
      z.object({
        name: z.string(),
        bundle: nullable(z.string()),
        binaries: z.array(nullable(z.string())).meta({ description: 'In the order of `binaries`.' }),
      }),
    ),
    devices: z.object({ total: z.number().int(), reached: z.number().int(), refused: z.number().int() }),
  })
  .meta({ id: 'Compatibility' });

// Compile-time checks: each schema describes what its handler really sends.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
type Check<T extends true> = T;
type Out<T extends z.ZodType> = z.output<T>;
type _ResponseSchemasMatch = [
  Check<Same<Out<typeof errorBody>, ErrorBody>>,
  Check<Same<Out<typeof whoami>, ReturnType<typeof principalJson>>>,
  Check<Same<Out<typeof app>, ReturnType<typeof appJson>>>,
  Check<Same<Out<typeof appUpdated>, AppUpdatedJson>>,
  Check<Same<Out<typeof bundle>, ReturnType<typeof bundleJson>>>,
  Check<Same<Out<typeof channel>, ReturnType<typeof channelJson>>>,
  Check<Same<Out<typeof history>, ReturnType<typeof historyJson>>>,
  Check<Same<Out<typeof schedule>, ReturnType<typeof scheduleJson>>>,
  Check<Same<Out<typeof stats>, StatsJson>>,
  Check<Same<Out<typeof adoption>, AdoptionJson>>,
  Check<Same<Out<typeof releaseHealth>, ReleaseHealthJson>>,
  Check<Same<Out<typeof device>, ReturnType<typeof deviceJson>>>,
  Check<Same<Out<typeof hold>, ReturnType<typeof holdJson>>>,
  Check<Same<Out<typeof token>, ReturnType<typeof tokenJson>>>,
  Check<Same<Omit<Out<typeof auditEntry>, 'detail'>, Omit<AuditRow, 'detail'>>>,
  Check<Same<Out<typeof user>, ReturnType<typeof userJson>>>,
  Check<Same<Out<typeof totpStatus>, TotpStatus>>,
  Check<Same<Out<typeof totpEnrolment>, TotpEnrolment>>,
  Check<Same<Omit<Out<typeof sessionListing>, 'current'>, SessionListing>>,
  Check<Same<Out<typeof session>['user'], Omit<ReturnType<typeof principalJson>, 'id'>>>,
  Check<Same<Out<typeof webhook>, ReturnType<typeof webhookJson>>>,
  Check<Same<Out<typeof nativeBuild>, ReturnType<typeof nativeBuildJson>>>,
  Check<Same<Out<typeof nativeBinary>, ReturnType<typeof nativeBinaryJson>>>,
  Check<Same<Out<typeof compatibility>, CompatibilityJson>>,
  Check<Same<Out<typeof cleanup>, CleanupJson>>,
  Check<Same<Out<typeof bundleUploaded>, BundleUploadedJson>>,
  Check<Same<Omit<Out<typeof delivery>, 'payload'>, Omit<ReturnType<typeof deliveryJson>, 'payload'>>>,
];
