/**
 * The request schemas of the admin API (/api/v1): path parameters, query strings and JSON bodies.
 * The route handlers validate with these, and the OpenAPI document (src/http/openapi.ts) is built
 * from these same objects, so what is documented is what is checked. Field rules (id alphabets,
 * version names, lengths) come from src/http/schemas.ts.
 */
import { z } from 'zod';
import { UNREGISTERED_BINARY_RULES } from '../domain/native-layer.js';
import { NATIVE_POLICIES } from '../domain/policy.js';
import { RELEASE_EVENTS } from '../services/events.js';
import { NATIVE_PLATFORMS } from '../services/native-builds.js';
import * as s from './schemas.js';
import { grantsFromScope, ROLES, type Grants } from '../domain/roles.js';

const scope = z.enum(['read', 'publish', 'admin']).meta({
  description: 'The single scope before per-app roles: admin is a server admin; read, publish: on all apps.',
});
const role = z.enum(ROLES);
/** Roles to give (docs/security.md#roles); what is left out is not given. */
const rolesBody = z
  .object({
    server_admin: z.boolean().optional().meta({ description: 'Server-wide admin (server admins only).' }),
    all: role.nullable().optional().meta({ description: 'The role on every app, present and future.' }),
    apps: z
      .record(s.appId, role)
      .optional()
      .refine((apps) => apps === undefined || Object.keys(apps).length <= 1000, 'at most 1000 apps')
      .meta({ description: 'Roles on single apps: app id to role.' }),
  })
  .strict();
/** `roles` as grants; `scope` (the old single scope) as the grants it always gave. */
const toGrants = (input: { scope?: z.infer<typeof scope>; roles?: z.infer<typeof rolesBody> }): Grants =>
  input.roles !== undefined
    ? {
        serverAdmin: input.roles.server_admin ?? false,
        allApps: input.roles.all ?? null,
        apps: new Map(Object.entries(input.roles.apps ?? {})),
      }
    : grantsFromScope(input.scope!);
const oneOfScopeOrRoles = (input: { scope?: unknown; roles?: unknown }) =>
  (input.scope === undefined) !== (input.roles === undefined);
const SCOPE_OR_ROLES = 'give roles or scope (one of them)';
const httpUrl = z.url({ protocol: /^https?$/, error: 'expected an http(s) URL' }).max(2048);

// Path parameters, one schema each (handlers parse them one by one, with a label for the message).
export const numericId = z.coerce.number().int().positive();
export const nativePlatform = z.enum(NATIVE_PLATFORMS, { error: 'expected android or ios' });

// Pagination: newest first; `next_cursor` of an answer is the `cursor` of the next page.
export const pageQuery = z.object({
  limit: s.pageLimit.meta({ description: 'Page size, 1 to 500 (default 50).' }),
  cursor: s.cursorId.meta({ description: 'The `next_cursor` of the previous page.' }),
});

// Apps
export const createAppBody = z.object({
  id: s.appId,
  name: z.string().min(1).max(200).optional(),
  default_channel: s.channelName.nullable().optional().meta({
    description: 'The default channel to create (`production` when absent; `null` for none).',
  }),
});

const publicKeyPem = z.string().min(1).max(16_384).nullable().optional();
export const updateAppBody = z
  .object({
    name: z.string().min(1).max(200).optional(),
    require_signature: z.boolean().optional().meta({
      description:
        'Refuse bundles without a signature that verifies with `signing_public_key` (needs the key).',
    }),
    require_encryption: z.boolean().optional().meta({
      description: 'Refuse bundles not encrypted for `encryption_public_key` (needs the key).',
    }),
    signing_public_key: publicKeyPem.meta({
      description:
        "RSA public key (PEM) devices verify signatures with: Capawesome's `LiveUpdate.publicKey`. `null` removes it.",
    }),
    encryption_public_key: publicKeyPem.meta({
      description:
        "RSA public key (PEM) devices decrypt with: Capgo's `CapacitorUpdater.publicKey`. `null` removes it.",
    }),
    release_approval: z.boolean().optional().meta({
      description:
        'Four-eyes releases: a change of what a protected channel serves by someone without the release role becomes a release request that another principal with the role approves.',
    }),
    keep_bundles: z.number().int().min(1).max(100_000).nullable().optional().meta({
      description:
        'Keep this many of the newest bundles: after each upload the older ones are deleted, except those a channel can still need (live, rolling out, rollback target). `null` keeps all.',
    }),
  })
  .strict()
  .refine((input) => Object.keys(input).length > 0, 'nothing to change: give at least one setting');

