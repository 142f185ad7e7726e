import { Readable } from 'node:stream';
import { Hono, type Context } from 'hono';
import { z } from 'zod';
import { errors } from '../errors.js';
import type { AuditRow } from '../db/schema.js';
import type { ChannelChanges } from '../services/channels.js';
import type { Services } from '../services/index.js';
import { statsPeriod } from '../services/stats.js';
import { releaseCallerOf } from '../services/release-permission.js';
import type { ReleaseOutcome } from '../services/release-requests.js';
import { parseRolloutSteps } from '../domain/rollout-schedule.js';
import type { Logger } from 'pino';
import * as a from './admin-schemas.js';
import {
  auditRequests,
  forbiddenToNonServerAdmin,
  isServerAdmin,
  limitFailedAuth,
  requireRole,
  requireRoleOn,
  requireServerAdmin,
  requireSomeAppAdmin,
  requireToken,
  type AdminEnv,
} from './auth.js';
import { grantsOf, may } from '../domain/roles.js';
import type { FailedAuthLimiter } from './shared-auth-limiter.js';
import { clientAddress } from './client-address.js';
import type { DownloadLinks } from './download.js';
import { readJson } from './json-body.js';
import { parseInput } from './validation.js';
import * as s from './schemas.js';
import { SessionCookies } from './session-cookie.js';
import { registerSessionRoutes } from './session-routes.js';
import { registerSsoRoutes } from './sso-routes.js';
import {
  appJson,
  bundleJson,
  channelJson,
  deviceJson,
  historyJson,
  holdJson,
  principalJson,
  tokenJson,
  releaseRequestJson,
  scheduleJson,
} from './serialize.js';
import { nativeLayerFromQuery, registerNativeRoutes } from './native-routes.js';
import { adminOpenApiDocument } from './openapi.js';
import { registerUserRoutes } from './user-routes.js';
import { registerAccountRoutes } from './account-routes.js';
import { registerWebhookRoutes } from './webhook-routes.js';
import { registerReleaseRequestRoutes } from './release-routes.js';
import { registerLiveRoutes } from './live-routes.js';

type C = Context<AdminEnv>;

const appParam = (c: C) => parseInput(s.appId, c.req.param('appId'), 'app id');
const channelParam = (c: C) => parseInput(s.channelName, c.req.param('channel'), 'channel');
const versionParam = (c: C) => parseInput(s.versionName, c.req.param('version'), 'version');
const deviceParam = (c: C) => parseInput(s.deviceId, c.req.param('deviceId'), 'device id');
const body = async <S extends z.ZodType>(c: C, schema: S) => parseInput(schema, await readJson(c));
const query = <S extends z.ZodType>(c: C, schema: S) => parseInput(schema, c.req.query(), 'query');
/** Who asks, as protected channels see it (services/release-permission.ts). */
const callerOf = (c: C, appId: string) => releaseCallerOf(c.get('principal'), c.get('actor'), appId);
/** A change made (200 with the channel), or a release request waiting for approval (202). */
const outcomeJson = (c: C, outcome: ReleaseOutcome) =>
  'request' in outcome
    ? c.json(releaseRequestJson(outcome.request), 202)
    : c.json(channelJson(outcome.channel));

const toMeta = (input: {
  version: string;
  session_key?: string;
  checksum?: string;
  key_id?: string;
  min_native_version?: string;
  notes?: string;
  signature?: string;
}) => ({
  version: input.version,
  sessionKey: input.session_key,
  checksum: input.checksum,
  keyId: input.key_id,
  minNativeVersion: input.min_native_version,
  notes: input.notes,
  signature: input.signature,
});

/** What guards the admin API besides tokens: the failed-authentication limit, and whom to believe. */
export interface AdminGuard {
  limiter: FailedAuthLimiter;
  /** Take the client's address from X-Forwarded-For (OVERAIR_TRUST_PROXY). */
  trustProxy: boolean;
  log: Logger;
  /** OVERAIR_PUBLIC_URL: when https, the session cookie is always Secure. */
  publicUrl?: string;
}

/**
 * The admin REST API under /api/v1: JSON in and out, bearer token or the dashboard's session
 * cookie. Each route checks the caller's role (src/http/auth.ts `Access`): on the app in its path for
 * app routes, server admin or the apps the caller administers for the others. Every request, refused
 * or not, is audited; too many failed authentications from one address get 429s for a while.
 */
