import { Hono, type Context } from 'hono';
import { createMiddleware } from 'hono/factory';
import type { Logger } from 'pino';
import { z } from 'zod';
import { isDatabaseUnavailable } from '../db/unavailable.js';
import { OverairError, errors } from '../errors.js';
import type { Services } from '../services/index.js';
import { errorJson, toErrorResponse } from './errors.js';
import { readJson, requestBody } from './json-body.js';
import { UpdateCheck, updatePayload } from './update-check.js';
import { OUTCOME, outcomeOfStatus, PLUGIN } from '../metrics/labels.js';
import { parseInput } from './validation.js';
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
import type { DownloadLinks } from './download.js';
import { clientAddress } from './client-address.js';
import { tooManyRequests, type DeviceRateLimit } from './device-rate-limit.js';
import type { ContentfulStatusCode } from 'hono/utils/http-status';

/** Header values as the web Response takes them. */
function stringValues(headers: Record<string, string | number>): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).map(([name, value]) => [name, String(value)]));
}

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

  // The configured device rate limit (off unless set), on every device call; the update check
  // applies it itself (update-check.ts).
  if (limit) {
    const limited = createMiddleware(async (c, next) => {
      const seconds = limit.check(clientAddress(c, trustProxy));
      if (seconds === 0) return next();
      if (c.req.path === '/check') services.metrics.updateCheck(PLUGIN.plain, OUTCOME.rate_limited, '');
      c.header('Retry-After', String(seconds));
      return c.json(tooManyRequests(seconds), 429);
    });
    for (const path of ['/stats', '/channel_self', '/check']) routes.use(path, limited);
  }

  const check = new UpdateCheck(services, log, limit);
  routes.post('/updates', async (c) => {
    const { status, headers, body } = await check.answer({
      address: () => clientAddress(c, trustProxy),
      contentLength: c.req.header('content-length'),
      acceptEncoding: c.req.header('accept-encoding'),
      body: requestBody(c),
      urlOf: links.forBundle(c),
    });
    const data = typeof body === 'string' ? body : new Uint8Array(body);
    return c.body(data, status as ContentfulStatusCode, stringValues(headers));
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
      services.metrics.updateCheck(PLUGIN.plain, OUTCOME[decision.outcome], '');
      if (decision.outcome !== 'update') return c.json({});
      const { version, url, checksum, session_key } = updatePayload(decision.bundle, links.forBundle(c));
      return c.json({ version, url, checksum, ...(session_key !== undefined && { session_key }) });
    } catch (error) {
      const answer = errorJson(c, error, log);
      services.metrics.updateCheck(PLUGIN.plain, outcomeOfStatus(answer.status), '');
      return answer;
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