// Native layers (the native compatibility gate, docs/native-compatibility.md)
const dependencyVersion = z.string().min(1).max(256);
export const nativeLayer = z
  .object({
    capacitor: z.object({
      core: dependencyVersion.nullable(),
      android: dependencyVersion.nullable(),
      ios: dependencyVersion.nullable(),
    }),
    packages: z
      .array(
        z.object({
          name: z
            .string()
            .max(214)
            .regex(/^(@[A-Za-z0-9._~-]+\/)?[A-Za-z0-9._~-]+$/, 'expected an npm package name'),
          version: dependencyVersion,
          platforms: z.array(z.enum(NATIVE_PLATFORMS)).max(2),
        }),
      )
      .max(1000),
  })
  .meta({
    id: 'NativeLayer',
    description:
      "Capacitor's core, android and ios versions (null when not installed) and every installed package with native code, with the platforms it has code for.",
  });
/** A native layer sent in a query string: its JSON text (handlers parse it with `nativeLayer`). */
const nativeLayerText = z.string().max(100_000).meta({
  description:
    'The native layer as JSON (see NativeLayer), as `overair bundle upload` records it; absent: unknown.',
});
const buildNumber = z.string().regex(/^[0-9A-Za-z._-]{1,64}$/, 'expected a build number such as 42');

// Bundles
/** Optional metadata shared by uploads and external registrations. */
const bundleMeta = {
  version: s.versionName,
  session_key: s.sessionKey.optional().meta({ description: 'The `ivSessionKey` of `bundle encrypt`.' }),
  checksum: s.encryptedChecksum
    .optional()
    .meta({ description: 'The encrypted checksum of `bundle encrypt`.' }),
  key_id: s.keyId.optional(),
  min_native_version: s.nativeVersion.optional(),
  notes: s.notes.optional(),
  signature: s.signature.optional().meta({ description: 'Base64 RSA-SHA256 signature of the bytes.' }),
};
export const uploadBundleQuery = z.object({
  ...bundleMeta,
  native_layer: nativeLayerText.optional(),
  sha256: s.sha256.optional().meta({ description: 'Expected sha256 of the zip; a mismatch is a 400.' }),
});
export const registerBundleBody = z.object({
  ...bundleMeta,
  url: httpUrl,
  sha256: s.sha256,
  size: z.number().int().nonnegative().optional(),
  native_layer: nativeLayer.optional(),
});
export const compatibilityQuery = z.object({
  channel: s.channelName.optional().meta({
    description: "Count only this channel's devices, and apply its rule for unregistered binaries.",
  }),
});

/**
 * What can be corrected in a bundle after its upload: never its bytes, nor what describes them
 * (sha256, size, signature, encryption). One entry per field; `null` clears it.
 */
const bundleEdits = {
  notes: s.notes.nullable().optional(),
  min_native_version: s.nativeVersion.nullable().optional(),
  native_layer: nativeLayer.nullable().optional().meta({
    description:
      'The native layer it was built against, as `overair bundle upload` records it; `null`: unknown (served to every binary). The fingerprint is recomputed.',
  }),
};
export const updateBundleBody = z
  .object(bundleEdits)
  .strict()
  .refine(
    (input) => Object.keys(input).length > 0,
    'nothing to change: give notes, min_native_version or native_layer',
  );

/** A retention cleanup (POST /apps/APP/bundles/cleanup). */
export const cleanupBody = z
  .object({
    keep: z.number().int().min(1).max(100_000).optional().meta({
      description: "Keep this many of the newest bundles (default: the app's `keep_bundles`).",
    }),
    older_than_days: z.number().positive().max(100_000).optional().meta({
      description: 'Delete only bundles uploaded more than this many days ago (fractions allowed).',
    }),
    dry_run: z.boolean().optional().meta({ description: 'Answer what would be deleted; delete nothing.' }),
  })
  .strict();

