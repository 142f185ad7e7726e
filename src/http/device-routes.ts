import { Hono, type Context } from 'hono';
import { createMiddleware } from 'hono/factory';
import type { Logger } from 'pino';
import { z } from 'zod';
import type { UpdateDecision } from '../domain/decision.js';
import { pluginSupportsManifest } from '../domain/plugin.js';
import { isDatabaseUnavailable } from '../db/unavailable.js';
import { OverairError, errors } from '../errors.js';
import type { Services } from '../services/index.js';
import type { LiveBundle } from '../services/release-cache.js';
import { errorJson, parseInput, readJson, toErrorResponse } from './errors.js';
import { arrayLongerThan } from './json-array-length.js';
import {
  appId,
  channelName,
  deviceId,
  deviceInfo,
  nativeVersion,
  statsEvent,
  versionName,
} from './schemas.js';
import type { BundleUrl, DownloadLinks } from './download.js';
import { clientAddress } from './client-address.js';
import { nativeFileName } from './native-routes.js';
import { tooManyRequests, type DeviceRateLimit } from './device-rate-limit.js';
import type { ContentfulStatusCode } from 'hono/utils/http-status';

/**
 * The endpoints devices call, shaped exactly as @capgo/capacitor-updater parses them
 * (docs/protocol.md). Two rules run through all of them: never a JSON null (Android reads it as the
 * string "null"), and channel get/list errors go out with HTTP 200, because Android drops the body of
 * a non-2xx answer to those two calls.
 */
