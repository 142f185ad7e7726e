import { Readable } from 'node:stream';
import { Hono, type Context } from 'hono';
import { z } from 'zod';
import { errors } from '../errors.js';
import { NATIVE_POLICIES } from '../domain/policy.js';
import type { ChannelChanges } from '../services/channels.js';
import type { Services } from '../services/index.js';
import { statsPeriod } from '../services/stats.js';
import type { Logger } from 'pino';
import { auditRequests, limitFailedAuth, requireScope, requireToken, type AdminEnv } from './auth.js';
import type { FailedAuthLimiter } from './shared-auth-limiter.js';
import { clientAddress } from './client-address.js';
import type { DownloadLinks } from './download.js';
import { parseInput, readJson } from './errors.js';
import * as s from './schemas.js';
import { SessionCookies } from './session-cookie.js';
import { registerSessionRoutes } from './session-routes.js';
import { bundleJson, channelJson, deviceJson, historyJson, holdJson } from './serialize.js';
import { registerNativeRoutes } from './native-routes.js';
import { registerUserRoutes } from './user-routes.js';
import { registerWebhookRoutes } from './webhook-routes.js';

type C = Context<AdminEnv>;

const appParam = (c: C) => parseInput(s.appId, c.req.param('appId'), 'app id');
const channelParam = (c: C) => parseInput(s.channelName, c.req.param('channel'), 'channel');
const versionParam = (c: C) => parseInput(s.versionName, c.req.param('version'), 'version');
const deviceParam = (c: C) => parseInput(s.deviceId, c.req.param('deviceId'), 'device id');
const body = async <S extends z.ZodType>(c: C, schema: S) => parseInput(schema, await readJson(c));
const query = <S extends z.ZodType>(c: C, schema: S) => parseInput(schema, c.req.query(), 'query');

/** Optional metadata shared by uploads and external registrations. */
const bundleMeta = {
  version: s.versionName,
  session_key: s.sessionKey.optional(),
  checksum: s.encryptedChecksum.optional(),
  key_id: s.keyId.optional(),
  min_native_version: s.nativeVersion.optional(),
  notes: s.notes.optional(),
  signature: s.signature.optional(),
};

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
 * cookie, scopes read < publish < admin. Every request, refused or not, is audited; too many failed
 * authentications from one address get 429s for a while.
 */