// Channels
export const channelFlags = {
  is_default: z.boolean().optional(),
  allow_self_assign: z.boolean().optional(),
  platforms: z
    .array(z.enum(['ios', 'android', 'electron']))
    .max(3)
    .optional()
    .meta({ description: 'Platforms served; empty for all.' }),
  allow_emulator: z.boolean().optional(),
  allow_dev: z.boolean().optional(),
  allow_prod: z.boolean().optional(),
  native_policy: z.enum(NATIVE_POLICIES).optional(),
  allow_downgrade: z.boolean().optional(),
  failure_threshold: z.number().gt(0).max(1).nullable().optional(),
  failure_min_devices: z.number().int().min(1).max(1_000_000).optional(),
  halt_on_evidence: z.boolean().optional().meta({
    description:
      "Halt a rollout when its failure rate's 95% interval lies above the control group's (devices outside the rollout that tried the live bundle over the same hours).",
  }),
  evidence_min_devices: z.number().int().min(1).max(1_000_000).optional().meta({
    description: 'Devices each group (the rollout, the control) needs before the evidence rule judges.',
  }),
  unregistered_binaries: z.enum(UNREGISTERED_BINARY_RULES).optional().meta({
    description:
      'Devices on a binary nobody registered (`overair native register`): `serve` them (the default) or `refuse` bundles whose native layer is known.',
  }),
  protected: z.boolean().optional().meta({
    description:
      'Protected: making a bundle live, rollouts (not rollbacks), its settings and this flag need the release role.',
  }),
};
export const createChannelBody = z.object({
  name: s.channelName,
  version: s.versionName.optional(),
  ...channelFlags,
});
export const updateChannelBody = z
  .object(channelFlags)
  .strict()
  .refine((flags) => Object.keys(flags).length > 0, 'nothing to change: give at least one setting');
export const setBundleBody = z.object({ version: s.versionName });
export const rolloutBody = z
  .object({
    version: s.versionName,
    percent: z.number().min(0.01).max(100).optional().meta({ description: 'Share of devices, now.' }),
    steps: z.string().max(200).optional().meta({
      description:
        'Or a schedule: steps such as `1%:1h,10%:6h,50%:24h,100%` (whole percentages, increasing, the last 100; at most 10), each started when the one before has lasted its time and the release is healthy.',
    }),
  })
  .refine((body) => (body.percent === undefined) !== (body.steps === undefined), {
    message: 'give either percent or steps',
  });
export const rollbackBody = z.object({ reason: z.string().max(500).optional() });

// Release requests (four-eyes releases)
export const releaseRequestsQuery = pageQuery.extend({
  status: z.enum(['pending', 'approved', 'rejected', 'failed', 'expired']).optional().meta({
    description: 'Only requests in this state (`expired`: pending past its expiry).',
  }),
});
export const rejectBody = z
  .object({ reason: z.string().max(500).optional().meta({ description: 'Why, for the requester.' }) })
  .strict();

// Statistics and devices
export const statsQuery = z.object({
  channel: s.channelName.optional(),
  since: z.string().max(40).optional(),
  until: z.string().max(40).optional(),
  bucket: z.enum(['hour', 'day']).optional(),
});
export const adoptionQuery = z.object({
  bucket: z
    .enum(['hour', 'day'])
    .optional()
    .meta({ description: 'Points per hour or per day (the default).' }),
  since: z.string().max(40).optional().meta({
    description:
      'An ISO date or a time ago (48h, 30d); default 30 days, at most the statistics retention, hourly at most 31 days.',
  }),
  version: s.versionName.optional().meta({
    description:
      "The release whose installs are counted (default: the channel's rollout, else its live bundle).",
  }),
});
export const devicesQuery = z.object({
  channel: s.channelName.optional(),
  version: z.string().max(256).optional(),
  platform: z.string().max(32).optional(),
  q: z.string().max(256).optional().meta({ description: 'Devices whose id or custom id starts with it.' }),
  limit: s.pageLimit,
  cursor: z.string().max(300).optional().meta({ description: 'The `next_cursor` of the previous page.' }),
});
export const deviceChannelBody = z.object({ channel: s.channelName });
export const holdsQuery = z.object({ device: s.deviceId.optional() });
export const clearHoldsQuery = z.object({
  version: s.versionName.optional().meta({ description: 'Only this version (default: all).' }),
});

