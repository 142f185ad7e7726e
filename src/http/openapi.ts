/**
 * The OpenAPI 3.1 document of the admin API (/api/v1), served at GET /api/v1/openapi.json and
 * rendered as the route table of docs/admin-api.md (npm run docs:api). Requests are described by the
 * schemas the handlers validate with (src/http/admin-schemas.ts, src/http/schemas.ts), answers by
 * src/http/admin-responses.ts. test/openapi.test.ts fails when a route of the app is missing here, or
 * an operation here is not a route of the app.
 */
import { OpenAPIRegistry, OpenApiGeneratorV31 } from '@asteasolutions/zod-to-openapi';
import { z } from 'zod';
import * as a from './admin-schemas.js';
import * as r from './admin-responses.js';
import * as s from './schemas.js';

/** What a route needs: `none` (no credentials) or the least token/user scope (read < publish < admin). */
type OperationScope = 'none' | 'read' | 'publish' | 'admin';

export interface AdminOperation {
  method: 'get' | 'post' | 'put' | 'patch' | 'delete';
  /** Relative to /api/v1, with Hono's `:param` placeholders (as the routes are registered). */
  path: string;
  scope: OperationScope;
  tag: string;
  /** One line, for the route table. */
  summary: string;
  description?: string;
  /** Path parameters whose schema is not the default one for their name (see PATH_PARAMS). */
  params?: Record<string, z.ZodType>;
  query?: z.ZodObject;
  /** A JSON body schema, or a raw file of that media type. */
  body?: z.ZodType | { raw: string; description: string };
  /** The JSON body may be absent (read as `{}`). */
  bodyOptional?: boolean;
  status?: 200 | 201 | 202;
  response: z.ZodType;
  /** Error statuses worth naming besides the usual ones (400, 401, 403, 404, 429). */
  errors?: Record<number, string>;
}

/** The schema of each path parameter, by name: the ones the handlers parse it with. */
const PATH_PARAMS: Record<string, z.ZodType> = {
  appId: s.appId,
  channel: s.channelName,
  version: s.versionName,
  deviceId: s.deviceId,
  id: a.numericId,
  username: s.username,
  platform: a.nativePlatform,
};

const APPS = '/apps/:appId';
const CHANNEL = `${APPS}/channels/:channel`;
const DEVICE = `${APPS}/devices/:deviceId`;