export function deviceRoutes(
  services: Services,
  links: DownloadLinks,
  log: Logger,
  limit?: DeviceRateLimit,
  trustProxy = false,
) {
  const routes = new Hono();

  // The configured device rate limit (off unless set), on every device call.
  if (limit) {
    const limited = createMiddleware(async (c, next) => {
      const seconds = limit.check(clientAddress(c, trustProxy));
      if (seconds === 0) return next();
      c.header('Retry-After', String(seconds));
      return c.json(
        { ...tooManyRequests(seconds), ...(c.req.path === '/updates' && { kind: 'failed' }) },
        429,
      );
    });
    for (const path of ['/updates', '/stats', '/channel_self', '/check']) routes.use(path, limited);
  }

  routes.post('/updates', async (c) => {
    const body = await readJson(c).catch((error: unknown) => new BodyError(error));
    const { status, payload, headers } = await answerUpdateCheck(services, log, body, links.forBundle(c));
    return c.json(payload, status, headers);
  });

  // Answered only once the events are committed: the plugin keeps and resends what it was not
  // answered 2xx for (docs/protocol.md, "Stats"), so a 200 must mean durable.
  routes.post('/stats', async (c) => {
    try {
      const body = await readJson(c, undefined, (text) => {
        // Counted in the text, exactly as JSON.parse would (its spec checks that): a batch too long
        // is refused before it is built.
        if (arrayLongerThan(text, MAX_STATS_EVENTS)) throw tooManyEvents();
      });
      if (!Array.isArray(body)) {
        await services.stats.record([await prepareStat(body)]);
        return c.json({ status: 'ok' });
      }
      // Plugins from 8.42 send batches: keep every valid event, report the others by index.
      const prepared = [];
      const results = [];
      for (const [index, event] of body.entries()) {
        try {
          prepared.push(await prepareStat(event));
          results.push({ status: 'ok', index });
        } catch (error) {
          // An outage fails every event alike: a 503 (with Retry-After) says so better than N errors.
          if (isDatabaseUnavailable(error)) throw error;
          results.push({ status: 'error', index, ...toErrorResponse(error, log).body });
        }
      }
      await services.stats.record(prepared);
      return c.json({ status: 'ok', results });
    } catch (error) {
      return errorJson(c, error, log);
    }
  });

  function tooManyEvents() {
    return errors.payloadTooLarge({
      what: 'A stats batch of more events',
      limit: `${MAX_STATS_EVENTS} events (the plugin's queue)`,
    });
  }

  function prepareStat(value: unknown) {
    const event = parseInput(statsEvent, value);
    return services.stats.prepare(event, event);
  }

  // setChannel
  routes.post('/channel_self', async (c) => {
    try {
      const body = parseInput(deviceInfo.extend({ channel: channelName }), await readJson(c));
      const { unset } = await services.channelSelf.set(body, body.channel);
      return c.json(unset ? { status: 'ok', unset: true } : { status: 'ok', allowSet: true });
    } catch (error) {
      return errorJson(c, error, log);
    }
  });

  // getChannel
  routes.put('/channel_self', async (c) => {
    try {
      const info = parseInput(deviceInfo, await readJson(c));
      const { channel, source, allowSet } = await services.channelSelf.get(info);
      return c.json({ channel, status: source === 'default' ? 'default' : 'override', allowSet });
    } catch (error) {
      return softError(c, error);
    }
  });

  // listChannels: the info object arrives as query parameters.
  routes.get('/channel_self', async (c) => {
    try {
      const info = parseInput(deviceInfo, c.req.query(), 'query');
      return c.json(await services.channelSelf.list(info));
    } catch (error) {
      return softError(c, error);
    }
  });

  // unsetChannel of plugins before 7.34 (newer ones unset locally and call nothing).
  routes.delete('/channel_self', async (c) => {
    try {
      // Old plugins send the info object as a JSON body; Capgo's own handler reads the query.
      const info = parseInput(deviceInfo, await readJson(c, c.req.query()));
      await services.channelSelf.unset(info);
      return c.json({ status: 'ok' });
    } catch (error) {
      return errorJson(c, error, log);
    }
  });

  /**
   * Channel get and list: an unknown app or channel rides on HTTP 200 so that Android shows it;
   * malformed or oversized requests, which the plugin never sends, keep their 4xx.
   */
  function softError(c: Context, error: unknown) {
    const { status, body, headers } = toErrorResponse(error, log);
    const semantic = error instanceof OverairError && (status === 403 || status === 404);
    return c.json(body, semantic ? 200 : status, headers);
  }

  // The simple check of home-made clients.
  routes.post('/check', async (c) => {
    try {
      const body = parseInput(
        z.object({
          app_id: appId,
          channel: channelName.or(z.literal('')).default(''),
          version: versionName.or(z.literal('builtin')),
          native_version: nativeVersion.optional(),
          // Optional: a stable id places the client in staged rollouts; a platform in targeting.
          device_id: deviceId.optional(),
          platform: z.string().max(32).optional(),
        }),
        await readJson(c),
      );
      const decision = await services.updates.checkAnonymous({
        appId: body.app_id,
        channel: body.channel,
        version: body.version,
        nativeVersion: body.native_version ?? '',
        deviceId: body.device_id ?? '',
        platform: body.platform ?? '',
      });
      if (decision.outcome !== 'update') return c.json({});
      const { version, url, checksum, session_key } = updatePayload(decision.bundle, links.forBundle(c));
      return c.json({ version, url, checksum, ...(session_key !== undefined && { session_key }) });
    } catch (error) {
      return errorJson(c, error, log);
    }
  });

  return routes;
}

/**
 * The most events one /stats request may carry: the plugin queues at most 200 and sends them in
 * one batch (docs/protocol.md), so a larger array is not a plugin's, and bounding it bounds the
 * work and the answer of one anonymous request.
 */
export const MAX_STATS_EVENTS = 200;

/** A body that could not be read, carried to answerUpdateCheck so it is answered like any error. */
export class BodyError {
  constructor(readonly error: unknown) {}
}

/**
 * The update check, from the request body to the plugin's answer. Shared by the Hono route and the
 * Node fast path (node-listener.ts), so both answer exactly alike.
 */