// Tokens and audit
export const createTokenBody = z
  .object({
    name: z.string().min(1).max(100),
    scope: scope.optional(),
    roles: rolesBody.optional(),
    expires_in_days: z.number().int().positive().max(3650).optional(),
    expires_at: z.iso.datetime({ offset: true, error: 'expected an ISO 8601 date-time' }).optional(),
  })
  .strict()
  .refine(
    (input) => input.expires_in_days === undefined || input.expires_at === undefined,
    'give expires_in_days or expires_at, not both',
  )
  .refine(oneOfScopeOrRoles, SCOPE_OR_ROLES)
  .transform((input) => ({ ...input, grants: toGrants(input) }));
export const auditQuery = z.object({ app: s.appId.optional(), limit: s.pageLimit, cursor: s.cursorId });
export const auditExportQuery = z.object({
  since: z
    .union([z.iso.date(), z.iso.datetime({ offset: true })], {
      error: 'expected an ISO 8601 date or date-time, e.g. 2026-01-01',
    })
    .transform((text) => new Date(text).toISOString())
    .optional()
    .meta({ description: 'Only entries from this time on (ISO 8601 date or date-time).' }),
  app: s.appId.optional(),
  limit: s.pageLimit,
  cursor: s.cursorId.meta({ description: 'The `next_cursor` of the previous page.' }),
});

// Webhooks
export const webhooksQuery = z.object({ app: s.appId.optional() });
export const newWebhookBody = z
  .object({
    url: httpUrl,
    /** '*' (the default) or some of the release events. */
    events: z
      .union([
        z.literal('*'),
        z
          .array(z.enum(RELEASE_EVENTS))
          .min(1)
          .max(RELEASE_EVENTS.length * 2),
      ])
      .default('*'),
    /** Only this app's events; absent or null for every app. */
    app_id: s.appId.nullable().optional(),
  })
  .strict();

// Native builds
export const nativeUploadQuery = z.object({
  platform: nativePlatform,
  version: s.nativeVersion,
  channel: s.channelName,
  version_code: buildNumber.optional(),
  notes: s.notes.optional(),
  sha256: s.sha256.optional(),
  native_layer: nativeLayerText.optional(),
});
export const registerBinaryBody = z
  .object({
    platform: nativePlatform,
    version: s.nativeVersion,
    version_code: buildNumber.optional().meta({
      description: 'The build number (versionCode, CFBundleVersion); absent: every build of the version.',
    }),
    native_layer: nativeLayer,
    store_url: httpUrl.optional().meta({
      description: 'Where users get this binary: sent to devices a bundle is refused to.',
    }),
  })
  .strict();
export const binaryQuery = z.object({ version_code: buildNumber.optional() });
export const nativeListQuery = z.object({
  platform: nativePlatform.optional(),
  channel: s.channelName.optional(),
});

// Users
export const createUserBody = z
  .object({
    username: s.username,
    password: s.newPassword,
    scope: scope.optional(),
    roles: rolesBody.optional(),
  })
  .strict()
  .refine(oneOfScopeOrRoles, SCOPE_OR_ROLES)
  .transform((input) => ({ ...input, grants: toGrants(input) }));
/** PATCH /users/:username: the user's roles, all replaced. */
export const updateUserBody = z
  .object({ scope: scope.optional(), roles: rolesBody.optional() })
  .strict()
  .refine(oneOfScopeOrRoles, SCOPE_OR_ROLES)
  .transform((input) => ({ grants: toGrants(input) }));
export const setPasswordBody = z.object({ password: s.newPassword }).strict();

// Session
/** A six-digit TOTP code or a recovery code (`xxxx-xxxx-xxxx-xxxx`). */
const totpCode = z.string().trim().min(6).max(64);

export const signInBody = z
  .object({
    username: s.username.optional(),
    password: s.password.optional(),
    token: z.string().min(1).max(1024).optional(),
    code: totpCode
      .optional()
      .meta({ description: 'With a password, for users with two-factor sign-in: a code or recovery code.' }),
  })
  .strict()
  .refine(
    (input) =>
      input.token !== undefined
        ? input.username === undefined && input.password === undefined && input.code === undefined
        : input.username !== undefined && input.password !== undefined,
    'give {username, password} (and `code` with two-factor sign-in) or {token}',
  );

// Two-factor sign-in
export const totpCodeBody = z.object({ code: totpCode }).strict();