/** Every operation of the admin API, in the order of the route table. */
export const ADMIN_OPERATIONS: AdminOperation[] = [
  {
    method: 'get',
    path: '/openapi.json',
    scope: 'none',
    tag: 'Meta',
    summary: 'This OpenAPI 3.1 document.',
    response: z.record(z.string(), z.unknown()),
  },
  {
    method: 'get',
    path: '/whoami',
    scope: 'read',
    tag: 'Meta',
    summary: "The caller's token or user: id, name, scope, kind.",
    response: r.whoami,
  },
  // Session
  {
    method: 'post',
    path: '/session',
    scope: 'none',
    tag: 'Session',
    summary: 'Sign in with `{username, password}` (and `code`) or `{token}`; sets the session cookie.',
    description:
      'Refused (403) from another site. Failed sign-ins are 401s and count towards the failed-login limit. ' +
      'A user with two-factor sign-in gets 401 `totp_required` for the right password without `code` ' +
      '(not counted, no session), and 401 `invalid_totp_code` (counted) for a wrong or reused code.',
    body: a.signInBody,
    response: r.session,
  },
  {
    method: 'get',
    path: '/session',
    scope: 'none',
    tag: 'Session',
    summary: 'The signed-in session and its CSRF token (401 when none).',
    response: r.session,
  },
  {
    method: 'delete',
    path: '/session',
    scope: 'none',
    tag: 'Session',
    summary: 'Sign out (needs X-CSRF-Token when a session is open).',
    response: r.signedOut,
  },
  // Apps
  {
    method: 'get',
    path: '/apps',
    scope: 'read',
    tag: 'Apps',
    summary: 'All apps.',
    response: r.list(r.app),
  },
  {
    method: 'post',
    path: '/apps',
    scope: 'admin',
    tag: 'Apps',
    summary: 'Create an app and its default channel (`production` unless given).',
    body: a.createAppBody,
    status: 201,
    response: r.app,
    errors: { 409: 'The app exists.' },
  },
  {
    method: 'get',
    path: APPS,
    scope: 'read',
    tag: 'Apps',
    summary: 'One app.',
    response: r.app,
  },
  {
    method: 'patch',
    path: APPS,
    scope: 'admin',
    tag: 'Apps',
    summary: "Change an app's name, its bundle requirements (signature, encryption) and retention.",
    description:
      'Turning `require_signature` or `require_encryption` on (or changing the key while it is on) is ' +
      'refused with a 409 `live_bundles_not_compliant`, and nothing changes, while a channel serves a ' +
      'bundle (live or rolling out) that does not meet it. Other bundles that do not meet it are listed ' +
      'in `noncompliant_bundles`: they can no longer be made live. `keep_bundles` sets retention: after ' +
      'each upload, bundles beyond that many of the newest are deleted unless a channel can still need ' +
      'them (see `POST /apps/{appId}/bundles/cleanup`).',
    body: a.updateAppBody,
    response: r.appUpdated,
    errors: { 409: 'A live bundle does not meet the new requirements.' },
  },
  {
    method: 'delete',
    path: APPS,
    scope: 'admin',
    tag: 'Apps',
    summary: 'Delete an app with its channels, bundles, devices and unshared bundle bytes.',
    response: r.deleted,
  },
  // Bundles
  {
    method: 'get',
    path: `${APPS}/bundles`,
    scope: 'read',
    tag: 'Bundles',
    summary: 'Bundles, newest first, paginated.',
    query: a.pageQuery,
    response: r.page(r.bundle),
  },
  {
    method: 'post',
    path: `${APPS}/bundles/upload`,
    scope: 'publish',
    tag: 'Bundles',
    summary: 'Upload a bundle: the zip as the raw body, metadata in the query.',
    description:
      'The body is streamed to storage. A `sha256` mismatch is a 400 and nothing is kept; a version ' +
      'that exists is a 409. For bundles encrypted with `@capgo/cli bundle encrypt`, give ' +
      '`session_key`, `checksum` and `key_id`. An app that requires signatures or encryption refuses ' +
      'a bundle that is not signed with its signing key (`signature_required`, `invalid_signature`) or ' +
      'not encrypted for its public key (`encryption_required`, `encryption_key_mismatch`), with a 400 ' +
      'and nothing kept. When the app has `keep_bundles`, retention runs once the bundle is stored, and ' +
      '`retention` says what it deleted; it never fails the upload.',
    query: a.uploadBundleQuery,
    body: { raw: 'application/zip', description: 'The bundle zip.' },
    status: 201,
    response: r.bundleUploaded,
    errors: { 409: 'The version exists.', 413: 'Larger than the upload limit.' },
  },
  {
    method: 'post',
    path: `${APPS}/bundles`,
    scope: 'publish',
    tag: 'Bundles',
    summary: 'Register a bundle hosted elsewhere (its URL and sha256).',
    description:
      "The app's signature and encryption requirements apply as for an upload; the signature is " +
      'checked against the declared sha256. `keep_bundles` is applied after it as after an upload.',
    body: a.registerBundleBody,
    status: 201,
    response: r.bundleUploaded,
    errors: { 409: 'The version exists.' },
  },
  {
    method: 'post',
    path: `${APPS}/bundles/cleanup`,
    scope: 'publish',
    tag: 'Bundles',
    summary: 'Delete old bundles no channel can still need (retention); `dry_run` to see them first.',
    description:
      "Deletes the bundles beyond the `keep` newest (default: the app's `keep_bundles`) and, when " +
      '`older_than_days` is given, uploaded before then; never one a channel serves (live or rolling ' +
      'out) nor the rollback target of any channel. Their zips and delta files are deleted when no other ' +
      'bundle or file shares them. Each deletion is audited as `bundle.cleanup`. Needs the same scope ' +
      'as deleting a bundle. A 400 when neither limit is given nor `keep_bundles` set.',
    body: a.cleanupBody,
    bodyOptional: true,
    response: r.cleanup,
  },
  {
    method: 'get',
    path: `${APPS}/bundles/:version`,
    scope: 'read',
    tag: 'Bundles',
    summary: 'One bundle.',
    response: r.bundle,
  },
  {
    method: 'patch',
    path: `${APPS}/bundles/:version`,
    scope: 'publish',
    tag: 'Bundles',
    summary: "Correct a bundle's notes, minimum native version or native layer (never its bytes).",
    description:
      'Recorded in the audit log and, on every channel serving the bundle (live or rolling out), as a ' +
      '`bundle_edited` entry of the channel history. Update checks answer with the change at once: a ' +
      'changed `native_layer` (its fingerprint recomputed; `null` for unknown) is judged afresh by the ' +
      'native compatibility gate.',
    body: a.updateBundleBody,
    response: r.bundle,
  },
  {
    method: 'get',
    path: `${APPS}/bundles/:version/compatibility`,
    scope: 'read',
    tag: 'Bundles',
    summary:
      'The bundle against every registered binary: per native package, what it would reach and refuse.',
    description:
      'Devices are those seen in the last 30 days (of the channel, when given); with a channel, its ' +
      'rule for unregistered binaries applies. See docs/native-compatibility.md.',
    query: a.compatibilityQuery,
    response: r.compatibility,
  },
  {
    method: 'delete',
    path: `${APPS}/bundles/:version`,
    scope: 'publish',
    tag: 'Bundles',
    summary: 'Delete a bundle; channels it was live on fall back, and are listed.',
    response: r.bundleDeleted,
  },
  // Channels
  {
    method: 'get',
    path: `${APPS}/channels`,
    scope: 'read',
    tag: 'Channels',
    summary: "The app's channels.",
    response: r.list(r.channel),
  },
  {
    method: 'post',
    path: `${APPS}/channels`,
    scope: 'publish',
    tag: 'Channels',
    summary: "Create a channel (`{name, version?, ...settings}`); an app's first is its default.",
    body: a.createChannelBody,
    status: 201,
    response: r.channel,
    errors: { 409: 'The channel exists.' },
  },
  {
    method: 'get',
    path: CHANNEL,
    scope: 'read',
    tag: 'Channels',
    summary: 'One channel.',
    response: r.channel,
  },
  {
    method: 'patch',
    path: CHANNEL,
    scope: 'publish',
    tag: 'Channels',
    summary: "Change a channel's settings (at least one).",
    body: a.updateChannelBody,
    response: r.channel,
  },
  {
    method: 'delete',
    path: CHANNEL,
    scope: 'admin',
    tag: 'Channels',
    summary: 'Delete a channel; devices pinned to it go back to the normal rules.',
    response: r.deleted,
  },
  {
    method: 'put',
    path: `${CHANNEL}/bundle`,
    scope: 'publish',
    tag: 'Channels',
    summary: 'Make a bundle live: `{version}`.',
    body: a.setBundleBody,
    response: r.channel,
    errors: { 409: "The bundle does not meet the app's signature or encryption requirement." },
  },
  {
    method: 'post',
    path: `${CHANNEL}/rollout`,
    scope: 'publish',
    tag: 'Channels',
    summary: 'Serve a bundle to `percent` of the devices (100 completes it).',
    body: a.rolloutBody,
    response: r.channel,
    errors: {
      409: "Already live, or the bundle does not meet the app's signature or encryption requirement.",
    },
  },
  {
    method: 'post',
    path: `${CHANNEL}/rollback`,
    scope: 'publish',
    tag: 'Channels',
    summary: 'Stop a rollout, or else make the previous bundle live again.',
    body: a.rollbackBody,
    bodyOptional: true,
    response: r.channel,
  },
  {
    method: 'get',
    path: `${CHANNEL}/history`,
    scope: 'read',
    tag: 'Channels',
    summary: 'Every release change of the channel, with who, when and why; paginated.',
    query: a.pageQuery,
    response: r.page(r.history),
  },
  {
    method: 'get',
    path: `${CHANNEL}/adoption`,
    scope: 'read',
    tag: 'Channels',
    summary:
      "Devices on each bundle per hour or day, and a release's cumulative installs since it went live.",
    description:
      "Each point is the number of the channel's devices running each bundle at the end of the bucket " +
      '(a stacked area), rebuilt from what devices run now and the installs and rollbacks they reported; ' +
      'devices first seen later are left out of earlier buckets. The period is kept within the statistics ' +
      'retention (`OVERAIR_STATS_RETENTION_DAYS`). See docs/release-control.md#adoption-over-time.',
    query: a.adoptionQuery,
    response: r.adoption,
  },
  {
    method: 'get',
    path: `${CHANNEL}/health`,
    scope: 'read',
    tag: 'Channels',
    summary:
      "The release's failure rate with its 95% interval, against the one replaced and a rollout's control.",
    description:
      "The judged release is the channel's rollout bundle, else its live one. A failure is a failure to " +
      'start (update_fail, app_launch_timeout) or to download. During a rollout, the control group is the ' +
      "devices outside the rollout that tried the live bundle over the same hours; `healthy` is false when the rollout's 95% " +
      "Wilson interval lies wholly above the control's with at least `evidence_min_devices` in each group, " +
      'or when the failure threshold would halt it. See docs/release-control.md#release-health.',
    response: r.releaseHealth,
  },
  // Statistics and devices
  {
    method: 'get',
    path: `${APPS}/stats`,
    scope: 'read',
    tag: 'Devices',
    summary: 'Devices, downloads, installs, failures per version, a time series, plugin versions.',
    query: a.statsQuery,
    response: r.stats,
  },
  {
    method: 'get',
    path: `${APPS}/devices`,
    scope: 'read',
    tag: 'Devices',
    summary: 'Devices, most recently seen first, filtered; paginated.',
    query: a.devicesQuery,
    response: r.page(r.device),
  },
  {
    method: 'get',
    path: DEVICE,
    scope: 'read',
    tag: 'Devices',
    summary: 'One device.',
    response: r.device,
  },
  {
    method: 'put',
    path: `${DEVICE}/channel`,
    scope: 'publish',
    tag: 'Devices',
    summary: 'Pin a device to a channel (works before its first check).',
    body: a.deviceChannelBody,
    response: r.device,
  },
  {
    method: 'delete',
    path: `${DEVICE}/channel`,
    scope: 'publish',
    tag: 'Devices',
    summary: "Remove a device's pin.",
    response: r.device,
  },
  {
    method: 'get',
    path: `${APPS}/holds`,
    scope: 'read',
    tag: 'Devices',
    summary: 'Versions held back from devices that failed them.',
    query: a.holdsQuery,
    response: r.list(r.hold),
  },
  {
    method: 'delete',
    path: `${DEVICE}/holds`,
    scope: 'publish',
    tag: 'Devices',
    summary: "Clear a device's holds (one version, or all).",
    query: a.clearHoldsQuery,
    response: r.holdsCleared,
  },
  // Native builds
  {
    method: 'post',
    path: `${APPS}/native/upload`,
    scope: 'publish',
    tag: 'Native builds',
    summary: 'Upload a native test build (APK, AAB, IPA) as the raw body.',
    query: a.nativeUploadQuery,
    body: { raw: 'application/octet-stream', description: 'The APK, AAB or IPA file.' },
    status: 201,
    response: r.nativeBuild,
    errors: { 409: 'The version exists.', 413: 'Larger than the upload limit.' },
  },
  {
    method: 'get',
    path: `${APPS}/native`,
    scope: 'read',
    tag: 'Native builds',
    summary: 'Native builds, newest first, with download and stable latest links.',
    query: a.nativeListQuery,
    response: r.list(r.nativeBuild),
  },
  {
    method: 'delete',
    path: `${APPS}/native/:platform/:version`,
    scope: 'publish',
    tag: 'Native builds',
    summary: 'Delete a native build (and its bytes unless shared).',
    params: { version: s.nativeVersion },
    response: r.deleted,
  },
  {
    method: 'get',
    path: `${APPS}/binaries`,
    scope: 'read',
    tag: 'Native builds',
    summary: 'Binaries registered with their native layer, newest first.',
    response: r.list(r.nativeBinary),
  },
  {
    method: 'post',
    path: `${APPS}/binaries`,
    scope: 'publish',
    tag: 'Native builds',
    summary: "Register a binary's native layer (201; 200 when it replaces the same binary's).",
    description:
      'Devices on it (platform, `version_build`, `version_code`) are refused bundles that need native ' +
      'code it lacks. See docs/native-compatibility.md.',
    body: a.registerBinaryBody,
    status: 201,
    response: r.nativeBinaryRegistered,
  },
  {
    method: 'delete',
    path: `${APPS}/binaries/:platform/:version`,
    scope: 'publish',
    tag: 'Native builds',
    summary: "Remove a binary's registration (`version_code` as registered, if it was).",
    params: { version: s.nativeVersion },
    query: a.binaryQuery,
    response: r.deleted,
  },
  // Webhooks
  {
    method: 'get',
    path: '/webhooks',
    scope: 'admin',
    tag: 'Webhooks',
    summary: 'Webhooks (all, or those of one app); never their secrets.',
    query: a.webhooksQuery,
    response: r.list(r.webhook),
  },
  {
    method: 'post',
    path: '/webhooks',
    scope: 'admin',
    tag: 'Webhooks',
    summary: 'Add a webhook; answers its signing secret once.',
    body: a.newWebhookBody,
    status: 201,
    response: r.createdWebhook,
  },
  {
    method: 'delete',
    path: '/webhooks/:id',
    scope: 'admin',
    tag: 'Webhooks',
    summary: 'Delete a webhook.',
    response: r.deleted,
  },
  {
    method: 'get',
    path: '/webhooks/:id/deliveries',
    scope: 'admin',
    tag: 'Webhooks',
    summary: "A webhook's delivery log, newest first; paginated.",
    query: a.pageQuery,
    response: r.page(r.delivery),
  },
  {
    method: 'post',
    path: '/webhooks/:id/test',
    scope: 'admin',
    tag: 'Webhooks',
    summary: 'Queue a `webhook.test` event to that webhook only.',
    status: 202,
    response: r.delivery,
  },
  // Users
  {
    method: 'get',
    path: '/users',
    scope: 'admin',
    tag: 'Users',
    summary: 'Dashboard users (never their password hashes).',
    response: r.list(r.user),
  },
  {
    method: 'post',
    path: '/users',
    scope: 'admin',
    tag: 'Users',
    summary: 'Add a dashboard user.',
    body: a.createUserBody,
    status: 201,
    response: r.user,
    errors: { 409: 'The user exists.' },
  },
  {
    method: 'delete',
    path: '/users/:username',
    scope: 'admin',
    tag: 'Users',
    summary: 'Delete a user and end their sessions (not the last admin).',
    response: r.deleted,
    errors: { 409: 'The last admin user.' },
  },
  {
    method: 'put',
    path: '/users/:username/password',
    scope: 'admin',
    tag: 'Users',
    summary: "Set a user's password (also a signed-in user's own); ends their sessions.",
    description: 'Needs the admin scope, except for signed-in users changing their own password.',
    body: a.setPasswordBody,
    response: r.passwordUpdated,
  },
  {
    method: 'delete',
    path: '/users/:username/totp',
    scope: 'admin',
    tag: 'Users',
    summary: "Turn a user's two-factor sign-in off (a lost authenticator); ends their sessions.",
    response: r.totpDisabled,
    errors: { 409: 'Two-factor sign-in is not on for this user.' },
  },
  // Your account
  {
    method: 'get',
    path: '/me/totp',
    scope: 'read',
    tag: 'Account',
    summary: "The signed-in user's two-factor sign-in: on or not, recovery codes left.",
    response: r.totpStatus,
  },
  {
    method: 'post',
    path: '/me/totp',
    scope: 'read',
    tag: 'Account',
    summary: 'Start enrolling an authenticator: a new secret, its otpauth URI and QR code.',
    description: 'Not in force until confirmed with a code. Only for users signed in with a password.',
    bodyOptional: true,
    response: r.totpEnrolment,
    errors: { 409: 'Two-factor sign-in is already on.' },
  },
  {
    method: 'post',
    path: '/me/totp/confirm',
    scope: 'read',
    tag: 'Account',
    summary: 'Confirm the enrolment with a code: two-factor sign-in is on; ten recovery codes, shown once.',
    description: 'A wrong code is a 401 `invalid_totp_code` and counts as a failed login.',
    body: a.totpCodeBody,
    response: r.totpEnabled,
    errors: { 409: 'No enrolment in progress, or already on.' },
  },
  {
    method: 'delete',
    path: '/me/totp',
    scope: 'read',
    tag: 'Account',
    summary: 'Turn two-factor sign-in off, with a current code or a recovery code.',
    description: 'A wrong code is a 401 `invalid_totp_code` and counts as a failed login.',
    body: a.totpCodeBody,
    response: r.totpDisabled,
    errors: { 409: 'Two-factor sign-in is not on.' },
  },
  {
    method: 'get',
    path: '/me/sessions',
    scope: 'read',
    tag: 'Account',
    summary: 'Your live sessions (of this user, or opened with this token).',
    response: r.list(r.sessionListing),
  },
  {
    method: 'delete',
    path: '/me/sessions/:id',
    scope: 'read',
    tag: 'Account',
    summary: 'End one of your sessions (this one too: it signs you out).',
    response: r.sessionEnded,
  },
  {
    method: 'get',
    path: '/sessions',
    scope: 'admin',
    tag: 'Account',
    summary: "Everyone's live sessions.",
    response: r.list(r.sessionListing),
  },
  {
    method: 'delete',
    path: '/sessions/:id',
    scope: 'admin',
    tag: 'Account',
    summary: "End anyone's session.",
    response: r.sessionEnded,
  },
  // Tokens and audit
  {
    method: 'get',
    path: '/tokens',
    scope: 'admin',
    tag: 'Tokens',
    summary: 'API tokens (never their secrets).',
    response: r.list(r.token),
  },
  {
    method: 'post',
    path: '/tokens',
    scope: 'admin',
    tag: 'Tokens',
    summary: 'Mint a token; answers its secret once, as `token`.',
    body: a.createTokenBody,
    status: 201,
    response: r.createdToken,
  },
  {
    method: 'delete',
    path: '/tokens/:id',
    scope: 'admin',
    tag: 'Tokens',
    summary: 'Revoke a token (not the last working admin token).',
    response: r.deleted,
    errors: { 409: 'The last working admin token.' },
  },
  {
    method: 'get',
    path: '/audit',
    scope: 'admin',
    tag: 'Tokens',
    summary: 'The audit log: every change and every admin request; paginated.',
    query: a.auditQuery,
    response: r.page(r.auditEntry),
  },
  {
    method: 'get',
    path: '/audit/export',
    scope: 'admin',
    tag: 'Tokens',
    summary: 'The audit log oldest first, from a time on, for an export; paginated.',
    description:
      'Follow `next_cursor` until it is null; `overair audit export` writes the entries as JSON lines.',
    query: a.auditExportQuery,
    response: r.page(r.auditEntry),
  },
];

