/**
 * Every error a client of Overair can receive, in one place: its stable machine code, its HTTP
 * status, its message (a template with typed parameters), a one-line description for
 * docs/errors.md (generated from this file: `npm run docs:errors`) and which clients see it.
 * Errors are built only through `errors` below (`throw errors.appNotFound({ appId })`); a test scans
 * src/ for any other construction.
 */

/** Which clients see an error: the admin API (CLI, dashboard, CI), the device endpoints, or both. */
export type Audience = 'admin' | 'device' | 'both';

export type ErrorStatus = 400 | 401 | 403 | 404 | 405 | 408 | 409 | 413 | 415 | 416 | 422 | 429 | 500 | 503;

/**
 * An error meant for the client: it carries the HTTP status and a stable machine code, and its
 * message is safe to show. Anything else that reaches the error handler is a bug and becomes a 500
 * without details. Build one through `errors`, never directly.
 */
export class OverairError extends Error {
  override name = 'OverairError';
  constructor(
    readonly status: ErrorStatus,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** The JSON body every error answer carries (the update check adds `kind`). */
export const errorBody = (error: OverairError) => ({ error: error.code, message: error.message });

/** One registry entry: called with its parameters, it makes the error; its fields describe it. */
export type ErrorFactory<P> = (unknown extends P ? () => OverairError : (params: P) => OverairError) &
  ErrorDefinition<P>;

interface ErrorDefinition<P> {
  code: string;
  status: ErrorStatus;
  audience: Audience;
  /** One line for the reference page: when it happens and what to do. */
  description: string;
  message: (params: P) => string;
}

function define<P = unknown>(definition: ErrorDefinition<P>): ErrorFactory<P> {
  const make = (params: P) =>
    new OverairError(definition.status, definition.code, definition.message(params));
  return Object.assign(make, definition) as ErrorFactory<P>;
}

/** How long a client is asked to wait (Retry-After) before trying again during a database outage. */
export const DATABASE_RETRY_AFTER_SECONDS = 5;

export const errors = {
  // ------------------------------------------------------------------------------------------
  // Any client
  invalidRequest: define({
    code: 'invalid_request',
    status: 400,
    audience: 'both',
    description: 'A field of the body, query or path is missing or malformed; the message names it.',
    message: ({ problem }: { problem: string }) => problem,
  }),
  invalidJson: define({
    code: 'invalid_json',
    status: 400,
    audience: 'both',
    description: 'The body of a JSON route is empty or not JSON.',
    message: ({ problem }: { problem: 'empty' | 'not valid JSON' }) =>
      `The request body is ${problem}; send a JSON object with Content-Type: application/json`,
  }),
  badRequest: define({
    code: 'bad_request',
    status: 400,
    audience: 'both',
    description: 'The request could not be read at all (the HTTP layer refused it).',
    message: ({ problem }: { problem: string }) => problem,
  }),
  clientAborted: define({
    code: 'client_aborted',
    status: 400,
    audience: 'both',
    description:
      'The body stopped arriving before its end (the client went away or sent nothing for too long); nothing was stored.',
    message: () => 'The request body was not received in full: the client went away',
  }),
  notFound: define({
    code: 'not_found',
    status: 404,
    audience: 'both',
    description: 'No route (or dashboard file) answers this path; check the URL and the API prefix /api/v1.',
    message: ({ method, path }: { method: string; path: string }) => `Nothing is served at ${method} ${path}`,
  }),
  methodNotAllowed: define({
    code: 'method_not_allowed',
    status: 405,
    audience: 'both',
    description: 'The path exists under other methods; the Allow header lists them.',
    message: ({ method, path, allow }: { method: string; path: string; allow: string }) =>
      `${method} is not allowed on ${path}; use ${allow}`,
  }),
  payloadTooLarge: define({
    code: 'payload_too_large',
    status: 413,
    audience: 'both',
    description:
      'A body, upload or stats batch is over its limit; the connection is closed after the answer.',
    message: ({ what, limit }: { what: string; limit: string }) => `${what} exceeds the limit of ${limit}`,
  }),
  internalError: define({
    code: 'internal_error',
    status: 500,
    audience: 'both',
    description: 'A bug: the server log has the details (never sent to the client).',
    message: () => 'The server failed to handle this request',
  }),
  databaseUnavailable: define({
    code: 'database_unavailable',
    status: 503,
    audience: 'both',
    description: 'The database cannot be reached; retry after Retry-After seconds.',
    message: () => 'The database cannot be reached right now; try again shortly',
  }),
  storageUnavailable: define({
    code: 'storage_unavailable',
    status: 503,
    audience: 'both',
    description: 'The bundle storage (S3) cannot be reached; retry after Retry-After seconds.',
    message: () => 'The bundle storage cannot be reached right now; try again shortly',
  }),
  appNotFound: define({
    code: 'app_not_found',
    status: 404,
    audience: 'both',
    description:
      'No app has this id: check the app id (capacitor.config appId) or create the app (`overair app create`).',
    message: ({ appId }: { appId: string }) =>
      `No app "${appId}" on this server; check the app id or create it with \`overair app create\``,
  }),
  channelNotFound: define({
    code: 'channel_not_found',
    status: 404,
    audience: 'both',
    description:
      'The app has no channel of this name (or, for a device, no default channel); see `overair channel list`.',
    message: ({ appId, channel }: { appId: string; channel?: string }) =>
      channel === undefined
        ? `App "${appId}" has no default channel; make one the default with \`overair channel create --default\``
        : `App "${appId}" has no channel "${channel}"; see \`overair channel list\``,
  }),
  bundleNotFound: define({
    code: 'bundle_not_found',
    status: 404,
    audience: 'both',
    description:
      'No bundle of this version (admin API) or this checksum (download); see `overair bundle list`.',
    message: (bundle: { appId: string; version: string } | { sha256: string }) =>
      'sha256' in bundle
        ? 'No bundle with this checksum; a new update check gives a current link'
        : `App "${bundle.appId}" has no bundle "${bundle.version}"; see \`overair bundle list\``,
  }),

  // ------------------------------------------------------------------------------------------
  // Admin API: authentication
  unauthorized: define({
    code: 'unauthorized',
    status: 401,
    audience: 'admin',
    description: 'No credentials: send Authorization: Bearer <token>, or sign in to the dashboard.',
    message: () =>
      'You are not signed in: send an admin token (Authorization: Bearer <token>) or sign in to the dashboard',
  }),
  invalidToken: define({
    code: 'invalid_token',
    status: 401,
    audience: 'admin',
    description: 'The bearer token is unknown or revoked; counts as a failed login.',
    message: () => 'The token is not valid (unknown or revoked); ask an admin for a new one',
  }),
  metricsUnauthorized: define({
    code: 'metrics_unauthorized',
    status: 401,
    audience: 'admin',
    description:
      'GET /metrics without the metrics token (OVERAIR_METRICS_TOKEN) as Authorization: Bearer, or with another.',
    message: () => 'Send the metrics token (OVERAIR_METRICS_TOKEN) as Authorization: Bearer <token>',
  }),
  tokenExpired: define({
    code: 'token_expired',
    status: 401,
    audience: 'admin',
    description: 'The bearer token has passed its expires_at; counts as a failed login.',
    message: () => 'The token has expired; ask an admin for a new one',
  }),
  invalidCredentials: define({
    code: 'invalid_credentials',
    status: 401,
    audience: 'admin',
    description:
      'A dashboard sign-in was refused (wrong password, or a bad token); counts as a failed login.',
    // The dashboard shows this message as it is.
    message: ({ credential }: { credential: 'password' | 'token' }) =>
      credential === 'token'
        ? 'The token is not valid (unknown, revoked or expired)'
        : 'Wrong user name or password',
  }),
  passwordSignInDisabled: define({
    code: 'password_sign_in_disabled',
    status: 403,
    audience: 'admin',
    description:
      'OVERAIR_PASSWORD_SIGN_IN is false: sign in through single sign-on, or with a token; not a failed login.',
    message: () => 'Password sign-in is turned off on this server: use single sign-on or a token',
  }),
  ssoNotConfigured: define({
    code: 'sso_not_configured',
    status: 404,
    audience: 'admin',
    description: 'Single sign-on is not set up on this server (OVERAIR_OIDC_ISSUER).',
    message: () => 'Single sign-on is not set up on this server',
  }),
  ssoUnavailable: define({
    code: 'sso_unavailable',
    status: 503,
    audience: 'admin',
    description:
      "The OpenID provider's discovery document could not be read (down, unreachable, not an issuer); retry.",
    message: () => 'The single sign-on provider cannot be reached right now; try again shortly',
  }),
  ssoFailed: define({
    code: 'sso_failed',
    status: 401,
    audience: 'admin',
    description:
      'A single sign-on callback failed a check (state, PKCE, the ID token: signature, issuer, audience, expiry, nonce) or its flow expired; counts as a failed login.',
    // The sign-in page shows this code's text (sso_error in its URL).
    message: () => 'Single sign-on failed; start again from the sign-in page',
  }),
  ssoRefused: define({
    code: 'sso_refused',
    status: 403,
    audience: 'admin',
    description:
      'The provider signed the user in, but OVERAIR_OIDC_ALLOWED_DOMAINS, OVERAIR_OIDC_ALLOWED_GROUPS or OVERAIR_OIDC_ROLES let them in nowhere.',
    message: ({ reason }: { reason: string }) => `Single sign-on refused: ${reason}`,
  }),
  ssoNameTaken: define({
    code: 'sso_name_taken',
    status: 409,
    audience: 'admin',
    description:
      "A local (password) user has the single sign-on user's name: it is never taken over; an admin deletes it first.",
    message: ({ username }: { username: string }) =>
      `A local user named "${username}" exists; an admin must remove it before "${username}" can sign in with single sign-on`,
  }),
  ssoUserHasNoPassword: define({
    code: 'sso_user_has_no_password',
    status: 409,
    audience: 'admin',
    description: 'The user signs in through single sign-on and has no password to set.',
    message: ({ username }: { username: string }) =>
      `"${username}" signs in through single sign-on and has no password`,
  }),
  invalidSession: define({
    code: 'invalid_session',
    status: 401,
    audience: 'admin',
    description: 'The session cookie names no session (signed out, or the server forgot it); sign in again.',
    message: () => 'You are not signed in (unknown or ended session); sign in again',
  }),
  sessionExpired: define({
    code: 'session_expired',
    status: 401,
    audience: 'admin',
    description: 'The dashboard session has expired; sign in again.',
    message: () => 'Your session has expired; sign in again',
  }),
  totpRequired: define({
    code: 'totp_required',
    status: 401,
    audience: 'admin',
    description:
      'The password is right but the user has two-factor sign-in: send it again with `code` (or a recovery code).',
    // The dashboard asks for the code on this answer.
    message: () => 'Enter the code from your authenticator app (or a recovery code)',
  }),
  invalidTotpCode: define({
    code: 'invalid_totp_code',
    status: 401,
    audience: 'admin',
    description:
      'A two-factor code or recovery code is wrong, already used, or out of its time window; counts as a failed login.',
    message: () => 'Wrong or already used code; wait for the next code of your authenticator app',
  }),
  totpEnrolmentRequired: define({
    code: 'totp_enrolment_required',
    status: 403,
    audience: 'admin',
    description:
      'OVERAIR_REQUIRE_TOTP_FOR_ADMINS is on and this admin has no two-factor sign-in: the session may only enrol.',
    message: () =>
      'This server requires two-factor sign-in for admins: set it up (POST /api/v1/me/totp) before anything else',
  }),
  totpAlreadyEnabled: define({
    code: 'totp_already_enabled',
    status: 409,
    audience: 'admin',
    description: 'Two-factor sign-in is already on for this user; turn it off first to enrol again.',
    message: () => 'Two-factor sign-in is already on; turn it off first to enrol a new authenticator',
  }),
  totpNotEnabled: define({
    code: 'totp_not_enabled',
    status: 409,
    audience: 'admin',
    description: 'Two-factor sign-in is off for this user (or no enrolment was started to confirm).',
    message: ({ enrolling }: { enrolling: boolean }) =>
      enrolling
        ? 'No enrolment in progress: start one (POST /api/v1/me/totp) first'
        : 'Two-factor sign-in is not on for this user',
  }),
  userSessionRequired: define({
    code: 'user_session_required',
    status: 400,
    audience: 'admin',
    description: 'Two-factor sign-in belongs to dashboard users: sign in with a user name and password.',
    message: () => 'Only a user signed in with a password has two-factor sign-in; tokens do not',
  }),
  sessionNotFound: define({
    code: 'session_not_found',
    status: 404,
    audience: 'admin',
    description: 'No live session of this id (among yours, unless you are an admin).',
    message: ({ id }: { id: number }) => `No live session ${id}`,
  }),
  tooManyFailedLogins: define({
    code: 'too_many_failed_logins',
    status: 429,
    audience: 'admin',
    description: 'Too many failed authentications from this address; wait Retry-After seconds.',
    message: ({ seconds }: { seconds: number }) =>
      `Too many failed authentications from this address; try again in ${seconds} seconds`,
  }),
  tooManyLiveStreams: define({
    code: 'too_many_live_streams',
    status: 429,
    audience: 'admin',
    description:
      'Too many live device streams open at once, for this token or user or on this instance; close one (another tab, another `overair device watch`).',
    message: ({ limit, whose }: { limit: number; whose: string }) =>
      `At most ${limit} live streams may be open at once ${whose}; close one and try again`,
  }),
  forbidden: define({
    code: 'forbidden',
    status: 403,
    audience: 'admin',
    description:
      'The token or user lacks the role the action needs on its app (read < publish < release < admin), ' +
      'or it needs a server admin (docs/security.md#roles).',
    message: ({ action, needed, holder }: { action: string; needed: string; holder: string }) =>
      `${action} needs ${needed}; ${holder} does not have it`,
  }),
  csrfTokenInvalid: define({
    code: 'csrf_token_invalid',
    status: 403,
    audience: 'admin',
    description: 'A change made with the session cookie lacks the X-CSRF-Token header of the session.',
    message: () => 'This change needs the X-CSRF-Token header with the csrf_token of your session',
  }),
  crossOriginRequest: define({
    code: 'cross_origin_request',
    status: 403,
    audience: 'admin',
    description: "A sign-in from a page of another origin than this server's (OVERAIR_PUBLIC_URL).",
    message: () => 'Sign in from the dashboard of this server',
  }),
  crossSiteRequest: define({
    code: 'cross_site_request',
    status: 403,
    audience: 'admin',
    description: 'A sign-in the browser marks as sent by another site (Sec-Fetch-Site).',
    message: () => 'Sign in from the dashboard itself',
  }),

  // ------------------------------------------------------------------------------------------
  // Admin API: apps, channels, bundles
  appExists: define({
    code: 'app_exists',
    status: 409,
    audience: 'admin',
    description: 'An app with this id already exists.',
    message: ({ appId }: { appId: string }) => `An app "${appId}" already exists`,
  }),
  channelExists: define({
    code: 'channel_exists',
    status: 409,
    audience: 'admin',
    description: 'The app already has a channel of this name.',
    message: ({ appId, channel }: { appId: string; channel: string }) =>
      `App "${appId}" already has a channel "${channel}"`,
  }),
  defaultChannelRequired: define({
    code: 'default_channel_required',
    status: 409,
    audience: 'admin',
    description: 'The default channel cannot be unset; make another channel the default instead.',
    message: () => 'Make another channel the default instead of unsetting this one',
  }),
  alreadyLive: define({
    code: 'already_live',
    status: 409,
    audience: 'admin',
    description: 'The bundle is already live on the whole channel; nothing to do.',
    message: ({ version, channel }: { version: string; channel: string }) =>
      `Bundle ${version} is already live on all of channel "${channel}"`,
  }),
  nothingToRollBack: define({
    code: 'nothing_to_roll_back',
    status: 409,
    audience: 'admin',
    description: 'The channel has no earlier bundle in its history.',
    message: ({ channel }: { channel: string }) =>
      `Channel "${channel}" has no earlier bundle to roll back to`,
  }),
  scheduleNotFound: define({
    code: 'schedule_not_found',
    status: 404,
    audience: 'admin',
    description: 'The channel has never had a rollout schedule.',
    message: ({ channel }: { channel: string }) => `Channel "${channel}" has no rollout schedule`,
  }),
  scheduleNotRunning: define({
    code: 'schedule_not_running',
    status: 409,
    audience: 'admin',
    description:
      "The channel's rollout schedule already ended (completed, halted or cancelled), or there is none.",
    message: ({ channel }: { channel: string }) => `Channel "${channel}" has no running rollout schedule`,
  }),
  channelChanged: define({
    code: 'channel_changed',
    status: 409,
    audience: 'admin',
    description: 'Another change to the channel won the race; send the request again.',
    message: ({ channel }: { channel: string }) => `Channel "${channel}" changed meanwhile; try again`,
  }),
  protectedChannel: define({
    code: 'protected_channel',
    status: 403,
    audience: 'admin',
    description:
      'The channel is protected: changing what it serves, its settings or its protection needs the release role on the app (a rollback needs only publish).',
    message: ({
      action,
      channel,
      appId,
      holder,
      hint,
    }: {
      action: string;
      channel: string;
      appId: string;
      holder: string;
      hint: string;
    }) =>
      `Channel "${channel}" of app "${appId}" is protected: ${action} needs the "release" role on the app, which ${holder} lacks. ${hint}`,
  }),
  releaseRequestNotFound: define({
    code: 'release_request_not_found',
    status: 404,
    audience: 'admin',
    description: 'The app has no release request of this id.',
    message: ({ appId, id }: { appId: string; id: number }) => `App "${appId}" has no release request ${id}`,
  }),
  releaseRequestClosed: define({
    code: 'release_request_closed',
    status: 409,
    audience: 'admin',
    description:
      'The release request was already approved, rejected or failed (another approver may have been first), or it expired.',
    message: ({ id, status }: { id: number; status: string }) =>
      `Release request ${id} is ${status}: it can no longer be approved or rejected`,
  }),
  selfApproval: define({
    code: 'self_approval',
    status: 403,
    audience: 'admin',
    description: 'Four-eyes releases: whoever made a release request cannot approve it; someone else must.',
    message: ({ id }: { id: number }) =>
      `You made release request ${id}: someone else with the release role must approve it`,
  }),
  releaseRequestFailed: define({
    code: 'release_request_failed',
    status: 409,
    audience: 'admin',
    description:
      'The approved change can no longer be made (the channel changed since the request, or the bundle is gone or not releasable); the request is closed as failed.',
    message: ({ id, problem }: { id: number; problem: string }) =>
      `Release request ${id} cannot be applied and is closed as failed: ${problem}. Make a new request if the change is still wanted`,
  }),
  versionExists: define({
    code: 'version_exists',
    status: 409,
    audience: 'admin',
    description: 'A bundle or native build of this version exists; versions are immutable, upload a new one.',
    message: ({ appId, what, version }: { appId: string; what: string; version: string }) =>
      `App "${appId}" already has ${what} "${version}"; versions are immutable, use a new one`,
  }),
  emptyBody: define({
    code: 'empty_body',
    status: 400,
    audience: 'admin',
    description: 'An upload arrived without a body.',
    message: ({ what }: { what: string }) => `The upload is empty; send the ${what} as the request body`,
  }),
  checksumMismatch: define({
    code: 'checksum_mismatch',
    status: 400,
    audience: 'admin',
    description: 'The uploaded bytes do not have the sha256 the request declared; the upload was damaged.',
    message: ({ actual, declared }: { actual: string; declared: string }) =>
      `The upload's sha256 is ${actual}, not ${declared}`,
  }),
  incompleteEncryption: define({
    code: 'incomplete_encryption',
    status: 400,
    audience: 'admin',
    description: 'An encrypted bundle needs both session_key and checksum from `bundle encrypt`.',
    message: () =>
      'An encrypted bundle needs both session_key (ivSessionKey) and checksum (the encrypted checksum) from `bundle encrypt`',
  }),
  signatureRequired: define({
    code: 'signature_required',
    status: 400,
    audience: 'admin',
    description:
      'The app requires signed bundles (`require_signature`) and the upload or registration has no signature; nothing was stored.',
    message: ({ appId }: { appId: string }) =>
      `App "${appId}" requires signed bundles: sign it with the private key of the app's signing public key (overair bundle upload --private-key FILE)`,
  }),
  invalidSignature: define({
    code: 'invalid_signature',
    status: 400,
    audience: 'admin',
    description:
      "The signature does not verify with the app's signing public key over the bytes received; nothing was stored.",
    message: ({ appId, keyId }: { appId: string; keyId: string }) =>
      `The signature does not verify with app "${appId}"'s signing public key (${keyId}) over these bytes; sign exactly the bytes uploaded, with that key's private half`,
  }),
  encryptionRequired: define({
    code: 'encryption_required',
    status: 400,
    audience: 'admin',
    description:
      'The app requires encrypted bundles (`require_encryption`) and the bundle is not encrypted; nothing was stored.',
    message: ({ appId }: { appId: string }) =>
      `App "${appId}" requires bundles encrypted for its public key: upload with --encrypt, or give session_key, checksum and key_id from \`bundle encrypt\``,
  }),
  encryptionKeyMismatch: define({
    code: 'encryption_key_mismatch',
    status: 400,
    audience: 'admin',
    description:
      "The bundle is encrypted, but not for the app's public key (its key_id differs, or its session key or checksum do not open with it); nothing was stored.",
    message: ({ appId, keyId, problem }: { appId: string; keyId: string; problem: string }) =>
      `The bundle is not encrypted for app "${appId}"'s public key (key id ${keyId}): ${problem}`,
  }),
  bundleNotCompliant: define({
    code: 'bundle_not_compliant',
    status: 409,
    audience: 'admin',
    description:
      "The bundle does not meet the app's requirements (signature, encryption), so it cannot be made live or rolled out.",
    message: ({ appId, version, problems }: { appId: string; version: string; problems: string }) =>
      `Bundle ${version} does not meet what app "${appId}" requires of its bundles (${problems}); upload a compliant version`,
  }),
  invalidPublicKey: define({
    code: 'invalid_public_key',
    status: 400,
    audience: 'admin',
    description: 'A public key given for an app is not an RSA public key in PEM format.',
    message: ({ field, problem }: { field: string; problem: string }) => `${field}: ${problem}`,
  }),
  publicKeyRequired: define({
    code: 'public_key_required',
    status: 400,
    audience: 'admin',
    description:
      'A requirement was turned on, or its key removed, without a public key to check bundles with.',
    message: ({ setting, field }: { setting: string; field: string }) =>
      `${setting} needs the app's ${field}: register the key (in the same request or before)`,
  }),
  liveBundlesNotCompliant: define({
    code: 'live_bundles_not_compliant',
    status: 409,
    audience: 'admin',
    description:
      'Turning a requirement on (or changing its key) would leave channels serving bundles that do not meet it; nothing was changed.',
    message: ({ appId, list }: { appId: string; list: string }) =>
      `App "${appId}" has live bundles that would not meet the new requirements: ${list}; make a compliant bundle live on those channels first, then turn the requirement on`,
  }),
  invalidZip: define({
    code: 'invalid_zip',
    status: 400,
    audience: 'admin',
    description: 'The bundle is not a readable zip; the message says why.',
    message: ({ problem }: { problem: string }) => `The bundle is not a valid zip: ${problem}`,
  }),
  invalidZipEntry: define({
    code: 'invalid_zip_entry',
    status: 400,
    audience: 'admin',
    description: 'An entry of the zip is unsafe (absolute path, "..", link, device file…).',
    message: ({ problem }: { problem: string }) => `The bundle is unsafe: ${problem}`,
  }),
  zipTooLarge: define({
    code: 'zip_too_large',
    status: 400,
    audience: 'admin',
    description: 'The zip has too many entries or unpacks to too many bytes.',
    message: ({ limit }: { limit: string }) => `The bundle exceeds the limit of ${limit}`,
  }),
  indexHtmlNotFound: define({
    code: 'index_html_not_found',
    status: 400,
    audience: 'admin',
    description: 'The zip has no index.html at its root or in a single top folder.',
    message: () =>
      'The bundle has no index.html at its root (or inside a single top folder); zip the contents of the web folder',
  }),
  deviceNotFound: define({
    code: 'device_not_found',
    status: 404,
    audience: 'admin',
    description: 'The app has never seen a device of this id.',
    message: ({ appId, deviceId }: { appId: string; deviceId: string }) =>
      `App "${appId}" has no device "${deviceId}"`,
  }),

  // ------------------------------------------------------------------------------------------
  // Admin API: native builds
  nativeBuildNotFound: define({
    code: 'native_build_not_found',
    status: 404,
    audience: 'both',
    description:
      'No native build (APK, AAB, IPA) of this platform and version, or none on the native channel.',
    message: ({ appId, build }: { appId: string; build: string }) => `App "${appId}" has no ${build}`,
  }),
  nativeBinaryNotFound: define({
    code: 'native_binary_not_found',
    status: 404,
    audience: 'admin',
    description:
      'No binary of this platform, version and build number is registered; see `overair native binaries`.',
    message: ({ appId, binary }: { appId: string; binary: string }) =>
      `App "${appId}" has no registered binary ${binary}`,
  }),
  invalidNativeBuild: define({
    code: 'invalid_native_build',
    status: 400,
    audience: 'admin',
    description: 'The upload is not an APK or AAB (android) or an IPA (ios).',
    message: ({ expected, problem }: { expected: string; problem: string }) =>
      `The upload is not ${expected}: ${problem}`,
  }),

  // ------------------------------------------------------------------------------------------
  // Admin API: users, tokens, webhooks, statistics
  userExists: define({
    code: 'user_exists',
    status: 409,
    audience: 'admin',
    description: 'A user of this name exists.',
    message: ({ username }: { username: string }) => `A user named "${username}" already exists`,
  }),
  userNotFound: define({
    code: 'user_not_found',
    status: 404,
    audience: 'admin',
    description: 'No user of this name; see `overair user list`.',
    message: ({ username }: { username: string }) => `No user named "${username}"`,
  }),
  lastAdminUser: define({
    code: 'last_admin_user',
    status: 409,
    audience: 'admin',
    description: 'The last server admin user cannot be deleted, nor lose server-wide admin.',
    message: () => 'This is the last server admin user; make another one server admin first',
  }),
  tokenNotFound: define({
    code: 'token_not_found',
    status: 404,
    audience: 'admin',
    description: 'No token of this id; see `overair token list`.',
    message: ({ id }: { id: number }) => `No token with id ${id}`,
  }),
  lastAdminToken: define({
    code: 'last_admin_token',
    status: 409,
    audience: 'admin',
    description: 'The last working admin token cannot be revoked.',
    message: () => 'This is the last admin token; create another one before revoking it',
  }),
  webhookNotFound: define({
    code: 'webhook_not_found',
    status: 404,
    audience: 'admin',
    description: 'No webhook of this id.',
    message: ({ id }: { id: number }) => `No webhook with id ${id}`,
  }),
  webhookTargetRefused: define({
    code: 'webhook_target_refused',
    status: 400,
    audience: 'admin',
    description:
      'The webhook URL points inside the network; list internal receivers in OVERAIR_WEBHOOK_ALLOW_HOSTS.',
    message: ({ problem }: { problem: string }) => problem,
  }),
  dashboardNotBuilt: define({
    code: 'dashboard_not_built',
    status: 503,
    audience: 'admin',
    description: 'The server runs from a checkout whose web dashboard was not built: run `npm run build`.',
    message: ({ index }: { index: string }) =>
      `The web dashboard is not built (no ${index}): run \`npm run build\``,
  }),
  notReady: define({
    code: 'not_ready',
    status: 503,
    audience: 'admin',
    description: 'GET /readyz: a dependency (database, storage) cannot be reached; `checks` says which.',
    message: ({ problem }: { problem: string }) => problem,
  }),

  // ------------------------------------------------------------------------------------------
  // Device endpoints
  tooManyRequests: define({
    code: 'too_many_requests',
    status: 429,
    audience: 'device',
    description:
      'The device rate limit (OVERAIR_DEVICE_RATE_LIMIT) refused this address; wait Retry-After seconds.',
    message: ({ seconds }: { seconds: number }) =>
      `Too many requests from this address; try again in ${seconds} seconds`,
  }),
  channelSelfSetNotAllowed: define({
    code: 'channel_self_set_not_allowed',
    status: 403,
    audience: 'device',
    description: 'setChannel to a channel that is neither the default nor open to self-assignment.',
    message: ({ channel }: { channel: string }) => `Channel "${channel}" does not allow devices to join it`,
  }),
  invalidDownloadLink: define({
    code: 'invalid_download_link',
    status: 403,
    audience: 'device',
    description: 'With private downloads: the link lacks or alters its signature.',
    message: () => 'This download link is incomplete or was altered; a new update check gives a valid one',
  }),
  downloadLinkExpired: define({
    code: 'download_link_expired',
    status: 403,
    audience: 'device',
    description: 'With private downloads: the signed link has expired.',
    message: () => 'This download link has expired; a new update check gives a fresh one',
  }),
  rangeNotSatisfiable: define({
    code: 'range_not_satisfiable',
    status: 416,
    audience: 'device',
    description: 'A download asked for a byte range outside the bundle; Content-Range gives its size.',
    message: ({ size }: { size: number }) => `The range is outside the bundle's ${size} bytes`,
  }),
  fileNotFound: define({
    code: 'file_not_found',
    status: 404,
    audience: 'device',
    description: 'Capawesome: a bundle file that is not in the bundle, or no ?href= given.',
    message: ({ version, href }: { version: string; href?: string }) =>
      href === undefined
        ? `Name a file of bundle "${version}" with ?href=`
        : `Bundle "${version}" has no file "${href}"`,
  }),
  unsignedBundle: define({
    code: 'unsigned_bundle',
    status: 404,
    audience: 'device',
    description:
      'Capawesome: the app requires signed bundles and the bundle the device would get has no signature (a device with a publicKey would refuse it).',
    message: ({ version }: { version: string }) =>
      `Bundle ${version} has no signature and this app serves signed bundles only`,
  }),
  noBundle: define({
    code: 'no_bundle',
    status: 404,
    audience: 'device',
    description: 'Capawesome: the live bundle is Capgo-encrypted, which that plugin cannot open.',
    message: () => 'No bundle this plugin can install',
  }),
} as const;

/**
 * The client's request stream broke before its body was read: the client went away (its socket
 * reset or closed: ECONNRESET, "aborted") or the server cut it for sending nothing (see
 * http/body-timeouts.ts). Its cause is kept for the log, but whatever that cause's code, this is
 * never a database outage (db/unavailable.ts does not look inside it) nor a server fault.
 */
export class ClientAborted extends OverairError {
  override name = 'ClientAborted';
  constructor(cause: unknown) {
    const { status, code, message } = errors.clientAborted();
    super(status, code, message);
    this.cause = cause;
  }
}

/** The bundle store (S3) cannot be reached right now: a 503 the client may retry. */
export const storageUnavailable = errors.storageUnavailable;

/** The database cannot be reached right now (see db/unavailable.ts): a 503 the client may retry. */
export const databaseUnavailable = errors.databaseUnavailable;

/**
 * What the update check answers (HTTP 200) when it sends no bundle, as the plugin reads them:
 * answers, not errors; decided in src/domain/decision.ts and src/domain/policy.ts.
 */
export const UPDATE_CHECK_ANSWERS: readonly {
  code: string;
  kind: 'up_to_date' | 'blocked' | 'failed';
  description: string;
}[] = [
  {
    code: 'no_new_version_available',
    kind: 'up_to_date',
    description: 'The device runs what its channel serves it.',
  },
  {
    code: 'no_channel',
    kind: 'failed',
    description: 'The app has no default channel and the device joined none.',
  },
  {
    code: 'disabled_platform_<platform>',
    kind: 'blocked',
    description: "The channel's targeting excludes this platform (ios, android…).",
  },
  { code: 'disable_emulator', kind: 'blocked', description: 'The channel does not serve emulators.' },
  {
    code: 'disable_dev_build',
    kind: 'blocked',
    description: 'The channel does not serve development builds.',
  },
  { code: 'disable_prod_build', kind: 'blocked', description: 'The channel does not serve store builds.' },
  {
    code: 'update_failed_on_device',
    kind: 'blocked',
    description:
      'The device failed to install this bundle; it gets the next one, or this one once an admin clears the mark.',
  },
  {
    code: 'native_version_too_old',
    kind: 'blocked',
    description:
      'The bundle needs a newer native build (`breaking: true`, and a store link when one is uploaded).',
  },
  {
    code: 'semver_error',
    kind: 'blocked',
    description: "The channel's native policy needs semver versions and one is not.",
  },
  {
    code: 'disable_auto_update_under_native',
    kind: 'blocked',
    description: 'The channel refuses bundles older than the native version.',
  },
  {
    code: 'disable_auto_update_to_major',
    kind: 'blocked',
    description: 'The channel keeps devices on their native major version (`breaking: true`).',
  },
  {
    code: 'disable_auto_update_to_minor',
    kind: 'blocked',
    description: 'The channel keeps devices on their native minor version.',
  },
  {
    code: 'disable_auto_update_to_patch',
    kind: 'blocked',
    description: 'The channel keeps devices on their native patch version.',
  },
  {
    code: 'native_incompatible',
    kind: 'blocked',
    description:
      "The device's registered binary lacks native code the bundle needs (a plugin, a plugin version, or Capacitor's major.minor); the message names each (`breaking: true`, and a store link when one is registered).",
  },
  {
    code: 'native_build_unregistered',
    kind: 'blocked',
    description:
      "The channel serves only registered binaries (`unregistered_binaries: refuse`) and the device's binary is not registered.",
  },
  {
    code: 'key_id_mismatch',
    kind: 'blocked',
    description: "The bundle's encryption does not match the app's public key; re-encrypt it.",
  },
  {
    code: 'downgrade_not_allowed',
    kind: 'blocked',
    description: 'The channel does not downgrade, and the bundle is older than what the device runs.',
  },
];