export function adminRoutes(services: Services, links: DownloadLinks, guard: AdminGuard) {
  const api = new Hono<AdminEnv>();
  const read = requireScope('read');
  const publish = requireScope('publish');
  const admin = requireScope('admin');
  const bundleUrl = (c: C) => links.forBundle(c);

  // In this order: the audit entry must cover the refusals of the two below.
  api.use(
    '*',
    auditRequests(services.audit, guard.log, (c) => clientAddress(c, guard.trustProxy)),
  );
  api.use('*', limitFailedAuth(guard.limiter));
  const cookies = new SessionCookies({ publicUrl: guard.publicUrl, trustProxy: guard.trustProxy });
  // Sign-in, its check and sign-out come before the token check: they are how one gets a session.
  registerSessionRoutes(api, services, cookies, guard);
  api.use('*', requireToken(services.tokens, services.sessions, cookies, guard.limiter));

  api.get('/whoami', read, (c) => {
    const { id, name, scope, kind } = c.get('principal');
    return c.json({ id, name, scope, kind });
  });

  // Apps
  api.get('/apps', read, async (c) => c.json({ items: await services.apps.list() }));
  api.post('/apps', admin, async (c) => {
    const input = await body(
      c,
      z.object({
        id: s.appId,
        name: z.string().min(1).max(200).optional(),
        default_channel: s.channelName.nullable().optional(),
      }),
    );
    const app = await services.apps.create(
      { id: input.id, name: input.name, defaultChannel: input.default_channel },
      c.get('actor'),
    );
    return c.json(app, 201);
  });
  api.get('/apps/:appId', read, async (c) => c.json(await services.apps.get(appParam(c))));
  api.delete('/apps/:appId', admin, async (c) => {
    await services.apps.delete(appParam(c), c.get('actor'));
    return c.json({ deleted: true });
  });

  // Bundles
  api.get('/apps/:appId/bundles', read, async (c) => {
    const { limit, cursor } = query(c, z.object({ limit: s.pageLimit, cursor: s.cursorId }));
    const rows = await services.bundles.list(appParam(c), limit, cursor);
    const urlOf = bundleUrl(c);
    return c.json({
      items: rows.map((row) => bundleJson(row, urlOf(row))),
      next_cursor: rows.length === limit ? String(rows[rows.length - 1]!.id) : null,
    });
  });
  api.post('/apps/:appId/bundles/upload', publish, async (c) => {
    const appId = appParam(c);
    const input = query(c, z.object({ ...bundleMeta, sha256: s.sha256.optional() }));
    const declared = Number(c.req.header('content-length') ?? NaN);
    if (Number.isFinite(declared) && declared > services.bundles.maxUploadBytes) {
      throw errors.payloadTooLarge({ what: 'The upload', limit: `${services.bundles.maxUploadBytes} bytes` });
    }
    const raw = c.req.raw.body;
    if (!raw) throw errors.emptyBody({ what: 'bundle zip' });
    const bundle = await services.bundles.upload(
      appId,
      Readable.fromWeb(raw as import('node:stream/web').ReadableStream),
      { ...toMeta(input), sha256: input.sha256 },
      c.get('actor'),
    );
    return c.json(bundleJson(bundle, bundleUrl(c)(bundle)), 201);
  });
  api.post('/apps/:appId/bundles', publish, async (c) => {
    const appId = appParam(c);
    const input = await body(
      c,
      z.object({
        ...bundleMeta,
        url: z.url({ protocol: /^https?$/, error: 'expected an http(s) URL' }).max(2048),
        sha256: s.sha256,
        size: z.number().int().nonnegative().optional(),
      }),
    );
    const bundle = await services.bundles.registerExternal(
      appId,
      { ...toMeta(input), url: input.url, sha256: input.sha256, size: input.size },
      c.get('actor'),
    );
    return c.json(bundleJson(bundle, bundleUrl(c)(bundle)), 201);
  });
  api.get('/apps/:appId/bundles/:version', read, async (c) => {
    const bundle = await services.bundles.get(appParam(c), versionParam(c));
    return c.json(bundleJson(bundle, bundleUrl(c)(bundle)));
  });
  api.delete('/apps/:appId/bundles/:version', publish, async (c) => {
    const { fallbacks } = await services.bundles.delete(appParam(c), versionParam(c), c.get('actor'));
    return c.json({ deleted: true, channels: fallbacks });
  });

  // Channels
  const channelFlags = {
    is_default: z.boolean().optional(),
    allow_self_assign: z.boolean().optional(),
    platforms: z
      .array(z.enum(['ios', 'android', 'electron']))
      .max(3)
      .optional(),
    allow_emulator: z.boolean().optional(),
    allow_dev: z.boolean().optional(),
    allow_prod: z.boolean().optional(),
    native_policy: z.enum(NATIVE_POLICIES).optional(),
    allow_downgrade: z.boolean().optional(),
    failure_threshold: z.number().gt(0).max(1).nullable().optional(),
    failure_min_devices: z.number().int().min(1).max(1_000_000).optional(),
  };
  const toChanges = (input: z.infer<z.ZodObject<typeof channelFlags>>): ChannelChanges => ({
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
  });
  api.get('/apps/:appId/channels', read, async (c) =>
    c.json({ items: (await services.channels.list(appParam(c))).map(channelJson) }),
  );
  api.post('/apps/:appId/channels', publish, async (c) => {
    const appId = appParam(c);
    const input = await body(
      c,
      z.object({ name: s.channelName, version: s.versionName.optional(), ...channelFlags }),
    );
    const channel = await services.channels.create(
      appId,
      { name: input.name, version: input.version, ...toChanges(input) },
      c.get('actor'),
    );
    return c.json(channelJson(channel), 201);
  });
  api.get('/apps/:appId/channels/:channel', read, async (c) =>
    c.json(channelJson(await services.channels.get(appParam(c), channelParam(c)))),
  );
  api.patch('/apps/:appId/channels/:channel', publish, async (c) => {
    const [appId, name] = [appParam(c), channelParam(c)];
    const input = await body(
      c,
      z
        .object(channelFlags)
        .strict()
        .refine((flags) => Object.keys(flags).length > 0, 'nothing to change: give at least one setting'),
    );
    const channel = await services.channels.update(appId, name, toChanges(input), c.get('actor'));
    return c.json(channelJson(channel));
  });
  api.delete('/apps/:appId/channels/:channel', admin, async (c) => {
    await services.channels.delete(appParam(c), channelParam(c), c.get('actor'));
    return c.json({ deleted: true });
  });
  api.put('/apps/:appId/channels/:channel/bundle', publish, async (c) => {
    const [appId, name] = [appParam(c), channelParam(c)];
    const { version } = await body(c, z.object({ version: s.versionName }));
    return c.json(channelJson(await services.channels.setLive(appId, name, version, c.get('actor'))));
  });
  api.post('/apps/:appId/channels/:channel/rollout', publish, async (c) => {
    const [appId, name] = [appParam(c), channelParam(c)];
    const input = await body(c, z.object({ version: s.versionName, percent: z.number().min(0.01).max(100) }));
    return c.json(
      channelJson(await services.channels.rollout(appId, name, input.version, input.percent, c.get('actor'))),
    );
  });
  api.post('/apps/:appId/channels/:channel/rollback', publish, async (c) => {
    const [appId, name] = [appParam(c), channelParam(c)];
    const { reason } = parseInput(
      z.object({ reason: z.string().max(500).optional() }),
      await readJson(c, {}),
    );
    return c.json(channelJson(await services.channels.rollback(appId, name, c.get('actor'), reason)));
  });
  api.get('/apps/:appId/channels/:channel/history', read, async (c) => {
    const [appId, name] = [appParam(c), channelParam(c)];
    const { limit, cursor } = query(c, z.object({ limit: s.pageLimit, cursor: s.cursorId }));
    const rows = await services.channels.history(appId, name, limit, cursor);
    return c.json({
      items: rows.map(historyJson),
      next_cursor: rows.length === limit ? String(rows[rows.length - 1]!.id) : null,
    });
  });

  // Statistics
  api.get('/apps/:appId/stats', read, async (c) => {
    const appId = appParam(c);
    const input = query(
      c,
      z.object({
        channel: s.channelName.optional(),
        since: z.string().max(40).optional(),
        until: z.string().max(40).optional(),
        bucket: z.enum(['hour', 'day']).optional(),
      }),
    );
    const period = statsPeriod(input);
    return c.json(await services.stats.report(appId, { ...period, channel: input.channel }));
  });

  // Devices
  api.get('/apps/:appId/devices', read, async (c) => {
    const appId = appParam(c);
    const filter = query(
      c,
      z.object({
        channel: s.channelName.optional(),
        version: z.string().max(256).optional(),
        platform: z.string().max(32).optional(),
        q: z.string().max(256).optional(),
        limit: s.pageLimit,
        cursor: z.string().max(300).optional(),
      }),
    );
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
    const { channel } = await body(c, z.object({ channel: s.channelName }));
    return c.json(deviceJson(await services.devices.setOverride(appId, deviceId, channel, c.get('actor'))));
  });
  api.delete('/apps/:appId/devices/:deviceId/channel', publish, async (c) =>
    c.json(deviceJson(await services.devices.clearOverride(appParam(c), deviceParam(c), c.get('actor')))),
  );

  // Versions held back from devices that failed them (update_fail, app_launch_timeout, download_fail).
  api.get('/apps/:appId/holds', read, async (c) => {
    const { device } = query(c, z.object({ device: s.deviceId.optional() }));
    const appId = appParam(c);
    await services.apps.get(appId);
    return c.json({ items: (await services.holds.list(appId, device)).map(holdJson) });
  });
  api.delete('/apps/:appId/devices/:deviceId/holds', publish, async (c) => {
    const [appId, deviceId] = [appParam(c), deviceParam(c)];
    const { version } = query(c, z.object({ version: s.versionName.optional() }));
    await services.apps.get(appId);
    return c.json({ cleared: await services.holds.clear(appId, deviceId, c.get('actor'), version) });
  });

  registerWebhookRoutes(api, services);
  registerNativeRoutes(api, services, links);
  registerUserRoutes(api, services, cookies);

  // Tokens and audit
  api.get('/tokens', admin, async (c) => c.json({ items: await services.tokens.list() }));
  api.post('/tokens', admin, async (c) => {
    const input = await body(
      c,
      z
        .object({
          name: z.string().min(1).max(100),
          scope: z.enum(['read', 'publish', 'admin']),
          expires_in_days: z.number().int().positive().max(3650).optional(),
          expires_at: z.iso.datetime({ offset: true, error: 'expected an ISO 8601 date-time' }).optional(),
        })
        .strict()
        .refine(
          (input) => input.expires_in_days === undefined || input.expires_at === undefined,
          'give expires_in_days or expires_at, not both',
        ),
    );
    const expiry =
      input.expires_in_days !== undefined
        ? { inDays: input.expires_in_days }
        : input.expires_at !== undefined
          ? { at: input.expires_at }
          : undefined;
    const { token, secret } = await services.tokens.create(input.name, input.scope, c.get('actor'), expiry);
    return c.json({ ...token, token: secret }, 201);
  });
  api.delete('/tokens/:id', admin, async (c) => {
    const id = parseInput(z.coerce.number().int().positive(), c.req.param('id'), 'token id');
    await services.tokens.revoke(id, c.get('actor'));
    return c.json({ deleted: true });
  });
  api.get('/audit', admin, async (c) => {
    const input = query(c, z.object({ app: s.appId.optional(), limit: s.pageLimit, cursor: s.cursorId }));
    const rows = await services.audit.page(input.limit, input.app, input.cursor);
    return c.json({
      items: rows.map((row) => ({ ...row, detail: row.detail ? (JSON.parse(row.detail) as unknown) : null })),
      next_cursor: rows.length === input.limit ? String(rows[rows.length - 1]!.id) : null,
    });
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