export async function answerUpdateCheck(
  services: Services,
  log: Logger,
  body: unknown,
  urlOf: BundleUrl,
): Promise<{ status: ContentfulStatusCode; payload: object; headers?: Record<string, string> }> {
  try {
    if (body instanceof BodyError) throw body.error;
    const info = parseInput(deviceInfo, body);
    const decision = await services.updates.check(info);
    const payload = updateAnswer(decision, info, urlOf);
    // Only for devices whose native build is too old: where to get a newer one (docs/protocol.md).
    if (decision.outcome === 'blocked' && decision.error === 'native_version_too_old') {
      return { status: 200, payload: { ...payload, ...(await nativeHint(services, info, decision, urlOf)) } };
    }
    return { status: 200, payload };
  } catch (error) {
    // The plugin reads {error, message, kind} at any status; kind "failed" surfaces the problem.
    const { status, body: payload, headers } = toErrorResponse(error, log);
    return { status, payload: { ...payload, kind: 'failed' }, headers };
  }
}

/**
 * The newest native build of the device's platform on the native channel named like its live-update
 * channel, as the plugin's `link` and `comment`; nothing when there is none.
 */
async function nativeHint(
  services: Services,
  info: { app_id: string; platform: string },
  decision: { channel: string; bundle?: LiveBundle },
  urlOf: BundleUrl,
): Promise<{ link?: string; comment?: string }> {
  const build = await services.nativeBuilds.latestCached(info.app_id, decision.channel, info.platform);
  if (!build) return {};
  const link = `${urlOf({ location: 'blob', sha256: build.sha256, external_url: null })}`;
  const required = decision.bundle?.minNativeVersion ?? build.version;
  return {
    link: `${link}${link.includes('?') ? '&' : '?'}name=${encodeURIComponent(nativeFileName(build))}`,
    comment: `Native ${required} required; ${info.platform} build ${build.version} is available`,
  };
}

function updatePayload(bundle: LiveBundle, urlOf: BundleUrl, withManifest = false) {
  return {
    version: bundle.version,
    // Sent with a manifest too: the plugin refuses an answer without a valid url.
    url: urlOf(bundle),
    checksum: bundle.checksum,
    ...(bundle.session_key !== null && { session_key: bundle.session_key }),
    ...(bundle.notes !== null && { comment: bundle.notes }),
    // Every file of the bundle (the plugin builds the new bundle from these alone); never empty,
    // since an empty manifest would install an empty bundle.
    ...(withManifest && bundle.files.length > 0 && { manifest: manifestOf(bundle, urlOf) }),
  };
}

/** The delta manifest as the plugin parses it: "*.br" names are brotli-decoded on the device. */
function manifestOf(bundle: LiveBundle, urlOf: BundleUrl) {
  return bundle.files.map((file) => ({
    file_name: file.brotli === 1 ? `${file.path}.br` : file.path,
    file_hash: file.file_hash,
    download_url: urlOf({ location: 'blob', sha256: file.stored_sha256, external_url: null }),
  }));
}

/** Refusals that a newer native build from the store would lift. */
const NEEDS_STORE_UPDATE = new Set(['native_version_too_old', 'disable_auto_update_to_major']);

/** One decision in the plugin's words (docs/protocol.md, "What Overair answers"). */
function updateAnswer(
  decision: UpdateDecision<LiveBundle>,
  info: { version_name: string; plugin_version: string },
  urlOf: BundleUrl,
) {
  switch (decision.outcome) {
    case 'update':
      return updatePayload(decision.bundle, urlOf, pluginSupportsManifest(info.plugin_version));
    case 'up_to_date':
      return { error: decision.error, message: decision.message, kind: 'up_to_date' };
    case 'blocked':
      return {
        error: decision.error,
        message: decision.message,
        kind: 'blocked',
        ...(decision.bundle && { version: decision.bundle.version, old: info.version_name }),
        // Makes the plugin fire breakingAvailable, so the app can ask for a store update.
        ...(NEEDS_STORE_UPDATE.has(decision.error) && { breaking: true }),
      };
    case 'failed':
      return { error: decision.error, message: decision.message, kind: 'failed' };
  }
}