/** `/apps/:appId` as OpenAPI writes it: `/apps/{appId}`. */
export const openApiPath = (path: string) => path.replace(/:([A-Za-z0-9_]+)/g, '{$1}');

const paramNames = (path: string) => [...path.matchAll(/:([A-Za-z0-9_]+)/g)].map((match) => match[1]!);

const SCOPE_TEXT: Record<OperationScope, string> = {
  none: 'No credentials needed.',
  read: 'Scope: read.',
  publish: 'Scope: publish (or admin).',
  admin: 'Scope: admin.',
};

function errorResponse(description: string) {
  return { description, content: { 'application/json': { schema: r.errorBody } } };
}

function register(registry: OpenAPIRegistry, op: AdminOperation): void {
  const names = paramNames(op.path);
  const params =
    names.length > 0
      ? z.object(
          Object.fromEntries(
            names.map((name) => {
              const schema = op.params?.[name] ?? PATH_PARAMS[name];
              if (!schema) throw new Error(`No schema for path parameter ${name} of ${op.path}`);
              return [name, schema];
            }),
          ),
        )
      : undefined;
  const body =
    op.body === undefined
      ? undefined
      : 'raw' in op.body
        ? {
            description: op.body.description,
            required: true,
            content: {
              [op.body.raw]: { schema: { type: 'string' as const, contentMediaType: op.body.raw } },
            },
          }
        : { required: !op.bodyOptional, content: { 'application/json': { schema: op.body } } };

  const responses: Record<string, ReturnType<typeof errorResponse>> = {};
  if (params || op.query || op.body) responses[400] = errorResponse('Invalid input.');
  if (op.scope !== 'none') {
    responses[401] = errorResponse('No credentials, or not valid ones.');
    responses[403] = errorResponse(`The credentials lack the scope needed. ${SCOPE_TEXT[op.scope]}`);
  }
  if (params) responses[404] = errorResponse('Not found.');
  for (const [status, description] of Object.entries(op.errors ?? {})) {
    responses[status] = errorResponse(description);
  }
  if (op.scope !== 'none' || op.method === 'post') {
    responses[429] = errorResponse('Too many failed authentications from this address.');
  }
  responses[503] = errorResponse('Database or storage unavailable; retry after Retry-After.');

  const security: Record<string, string[]>[] =
    op.scope === 'none' ? [] : [{ bearerToken: [op.scope] }, { sessionCookie: [op.scope] }];
  registry.registerPath({
    method: op.method,
    path: openApiPath(op.path),
    operationId: `${op.method}${op.path.replace(/[^A-Za-z0-9]+(.)?/g, (_, next?: string) => (next ?? '').toUpperCase())}`,
    tags: [op.tag],
    summary: op.summary,
    description: [op.description, SCOPE_TEXT[op.scope]].filter(Boolean).join(' '),
    security,
    'x-scope': op.scope,
    request: { params, query: op.query, ...(body ? { body } : {}) },
    responses: {
      [op.status ?? 200]: {
        description: 'Success.',
        content: { 'application/json': { schema: op.response } },
      },
      ...responses,
    },
  });
}

