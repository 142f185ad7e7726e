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

import type { Access } from './auth.js';

export interface AdminOperation {
  method: 'get' | 'post' | 'put' | 'patch' | 'delete';
  /** Relative to /api/v1, with Hono's `:param` placeholders (as the routes are registered). */
  path: string;
  /**
   * What the route needs (src/http/auth.ts `Access`): enforced by the route's middleware, checked by
   * test/openapi.test.ts and test/admin-security.test.ts, and the source of the roles table of
   * docs/security.md (npm run docs:roles).
   */
  access: Access;
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
  /** A JSON answer's schema; or `{redirect}`: the route answers 302 to what the text says. */
  response: z.ZodType | { redirect: string };
  /** The answer's media type when not JSON: a stream of server-sent events, each `data` a `response`. */
  responseType?: 'text/event-stream';
  /** Error statuses worth naming besides the usual ones (400, 401, 403, 404, 429). */
  errors?: Record<number, string>;
  /** Another success answer, e.g. 202 with a release request instead of the change made. */
  alternative?: { status: 202; description: string; response: z.ZodType };
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
    access: 'none',
    tag: 'Meta',
    summary: 'This OpenAPI 3.1 document.',
    response: z.record(z.string(), z.unknown()),
  },
  {
    method: 'get',
    path: '/whoami',
    access: 'signed-in',
    tag: 'Meta',
    summary: "The caller's token or user: id, name, kind and roles.",
    response: r.whoami,
  },
  // Session
  {
    method: 'post',
    path: '/session',
    access: 'none',
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
    access: 'none',
    tag: 'Session',
    summary: 'The signed-in session and its CSRF token (401 when none).',
    response: r.session,
  },
  {
    method: 'delete',
    path: '/session',
    access: 'none',
    tag: 'Session',
    summary: 'Sign out (needs X-CSRF-Token when a session is open).',
    response: r.signedOut,
  },
  {
    method: 'get',
    path: '/session/methods',
    access: 'none',
    tag: 'Session',
    summary: 'How one may sign in: with a password (unless turned off), and through single sign-on.',
    response: r.signInMethods,
  },
  {
    method: 'get',
    path: '/session/oidc',
    access: 'none',
    tag: 'Session',
    summary: "Starts a single sign-on: redirects to the OpenID provider's sign-in page.",
    description:
      'Sets a short-lived HttpOnly flow cookie (state, nonce, PKCE verifier) for the callback. ' +
      'Without single sign-on set up, or with the provider unreachable, redirects to `/?sso_error=CODE`.',
    response: { redirect: "To the provider's authorization endpoint, or to `/?sso_error=CODE`." },
  },
  {
    method: 'get',
    path: '/session/oidc/callback',
    access: 'none',
    tag: 'Session',
    summary: "The OpenID provider's redirect back: checks the answer and the ID token, opens a session.",
    description:
      'On success sets the session cookie and redirects to the dashboard (`/`); otherwise redirects to ' +
      '`/?sso_error=CODE` (`sso_failed`: a check failed, counted as a failed login; `sso_refused`, ' +
      '`sso_name_taken`, `sso_unavailable`, `too_many_failed_logins`).',
    response: { redirect: 'To `/` signed in, or to `/?sso_error=CODE`.' },
  },
  // Apps
  {
    method: 'get',
    path: '/apps',
    access: 'signed-in',
    tag: 'Apps',
    summary: 'The apps the caller has a role on (all of them for a server admin).',
    response: r.list(r.app),
  },
  {
    method: 'post',
    path: '/apps',
    access: 'server-admin',
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
    access: 'read',
    tag: 'Apps',
    summary: 'One app.',
    response: r.app,
  },
  {
    method: 'patch',
    path: APPS,
    access: 'admin',
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
    access: 'server-admin',
    tag: 'Apps',
    summary: 'Delete an app with its channels, bundles, devices and unshared bundle bytes.',
    response: r.deleted,
  },
  // Bundles
  {
    method: 'get',
    path: `${APPS}/bundles`,
    access: 'read',
    tag: 'Bundles',
    summary: 'Bundles, newest first, paginated.',
    query: a.pageQuery,
    response: r.page(r.bundle),
  },
  {
    method: 'post',
    path: `${APPS}/bundles/upload`,
    access: 'publish',
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
    access: 'publish',
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
    access: 'publish',
    tag: 'Bundles',
    summary: 'Delete old bundles no channel can still need (retention); `dry_run` to see them first.',
    description:
      "Deletes the bundles beyond the `keep` newest (default: the app's `keep_bundles`) and, when " +
      '`older_than_days` is given, uploaded before then; never one a channel serves (live or rolling ' +
      'out) nor the rollback target of any channel. Their zips and delta files are deleted when no other ' +
      'bundle or file shares them. Each deletion is audited as `bundle.cleanup`. Needs the same role ' +
      'as deleting a bundle. A 400 when neither limit is given nor `keep_bundles` set.',
    body: a.cleanupBody,
    bodyOptional: true,
    response: r.cleanup,
  },
  {
    method: 'get',
    path: `${APPS}/bundles/:version`,
    access: 'read',
    tag: 'Bundles',
    summary: 'One bundle.',
    response: r.bundle,
  },
  {
    method: 'patch',
    path: `${APPS}/bundles/:version`,
    access: 'publish',
    tag: 'Bundles',
    summary: "Correct a bundle's notes, minimum native version or native layer (never its bytes).",
    description:
      'Recorded in the audit log and, on every channel serving the bundle (live or rolling out), as a ' +
      '`bundle_edited` entry of the channel history. Update checks answer with the change at once: a ' +
      'changed `native_layer` (its fingerprint recomputed; `null` for unknown) is judged afresh by the ' +
      'native compatibility gate. Changing the minimum native version or native layer of a bundle a ' +
      'protected channel serves needs the release role (403 `protected_channel`).',
    body: a.updateBundleBody,
    response: r.bundle,
  },
  {
    method: 'get',
    path: `${APPS}/bundles/:version/compatibility`,
    access: 'read',
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
    access: 'publish',
    tag: 'Bundles',
    summary: 'Delete a bundle; channels it was live on fall back, and are listed.',
    description:
      'Refused (403 `protected_channel`) without the release role when live on a protected channel.',
    response: r.bundleDeleted,
  },
  // Channels
  {
    method: 'get',
    path: `${APPS}/channels`,
    access: 'read',
    tag: 'Channels',
    summary: "The app's channels.",
    response: r.list(r.channel),
  },
  {
    method: 'post',
    path: `${APPS}/channels`,
    access: 'publish',
    tag: 'Channels',
    summary: "Create a channel (`{name, version?, ...settings}`); an app's first is its default.",
    description:
      'Creating one `protected`, or taking the default from a protected channel, needs the release role (403 `protected_channel`).',
    body: a.createChannelBody,
    status: 201,
    response: r.channel,
    errors: { 409: 'The channel exists.' },
  },
  {
    method: 'get',
    path: CHANNEL,
    access: 'read',
    tag: 'Channels',
    summary: 'One channel.',
    response: r.channel,
  },
  {
    method: 'patch',
    path: CHANNEL,
    access: 'publish',
    tag: 'Channels',
    summary: "Change a channel's settings (at least one).",
    description:
      'Changing a protected channel, turning `protected` on or off, or taking the default from a protected channel needs the release role (403 `protected_channel`).',
    body: a.updateChannelBody,
    response: r.channel,
  },
  {
    method: 'delete',
    path: CHANNEL,
    access: 'admin',
    tag: 'Channels',
    summary: 'Delete a channel; devices pinned to it go back to the normal rules.',
    response: r.deleted,
  },
  {
    method: 'put',
    path: `${CHANNEL}/bundle`,
    access: 'publish',
    tag: 'Channels',
    summary: 'Make a bundle live: `{version}`.',
    description:
      'On a protected channel it needs the release role: without it, 403 `protected_channel`, or, when the app has `release_approval`, 202 with a release request.',
    body: a.setBundleBody,
    response: r.channel,
    alternative: {
      status: 202,
      description: 'A protected channel, an app with release_approval: the release request made.',
      response: r.releaseRequest,
    },
    errors: { 409: "The bundle does not meet the app's signature or encryption requirement." },
  },
  {
    method: 'post',
    path: `${CHANNEL}/rollout`,
    access: 'publish',
    tag: 'Channels',
    summary: 'Serve a bundle to `percent` of the devices (100 completes it), or on a schedule of `steps`.',
    description:
      'With `steps` (e.g. `1%:1h,10%:6h,50%:24h,100%`), the first step starts now and each next one when ' +
      'the step before has lasted its time and the release is healthy; an unhealthy release halts the ' +
      'channel. The answer then carries the `schedule`. Any manual rollout, set-live or rollback of the ' +
      'channel cancels a running schedule. On a protected channel it needs the release role: without it, ' +
      '403 `protected_channel`, or, for a single change when the app has `release_approval`, 202 with a ' +
      'release request (a schedule is never turned into a request).',
    body: a.rolloutBody,
    response: r.channelRollout,
    alternative: {
      status: 202,
      description: 'A protected channel, an app with release_approval: the release request made.',
      response: r.releaseRequest,
    },
    errors: {
      409: "Already live, or the bundle does not meet the app's signature or encryption requirement.",
    },
  },
  {
    method: 'get',
    path: `${CHANNEL}/schedule`,
    access: 'read',
    tag: 'Channels',
    summary: "The channel's rollout schedule (the latest): steps, current step, next step's time, state.",
    response: r.schedule,
    errors: { 404: 'The channel has never had a rollout schedule.' },
  },
  {
    method: 'delete',
    path: `${CHANNEL}/schedule`,
    access: 'publish',
    tag: 'Channels',
    summary: "Cancel the channel's running rollout schedule; the rollout stays at its current step.",
    response: r.schedule,
    errors: { 409: 'No running schedule (it completed, was halted or cancelled, or there is none).' },
  },
  {
    method: 'post',
    path: `${CHANNEL}/rollback`,
    access: 'publish',
    tag: 'Channels',
    summary: 'Stop a rollout, or else make the previous bundle live again (protected channels too).',
    body: a.rollbackBody,
    bodyOptional: true,
    response: r.channel,
  },
  {
    method: 'get',
    path: `${CHANNEL}/history`,
    access: 'read',
    tag: 'Channels',
    summary: 'Every release change of the channel, with who, when and why; paginated.',
    query: a.pageQuery,
    response: r.page(r.history),
  },
  // Release requests
  {
    method: 'get',
    path: `${APPS}/release-requests`,
    access: 'read',
    tag: 'Release requests',
    summary: "The app's release requests (four-eyes releases), newest first; paginated.",
    query: a.releaseRequestsQuery,
    response: r.page(r.releaseRequest),
  },
  {
    method: 'get',
    path: `${APPS}/release-requests/:id`,
    access: 'read',
    tag: 'Release requests',
    summary: 'One release request.',
    response: r.releaseRequest,
  },
  {
    method: 'post',
    path: `${APPS}/release-requests/:id/approve`,
    access: 'release',
    tag: 'Release requests',
    summary: 'Approve a pending request: its change is made now, exactly once.',
    description:
      'Not by its requester (403 `self_approval`). The channel must still serve what it served when the request was made, and the bundle still be releasable; else nothing changes and the request ends `failed` (409 `release_request_failed`).',
    response: r.releaseRequest,
    errors: { 409: 'Already decided or expired (`release_request_closed`), or it failed.' },
  },
  {
    method: 'post',
    path: `${APPS}/release-requests/:id/reject`,
    access: 'release',
    tag: 'Release requests',
    summary: 'Reject a pending request (`{reason?}`); nothing changes on the channel.',
    body: a.rejectBody,
    bodyOptional: true,
    response: r.releaseRequest,
    errors: { 409: 'Already decided or expired (`release_request_closed`).' },
  },
  {
    method: 'get',
    path: `${CHANNEL}/adoption`,
    access: 'read',
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
    access: 'read',
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
    access: 'read',
    tag: 'Devices',
    summary: 'Devices, downloads, installs, failures per version, a time series, plugin versions.',
    query: a.statsQuery,
    response: r.stats,
  },
  {
    method: 'get',
    path: `${APPS}/devices`,
    access: 'read',
    tag: 'Devices',
    summary: 'Devices, most recently seen first, filtered; paginated.',
    query: a.devicesQuery,
    response: r.page(r.device),
  },
  {
    method: 'get',
    path: DEVICE,
    access: 'read',
    tag: 'Devices',
    summary: 'One device.',
    response: r.device,
  },
  {
    method: 'get',
    path: `${DEVICE}/live`,
    access: 'read',
    tag: 'Devices',
    summary: "The device's checks (sent, answered, why), downloads and events as they happen (SSE).",
    description:
      "A `text/event-stream` that stays open: each event's `data` is one JSON object (`kind`: `check`, " +
      '`download`, `event`; `dropped` when a slow reader lost events, `gap` after a reconnection that ' +
      'could not be replayed, `closed` before the server ends it), with an `id` to resume from ' +
      '(`Last-Event-ID`); comments keep it alive. Needs a read role on the app. It ends when its session ' +
      'or token ends, is revoked or expires (checked every few seconds). At most 8 streams per token or ' +
      'user and 200 per instance (429 `too_many_live_streams`).',
    responseType: 'text/event-stream',
    response: r.liveEvent,
    errors: { 429: 'Too many live streams open (`too_many_live_streams`), or too many failed logins.' },
  },
  {
    method: 'put',
    path: `${DEVICE}/channel`,
    access: 'publish',
    tag: 'Devices',
    summary: 'Pin a device to a channel (works before its first check).',
    body: a.deviceChannelBody,
    response: r.device,
  },
  {
    method: 'delete',
    path: `${DEVICE}/channel`,
    access: 'publish',
    tag: 'Devices',
    summary: "Remove a device's pin.",
    response: r.device,
  },
  {
    method: 'get',
    path: `${APPS}/holds`,
    access: 'read',
    tag: 'Devices',
    summary: 'Versions held back from devices that failed them.',
    query: a.holdsQuery,
    response: r.list(r.hold),
  },
  {
    method: 'delete',
    path: `${DEVICE}/holds`,
    access: 'publish',
    tag: 'Devices',
    summary: "Clear a device's holds (one version, or all).",
    query: a.clearHoldsQuery,
    response: r.holdsCleared,
  },
  // Native builds
  {
    method: 'post',
    path: `${APPS}/native/upload`,
    access: 'publish',
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
    access: 'read',
    tag: 'Native builds',
    summary: 'Native builds, newest first, with download and stable latest links.',
    query: a.nativeListQuery,
    response: r.list(r.nativeBuild),
  },
  {
    method: 'delete',
    path: `${APPS}/native/:platform/:version`,
    access: 'publish',
    tag: 'Native builds',
    summary: 'Delete a native build (and its bytes unless shared).',
    params: { version: s.nativeVersion },
    response: r.deleted,
  },
  {
    method: 'get',
    path: `${APPS}/binaries`,
    access: 'read',
    tag: 'Native builds',
    summary: 'Binaries registered with their native layer, newest first.',
    response: r.list(r.nativeBinary),
  },
  {
    method: 'post',
    path: `${APPS}/binaries`,
    access: 'publish',
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
    access: 'publish',
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
    access: 'admin',
    tag: 'Webhooks',
    summary: 'Webhooks (all, or those of one app); never their secrets.',
    query: a.webhooksQuery,
    response: r.list(r.webhook),
  },
  {
    method: 'post',
    path: '/webhooks',
    access: 'admin',
    tag: 'Webhooks',
    summary: 'Add a webhook; answers its signing secret once.',
    body: a.newWebhookBody,
    status: 201,
    response: r.createdWebhook,
  },
  {
    method: 'delete',
    path: '/webhooks/:id',
    access: 'admin',
    tag: 'Webhooks',
    summary: 'Delete a webhook.',
    response: r.deleted,
  },
  {
    method: 'get',
    path: '/webhooks/:id/deliveries',
    access: 'admin',
    tag: 'Webhooks',
    summary: "A webhook's delivery log, newest first; paginated.",
    query: a.pageQuery,
    response: r.page(r.delivery),
  },
  {
    method: 'post',
    path: '/webhooks/:id/test',
    access: 'admin',
    tag: 'Webhooks',
    summary: 'Queue a `webhook.test` event to that webhook only.',
    status: 202,
    response: r.delivery,
  },
  // Users
  {
    method: 'get',
    path: '/users',
    access: 'server-admin',
    tag: 'Users',
    summary: 'Dashboard users (never their password hashes).',
    response: r.list(r.user),
  },
  {
    method: 'post',
    path: '/users',
    access: 'server-admin',
    tag: 'Users',
    summary: 'Add a dashboard user.',
    body: a.createUserBody,
    status: 201,
    response: r.user,
    errors: { 409: 'The user exists.' },
  },
  {
    method: 'patch',
    path: '/users/:username',
    access: 'server-admin',
    tag: 'Users',
    summary: "Replace a user's roles (not the last server admin's server-wide admin).",
    body: a.updateUserBody,
    response: r.user,
    errors: { 409: 'The last server admin user would lose server-wide admin.' },
  },
  {
    method: 'delete',
    path: '/users/:username',
    access: 'server-admin',
    tag: 'Users',
    summary: 'Delete a user and end their sessions (not the last admin).',
    response: r.deleted,
    errors: { 409: 'The last admin user.' },
  },
  {
    method: 'put',
    path: '/users/:username/password',
    access: 'server-admin',
    tag: 'Users',
    summary: "Set a user's password (also a signed-in user's own); ends their sessions.",
    description: 'Needs a server admin, except for signed-in users changing their own password.',
    body: a.setPasswordBody,
    response: r.passwordUpdated,
  },
  {
    method: 'delete',
    path: '/users/:username/totp',
    access: 'server-admin',
    tag: 'Users',
    summary: "Turn a user's two-factor sign-in off (a lost authenticator); ends their sessions.",
    response: r.totpDisabled,
    errors: { 409: 'Two-factor sign-in is not on for this user.' },
  },
  // Your account
  {
    method: 'get',
    path: '/me/totp',
    access: 'signed-in',
    tag: 'Account',
    summary: "The signed-in user's two-factor sign-in: on or not, recovery codes left.",
    response: r.totpStatus,
  },
  {
    method: 'post',
    path: '/me/totp',
    access: 'signed-in',
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
    access: 'signed-in',
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
    access: 'signed-in',
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
    access: 'signed-in',
    tag: 'Account',
    summary: 'Your live sessions (of this user, or opened with this token).',
    response: r.list(r.sessionListing),
  },
  {
    method: 'delete',
    path: '/me/sessions/:id',
    access: 'signed-in',
    tag: 'Account',
    summary: 'End one of your sessions (this one too: it signs you out).',
    response: r.sessionEnded,
  },
  {
    method: 'get',
    path: '/sessions',
    access: 'server-admin',
    tag: 'Account',
    summary: "Everyone's live sessions.",
    response: r.list(r.sessionListing),
  },
  {
    method: 'delete',
    path: '/sessions/:id',
    access: 'server-admin',
    tag: 'Account',
    summary: "End anyone's session.",
    response: r.sessionEnded,
  },
  // Tokens and audit
  {
    method: 'get',
    path: '/tokens',
    access: 'admin',
    tag: 'Tokens',
    summary: 'API tokens (never their secrets): all for a server admin, else those of apps one administers.',
    response: r.list(r.token),
  },
  {
    method: 'post',
    path: '/tokens',
    access: 'admin',
    tag: 'Tokens',
    summary: 'Mint a token with `roles` (or the old `scope`); answers its secret once, as `token`.',
    description:
      'An app admin may give roles only on apps they administer; roles on all apps need admin on all ' +
      'apps, server-wide admin a server admin.',
    body: a.createTokenBody,
    status: 201,
    response: r.createdToken,
  },
  {
    method: 'delete',
    path: '/tokens/:id',
    access: 'admin',
    tag: 'Tokens',
    summary: 'Revoke a token (not the last working server-admin token).',
    description: 'A token with roles beyond the apps one administers is answered 404, as if absent.',
    response: r.deleted,
    errors: { 409: 'The last working admin token.' },
  },
  {
    method: 'get',
    path: '/audit',
    access: 'admin',
    tag: 'Tokens',
    summary: 'The audit log: every change and every admin request; paginated.',
    description: "The whole log for a server admin; an app's admin must name it with `?app=`.",
    query: a.auditQuery,
    response: r.page(r.auditEntry),
  },
  {
    method: 'get',
    path: '/audit/export',
    access: 'admin',
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

/** Whether an operation is about the app in its path (its role is on that app). */
export const isAppRoute = (op: Pick<AdminOperation, 'path'>): boolean => op.path.includes(':appId');

/** What an operation needs, in words, for its description and the 403 answer. */
function accessText(op: Pick<AdminOperation, 'path' | 'access'>): string {
  switch (op.access) {
    case 'none':
      return 'No credentials needed.';
    case 'signed-in':
      return 'Any token or user (what it shows depends on their roles).';
    case 'server-admin':
      return 'A server admin.';
    default:
      return isAppRoute(op)
        ? `Role on the app: ${op.access} (or higher).`
        : `Role: ${op.access} of the app it concerns (a server admin for server-wide ones).`;
  }
}

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
  if (op.access !== 'none') responses[401] = errorResponse('No credentials, or not valid ones.');
  if (op.access !== 'none' && op.access !== 'signed-in') {
    responses[403] = errorResponse(`The credentials lack the role needed. ${accessText(op)}`);
  }
  if (params) responses[404] = errorResponse('Not found.');
  for (const [status, description] of Object.entries(op.errors ?? {})) {
    responses[status] = errorResponse(description);
  }
  if (op.access !== 'none' || op.method === 'post') {
    responses[429] = errorResponse('Too many failed authentications from this address.');
  }
  responses[503] = errorResponse('Database or storage unavailable; retry after Retry-After.');

  const security: Record<string, string[]>[] =
    op.access === 'none' ? [] : [{ bearerToken: [op.access] }, { sessionCookie: [op.access] }];
  registry.registerPath({
    method: op.method,
    path: openApiPath(op.path),
    operationId: `${op.method}${op.path.replace(/[^A-Za-z0-9]+(.)?/g, (_, next?: string) => (next ?? '').toUpperCase())}`,
    tags: [op.tag],
    summary: op.summary,
    description: [op.description, accessText(op)].filter(Boolean).join(' '),
    security,
    'x-access': op.access,
    request: { params, query: op.query, ...(body ? { body } : {}) },
    responses: {
      ...('redirect' in op.response
        ? { 302: { description: op.response.redirect } }
        : {
            [op.status ?? 200]: {
              description: 'Success.',
              content: { [op.responseType ?? 'application/json']: { schema: op.response } },
            },
          }),
      ...(op.alternative && {
        [op.alternative.status]: {
          description: op.alternative.description,
          content: { 'application/json': { schema: op.alternative.response } },
        },
      }),
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
      'Roles per app nest: read < publish < release < admin; server admins may do everything ' +
      '(docs/security.md#roles).',
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