export function adminRoutes(services: Services, links: DownloadLinks, guard: AdminGuard) {
  const api = new Hono<AdminEnv>();
  // Roles on the app in the path (`:appId`).
  const read = requireRole('read');
  const publish = requireRole('publish');
  const admin = requireRole('admin');
  // Routes without an app in the path.
  const serverAdmin = requireServerAdmin();
  const someAppAdmin = requireSomeAppAdmin();
  const bundleUrl = (c: C) => links.forBundle(c);
  /** The app's keep_bundles after an upload: `{retention}` for the answer, nothing when it keeps all. */
  const retain = async (c: C, bundle: { app_id: string; version: string }) => {
    const retention = await services.bundles.retainAfterUpload(bundle.app_id, bundle.version, c.get('actor'));
    if (retention?.error)
      guard.log.error(
        { appId: bundle.app_id, version: bundle.version, err: retention.error },
        'retention after an upload failed; the next upload or cleanup catches up',
      );
    else if (retention && retention.deleted.length > 0)
      guard.log.info(
        { appId: bundle.app_id, deleted: retention.deleted },
        'old bundles deleted (keep_bundles)',
      );
    return retention ? { retention } : {};
  };

  // In this order: the audit entry must cover the refusals of the two below.
  api.use(
    '*',
    auditRequests(services.audit, guard.log, (c) => clientAddress(c, guard.trustProxy)),
  );
  const cookies = new SessionCookies({ publicUrl: guard.publicUrl, trustProxy: guard.trustProxy });
  // Before the limit's middleware: single sign-on answers even its refusals with a redirect.
  registerSsoRoutes(api, services, cookies, guard);
  api.use('*', limitFailedAuth(guard.limiter));
  // Sign-in, its check and sign-out come before the token check: they are how one gets a session.
  registerSessionRoutes(api, services, cookies, guard);
  // The API's description needs no token: it says what the routes accept, not what the server holds
  // (the same text is in the source and docs), and viewers and code generators fetch it without one.
  api.get('/openapi.json', (c) => c.json(adminOpenApiDocument()));
  api.use('*', requireToken(services.tokens, services.sessions, cookies, guard.limiter));

  // Any token or user: who it is and what it holds (the dashboard hides what it may not do).
  api.get('/whoami', (c) => c.json(principalJson(c.get('principal'))));

  // Apps. The list is open to any token or user and shows the apps it has a role on (others' apps
  // are not named); creating an app is a server admin's (a new app is a server-wide thing).
  api.get('/apps', async (c) => {
    const grants = grantsOf(c.get('principal'));
    const apps = (await services.apps.list()).filter((app) => may(grants, app.id, 'read'));
    return c.json({ items: apps.map(appJson) });
  });
  api.post('/apps', serverAdmin, async (c) => {
    const input = await body(c, a.createAppBody);
    const app = await services.apps.create(
      { id: input.id, name: input.name, defaultChannel: input.default_channel },
      c.get('actor'),
    );
    return c.json(appJson(app), 201);
  });
  api.get('/apps/:appId', read, async (c) => c.json(appJson(await services.apps.get(appParam(c)))));
  api.patch('/apps/:appId', admin, async (c) => {
    const appId = appParam(c);
    const input = await body(c, a.updateAppBody);
    const { app, noncompliant } = await services.apps.update(
      appId,
      {
        name: input.name,
        requireSignature: input.require_signature,
        requireEncryption: input.require_encryption,
        signingPublicKey: input.signing_public_key,
        encryptionPublicKey: input.encryption_public_key,
        keepBundles: input.keep_bundles,
        releaseApproval: input.release_approval,
      },
      c.get('actor'),
    );
    return c.json({ ...appJson(app), noncompliant_bundles: noncompliant });
  });
  // Deleting an app (its bundles, devices, statistics, and every role on it) is the counterpart of
  // creating one: a server admin's.
  api.delete('/apps/:appId', serverAdmin, async (c) => {
    await services.apps.delete(appParam(c), c.get('actor'));
    return c.json({ deleted: true });
  });

  // Bundles
  api.get('/apps/:appId/bundles', read, async (c) => {
    const { limit, cursor } = query(c, a.pageQuery);
    const rows = await services.bundles.list(appParam(c), limit, cursor);
    const urlOf = bundleUrl(c);
    return c.json({
      items: rows.map((row) => bundleJson(row, urlOf(row))),
      next_cursor: rows.length === limit ? String(rows[rows.length - 1]!.id) : null,
    });
  });
  api.post('/apps/:appId/bundles/upload', publish, async (c) => {
    const appId = appParam(c);
    const input = query(c, a.uploadBundleQuery);
    const declared = Number(c.req.header('content-length') ?? NaN);
    if (Number.isFinite(declared) && declared > services.bundles.maxUploadBytes) {
      throw errors.payloadTooLarge({ what: 'The upload', limit: `${services.bundles.maxUploadBytes} bytes` });
    }
    const raw = c.req.raw.body;
    if (!raw) throw errors.emptyBody({ what: 'bundle zip' });
    const bundle = await services.bundles.upload(
      appId,
      Readable.fromWeb(raw as import('node:stream/web').ReadableStream),
      { ...toMeta(input), sha256: input.sha256, nativeLayer: nativeLayerFromQuery(input.native_layer) },
      c.get('actor'),
    );
    return c.json({ ...bundleJson(bundle, bundleUrl(c)(bundle)), ...(await retain(c, bundle)) }, 201);
  });
  api.post('/apps/:appId/bundles', publish, async (c) => {
    const appId = appParam(c);
    const input = await body(c, a.registerBundleBody);
    const bundle = await services.bundles.registerExternal(
      appId,
      {
        ...toMeta(input),
        url: input.url,
        sha256: input.sha256,
        size: input.size,
        nativeLayer: input.native_layer,
      },
      c.get('actor'),
    );
    return c.json({ ...bundleJson(bundle, bundleUrl(c)(bundle)), ...(await retain(c, bundle)) }, 201);
  });
  api.post('/apps/:appId/bundles/cleanup', publish, async (c) => {
    const appId = appParam(c);
    const input = await body(c, a.cleanupBody);
    return c.json(
      await services.bundles.cleanup(
        appId,
        { keep: input.keep, olderThanDays: input.older_than_days, dryRun: input.dry_run },
        c.get('actor'),
      ),
    );
  });
  api.get('/apps/:appId/bundles/:version', read, async (c) => {
    const bundle = await services.bundles.get(appParam(c), versionParam(c));
    return c.json(bundleJson(bundle, bundleUrl(c)(bundle)));
  });
  api.patch('/apps/:appId/bundles/:version', publish, async (c) => {
    const [appId, version] = [appParam(c), versionParam(c)];
    const input = await body(c, a.updateBundleBody);
    const bundle = await services.bundles.update(
      appId,
      version,
      { notes: input.notes, minNativeVersion: input.min_native_version, nativeLayer: input.native_layer },
      c.get('actor'),
      callerOf(c, appId),
    );
    return c.json(bundleJson(bundle, bundleUrl(c)(bundle)));
  });
  api.get('/apps/:appId/bundles/:version/compatibility', read, async (c) => {
    const { channel } = query(c, a.compatibilityQuery);
    return c.json(await services.nativeGate.compatibility(appParam(c), versionParam(c), channel));
  });
  api.delete('/apps/:appId/bundles/:version', publish, async (c) => {
    const appId = appParam(c);
    const { fallbacks } = await services.bundles.delete(
      appId,
      versionParam(c),
      c.get('actor'),
      callerOf(c, appId),
    );
    return c.json({ deleted: true, channels: fallbacks });
  });

  // Channels
  const toChanges = (input: z.infer<z.ZodObject<typeof a.channelFlags>>): ChannelChanges => ({
    isDefault: input.is_default,
    allowSelfAssign: input.allow_self_assign,
    platforms: input.platforms,
    allowEmulator: input.allow_emulator,
    allowDev: input.allow_dev,
    allowProd: input.allow_prod,
    nativePolicy: input.native_policy,
    allowDowngrade: input.allow_downgrade,
    failureThreshold: input.failure_threshold,
    failureMinDevices: input.failure_min_devices,
    haltOnEvidence: input.halt_on_evidence,
    evidenceMinDevices: input.evidence_min_devices,
    unregisteredBinaries: input.unregistered_binaries,
    protected: input.protected,
  });
  api.get('/apps/:appId/channels', read, async (c) =>
    c.json({ items: (await services.channels.list(appParam(c))).map(channelJson) }),
  );
  api.post('/apps/:appId/channels', publish, async (c) => {
    const appId = appParam(c);
    const input = await body(c, a.createChannelBody);
    const channel = await services.channels.create(
      appId,
      { name: input.name, version: input.version, ...toChanges(input) },
      c.get('actor'),
      callerOf(c, appId),
    );
    return c.json(channelJson(channel), 201);
  });
  api.get('/apps/:appId/channels/:channel', read, async (c) =>
    c.json(channelJson(await services.channels.get(appParam(c), channelParam(c)))),
  );
  api.patch('/apps/:appId/channels/:channel', publish, async (c) => {
    const [appId, name] = [appParam(c), channelParam(c)];
    const input = await body(c, a.updateChannelBody);
    const channel = await services.channels.update(
      appId,
      name,
      toChanges(input),
      c.get('actor'),
      callerOf(c, appId),
    );
    return c.json(channelJson(channel));
  });
  api.delete('/apps/:appId/channels/:channel', admin, async (c) => {
    await services.channels.delete(appParam(c), channelParam(c), c.get('actor'));
    return c.json({ deleted: true });
  });
  api.put('/apps/:appId/channels/:channel/bundle', publish, async (c) => {
    const [appId, name] = [appParam(c), channelParam(c)];
    const { version } = await body(c, a.setBundleBody);
    return outcomeJson(
      c,
      await services.releases.release(appId, name, { action: 'set', version }, callerOf(c, appId)),
    );
  });
  api.post('/apps/:appId/channels/:channel/rollout', publish, async (c) => {
    const [appId, name] = [appParam(c), channelParam(c)];
    const input = await body(c, a.rolloutBody);
    if (input.steps !== undefined) {
      const steps = parseRolloutSteps(input.steps);
      if (!steps.ok) throw errors.invalidRequest({ problem: `steps: ${steps.problem}` });
      const started = await services.rollouts.begin(
        appId,
        name,
        input.version,
        steps.steps,
        c.get('actor'),
        callerOf(c, appId),
      );
      return c.json({ ...channelJson(started.channel), schedule: scheduleJson(started.schedule) });
    }
    return outcomeJson(
      c,
      await services.releases.release(
        appId,
        name,
        { action: 'rollout', version: input.version, percent: input.percent! },
        callerOf(c, appId),
      ),
    );
  });
  // The scheduled rollout's schedule: read it, or cancel it (the rollout stays at its current step).
  api.get('/apps/:appId/channels/:channel/schedule', read, async (c) => {
    const [appId, name] = [appParam(c), channelParam(c)];
    const schedule = await services.channels.schedule(appId, name);
    if (!schedule) throw errors.scheduleNotFound({ channel: name });
    return c.json(scheduleJson(schedule));
  });
  api.delete('/apps/:appId/channels/:channel/schedule', publish, async (c) => {
    const [appId, name] = [appParam(c), channelParam(c)];
    return c.json(scheduleJson(await services.channels.cancelSchedule(appId, name, c.get('actor'))));
  });
  api.post('/apps/:appId/channels/:channel/rollback', publish, async (c) => {
    const [appId, name] = [appParam(c), channelParam(c)];
    const { reason } = parseInput(a.rollbackBody, await readJson(c, {}));
    return c.json(channelJson(await services.channels.rollback(appId, name, c.get('actor'), reason)));
  });
  api.get('/apps/:appId/channels/:channel/history', read, async (c) => {
    const [appId, name] = [appParam(c), channelParam(c)];
    const { limit, cursor } = query(c, a.pageQuery);
    const rows = await services.channels.history(appId, name, limit, cursor);
    return c.json({
      items: rows.map(historyJson),
      next_cursor: rows.length === limit ? String(rows[rows.length - 1]!.id) : null,
    });
  });

  // Statistics
  api.get('/apps/:appId/stats', read, async (c) => {
    const appId = appParam(c);
    const input = query(c, a.statsQuery);
    const period = statsPeriod(input);
    return c.json(await services.stats.report(appId, { ...period, channel: input.channel }));
  });

  // Release insight
  api.get('/apps/:appId/channels/:channel/adoption', read, async (c) => {
    const [appId, name] = [appParam(c), channelParam(c)];
    return c.json(await services.insight.adoption(appId, name, query(c, a.adoptionQuery)));
  });
  api.get('/apps/:appId/channels/:channel/health', read, async (c) =>
    c.json(await services.insight.releaseHealth(appParam(c), channelParam(c))),
  );

  // Devices
  api.get('/apps/:appId/devices', read, async (c) => {
    const appId = appParam(c);
    const filter = query(c, a.devicesQuery);
    const after = filter.cursor ? decodeDeviceCursor(filter.cursor) : undefined;
    const rows = await services.devices.list(appId, filter, filter.limit, after);
    const last = rows[rows.length - 1];
    return c.json({
      items: rows.map(deviceJson),
      next_cursor:
        last && rows.length === filter.limit ? encodeDeviceCursor(last.last_seen, last.device_id) : null,
    });
  });
  api.get('/apps/:appId/devices/:deviceId', read, async (c) =>
    c.json(deviceJson(await services.devices.get(appParam(c), deviceParam(c)))),
  );
  api.put('/apps/:appId/devices/:deviceId/channel', publish, async (c) => {
    const [appId, deviceId] = [appParam(c), deviceParam(c)];
    const { channel } = await body(c, a.deviceChannelBody);
    return c.json(deviceJson(await services.devices.setOverride(appId, deviceId, channel, c.get('actor'))));
  });
  api.delete('/apps/:appId/devices/:deviceId/channel', publish, async (c) =>
    c.json(deviceJson(await services.devices.clearOverride(appParam(c), deviceParam(c), c.get('actor')))),
  );

  // Versions held back from devices that failed them (update_fail, app_launch_timeout, download_fail).
  api.get('/apps/:appId/holds', read, async (c) => {
    const { device } = query(c, a.holdsQuery);
    const appId = appParam(c);
    await services.apps.get(appId);
    return c.json({ items: (await services.holds.list(appId, device)).map(holdJson) });
  });
  api.delete('/apps/:appId/devices/:deviceId/holds', publish, async (c) => {
    const [appId, deviceId] = [appParam(c), deviceParam(c)];
    const { version } = query(c, a.clearHoldsQuery);
    await services.apps.get(appId);
    return c.json({ cleared: await services.holds.clear(appId, deviceId, c.get('actor'), version) });
  });

  registerReleaseRequestRoutes(api, services);
  registerWebhookRoutes(api, services);
  registerNativeRoutes(api, services, links);
  registerUserRoutes(api, services, cookies);
  registerAccountRoutes(api, services, cookies, guard.limiter);
  registerLiveRoutes(api, services, cookies);

  // Tokens and audit. An app's admin sees, creates and revokes the tokens limited to apps they
  // administer, with roles up to theirs (mayGrant); server admins all of them.
  api.get('/tokens', someAppAdmin, async (c) => {
    const tokens = await services.tokens.list(grantsOf(c.get('principal')));
    return c.json({ items: tokens.map(tokenJson) });
  });
  api.post('/tokens', someAppAdmin, async (c) => {
    const input = await body(c, a.createTokenBody);
    const expiry =
      input.expires_in_days !== undefined
        ? { inDays: input.expires_in_days }
        : input.expires_at !== undefined
          ? { at: input.expires_at }
          : undefined;
    const { token, secret } = await services.tokens.create(
      input.name,
      input.grants,
      c.get('actor'),
      grantsOf(c.get('principal')),
      expiry,
    );
    return c.json({ ...tokenJson(token), token: secret }, 201);
  });
  api.delete('/tokens/:id', someAppAdmin, async (c) => {
    const id = parseInput(a.numericId, c.req.param('id'), 'token id');
    await services.tokens.revoke(id, c.get('actor'), grantsOf(c.get('principal')));
    return c.json({ deleted: true });
  });
  const auditPage = (rows: AuditRow[], limit: number) => ({
    items: rows.map((row) => ({ ...row, detail: row.detail ? (JSON.parse(row.detail) as unknown) : null })),
    next_cursor: rows.length === limit ? String(rows[rows.length - 1]!.id) : null,
  });
  /**
   * The whole audit log is a server admin's; an app's admin reads the entries of that app, and must
   * name it (`?app=`): entries of no app (users, tokens, sign-ins) are server-wide.
   */
  const auditScope = (c: C, app: string | undefined) => {
    if (isServerAdmin(c)) return;
    if (app === undefined) throw forbiddenToNonServerAdmin(c, 'The audit log of every app (no ?app=)');
    requireRoleOn(c, app, 'admin', "Reading an app's audit log");
  };
  api.get('/audit', someAppAdmin, async (c) => {
    const input = query(c, a.auditQuery);
    auditScope(c, input.app);
    return c.json(auditPage(await services.audit.page(input.limit, input.app, input.cursor), input.limit));
  });
  // Oldest first, page by page (`overair audit export` follows next_cursor): never the whole log at once.
  api.get('/audit/export', someAppAdmin, async (c) => {
    const input = query(c, a.auditExportQuery);
    auditScope(c, input.app);
    const rows = await services.audit.exportPage(input.limit, {
      since: input.since,
      appId: input.app,
      afterId: input.cursor,
    });
    return c.json(auditPage(rows, input.limit));
  });

  return api;
}

function encodeDeviceCursor(lastSeen: string, deviceId: string): string {
  return Buffer.from(JSON.stringify([lastSeen, deviceId])).toString('base64url');
}

function decodeDeviceCursor(cursor: string): { lastSeen: string; deviceId: string } {
  try {
    const [lastSeen, deviceId] = JSON.parse(Buffer.from(cursor, 'base64url').toString()) as unknown[];
    if (typeof lastSeen === 'string' && typeof deviceId === 'string') return { lastSeen, deviceId };
  } catch {
    // fall through to the error below
  }
  throw errors.invalidRequest({ problem: 'cursor: not a cursor returned by this API' });
}