/** Builds the document (once; it never changes while the server runs). */
export function adminOpenApiDocument(): ReturnType<OpenApiGeneratorV31['generateDocument']> {
  cached ??= build();
  return cached;
}
let cached: ReturnType<OpenApiGeneratorV31['generateDocument']> | undefined;

function build() {
  const registry = new OpenAPIRegistry();
  registry.registerComponent('securitySchemes', 'bearerToken', {
    type: 'http',
    scheme: 'bearer',
    description:
      'An API token (`Authorization: Bearer oat_...`), minted with `overair token create` or POST /tokens. ' +
      'Scopes nest: read < publish < admin.',
  });
  registry.registerComponent('securitySchemes', 'sessionCookie', {
    type: 'apiKey',
    in: 'cookie',
    name: 'overair_session',
    description:
      "The dashboard's session cookie (POST /session). Changes also need the X-CSRF-Token header " +
      'with the csrf_token of the session.',
  });
  for (const op of ADMIN_OPERATIONS) register(registry, op);
  return new OpenApiGeneratorV31(registry.definitions).generateDocument({
    openapi: '3.1.0',
    info: {
      title: 'Overair admin API',
      version: 'v1',
      description:
        'Apps, bundles, channels, releases, devices, native builds, webhooks, users and tokens of an ' +
        'Overair server. JSON in and out; errors are `{error, message}`. See docs/admin-api.md.',
    },
    servers: [{ url: '/api/v1' }],
    tags: [...new Set(ADMIN_OPERATIONS.map((op) => op.tag))].map((name) => ({ name })),
  });
}
