import { createHash } from 'node:crypto';
import { Readable, pipeline } from 'node:stream';
import { createBrotliDecompress } from 'node:zlib';
import { Hono, type Context } from 'hono';
import { createMiddleware } from 'hono/factory';
import type { Logger } from 'pino';
import semver from 'semver';
import { z } from 'zod';
import { deviceMayJoin } from '../domain/decision.js';
import { errorBody, errors } from '../errors.js';
import type { BundleFileRow } from '../db/schema.js';
import type { Services } from '../services/index.js';
import type { LiveBundle } from '../services/release-cache.js';
import { clientAddress } from './client-address.js';
import { tooManyRequests, type DeviceRateLimit } from './device-rate-limit.js';
import { countBytes, filesKey, type DownloadLinks } from './download.js';
import { errorJson } from './errors.js';
import { parseInput } from './validation.js';
import { OUTCOME, outcomeOfStatus, PLUGIN } from '../metrics/labels.js';
import { appId, channelName, deviceId } from './schemas.js';

/** The name the plugin fetches a manifest bundle's file list under (it must not change). */
const MANIFEST_NAME = 'capawesome-live-update-manifest.json';

/** The plugin reads `artifactType: "manifest"` from 6.6/6.7; serverDomain (needed to reach us) is 7.0+. */
const MANIFEST_SINCE = '6.7.0';

const text = z.string().max(256);
const latestQuery = z.object({
  appVersionCode: text.optional(),
  appVersionName: text.default(''),
  bundleId: text.optional(),
  channelName: channelName.or(z.literal('')).optional(),
  customId: text.optional(),
  deviceId,
  osVersion: text.optional(),
  platform: z.enum(['0', '1']),
  pluginVersion: text.optional(),
});

const channelsQuery = z.object({
  limit: z.coerce.number().int().min(1).max(1000).default(1000),
  offset: z.coerce.number().int().min(0).default(0),
  query: z.string().max(128).optional(),
});

/**
 * The endpoints of the unmodified @capawesome/capacitor-live-update plugin (docs/protocol-capawesome.md),
 * answered from the same update decision as the Capgo endpoints. The plugin reads any non-2xx answer
 * to the latest-bundle check as "no bundle", so everything but an update is a 404 with {error, message}.
 */
export function capawesomeRoutes(
  services: Services,
  links: DownloadLinks,
  log: Logger,
  limit?: DeviceRateLimit,
  trustProxy = false,
) {
  const routes = new Hono();
  /** Original sizes of brotli-stored files, by stored sha256 (content-addressed: never stale). */
  const sizes = new Map<string, number>();

  if (limit) {
    routes.use(
      '/v1/apps/*',
      createMiddleware(async (c, next) => {
        const seconds = limit.check(clientAddress(c, trustProxy));
        if (seconds === 0) return next();
        if (c.req.path.endsWith('/bundles/latest'))
          services.metrics.updateCheck(PLUGIN.capawesome, OUTCOME.rate_limited, '');
        c.header('Retry-After', String(seconds));
        return c.json(tooManyRequests(seconds), 429);
      }),
    );
  }

  routes.get('/v1/apps/:appId/bundles/latest', async (c) => {
    try {
      const app = parseInput(appId, c.req.param('appId'), 'path');
      const query = parseInput(latestQuery, c.req.query(), 'query');
      const decision = await services.updates.check({
        app_id: app,
        device_id: query.deviceId,
        platform: query.platform === '0' ? 'android' : 'ios',
        // No bundleId: the device runs the bundle of its store build.
        version_name: query.bundleId || 'builtin',
        version_build: query.appVersionName,
        version_code: query.appVersionCode ?? '',
        version_os: query.osVersion ?? '',
        plugin_version: query.pluginVersion ?? '',
        custom_id: query.customId ?? '',
        defaultChannel: query.channelName ?? '',
        is_emulator: false,
        is_prod: true,
      });
      services.metrics.updateCheck(PLUGIN.capawesome, OUTCOME[decision.outcome], query.pluginVersion ?? '');
      if (decision.outcome !== 'update') {
        return c.json({ error: decision.error, message: decision.message }, 404);
      }
      const bundle = decision.bundle;
      // Capgo-encrypted bundles: this plugin cannot open them (the decision already refuses them to a
      // device without a key; this keeps it so should that rule change).
      if (bundle.session_key !== null) {
        return c.json(errorBody(errors.noBundle()), errors.noBundle.status);
      }
      // A device configured with a publicKey refuses a bundle without a signature ("Bundle does not
      // contain a signature"): an app that requires signatures never sends one, whatever is live
      // (uploads and releases are checked too; this also covers a rollback to an older bundle).
      if (bundle.signature === null && (await services.cache.get(app))?.requireSignature) {
        const unsigned = errors.unsignedBundle({ version: bundle.version });
        return c.json(errorBody(unsigned), unsigned.status);
      }
      const origin = new URL(c.req.url).origin;
      return c.json({
        artifactType: useManifest(bundle, query.pluginVersion) ? 'manifest' : 'zip',
        bundleId: bundle.version,
        channelName: decision.channel,
        checksum: bundle.sha256,
        ...(bundle.signature !== null && { signature: bundle.signature }),
        url: useManifest(bundle, query.pluginVersion)
          ? links.filesUrl(origin, app, bundle.version)
          : links.forBundle(c)(bundle),
      });
    } catch (error) {
      const answer = errorJson(c, error, log);
      services.metrics.updateCheck(PLUGIN.capawesome, outcomeOfStatus(answer.status), '');
      return answer;
    }
  });

  /** fetchChannels(): the channels a device may join, as `[{id, name}]`. */
  routes.get('/v1/apps/:appId/channels', async (c) => {
    try {
      const app = parseInput(appId, c.req.param('appId'), 'path');
      const query = parseInput(channelsQuery, c.req.query(), 'query');
      const release = await services.cache.get(app);
      if (!release) throw errors.appNotFound({ appId: app });
      const needle = query.query?.toLowerCase();
      const listed = [...release.channels.values()]
        .filter((channel) => deviceMayJoin(channel))
        .filter((channel) => !needle || channel.name.toLowerCase().includes(needle))
        // The default channel first, then the others in name order.
        .sort((a, b) => Number(b.isDefault) - Number(a.isDefault) || a.name.localeCompare(b.name))
        .map((channel) => ({ id: channel.name, name: channel.name }));
      return c.json(listed.slice(query.offset, query.offset + query.limit));
    } catch (error) {
      return errorJson(c, error, log);
    }
  });

  /**
   * A manifest bundle's files: `?href=capawesome-live-update-manifest.json` is the list, `?href=PATH`
   * one file's original bytes. With private downloads the link's `EXP.SIG` is the last path segment.
   */
  const files = async (c: Context) => {
    try {
      const app = parseInput(appId, c.req.param('appId'), 'path');
      const version = c.req.param('version') ?? '';
      const token = c.req.param('token');
      const [exp, sig] = token ? token.split('.', 2) : [undefined, undefined];
      const refusal = links.refusal(filesKey(app, version), exp, sig);
      if (refusal) {
        c.header('Cache-Control', 'no-store');
        throw refusal;
      }
      const href = c.req.query('href');
      if (!href) throw errors.fileNotFound({ version });
      const bundle = await services.bundles.get(app, version);
      const list = bundle.session_key === null ? await services.bundles.files(bundle) : [];
      if (list.length === 0) throw errors.fileNotFound({ version, href: MANIFEST_NAME });
      const cacheControl = links.isPrivate
        ? `private, max-age=${links.secondsLeft(exp)}`
        : 'public, max-age=31536000, immutable';
      if (href === MANIFEST_NAME) {
        const body = JSON.stringify(await manifestOf(list));
        return c.body(body, 200, {
          'Content-Type': 'application/json',
          'Cache-Control': cacheControl,
          'X-Checksum': createHash('sha256').update(body).digest('hex'),
        });
      }
      // Only a path of the bundle's own list, looked up by name: never a path to the file system.
      const file = list.find((entry) => entry.path === href);
      if (!file) throw errors.fileNotFound({ version, href });
      const headers: Record<string, string> = {
        'Content-Type': 'application/octet-stream',
        'Cache-Control': cacheControl,
        'X-Checksum': file.file_hash,
      };
      const size = file.brotli === 1 ? sizes.get(file.stored_sha256) : file.stored_size;
      if (size !== undefined) headers['Content-Length'] = String(size);
      if (size === 0) return c.body(null, 200, headers);
      services.metrics.downloaded('file', 'full');
      const bytes = originalBytes(file);
      const body = Readable.toWeb(bytes) as ReadableStream;
      countBytes(bytes, services.metrics.bytesOf('file'));
      return c.body(body, 200, headers);
    } catch (error) {
      return errorJson(c, error, log);
    }
  };
  routes.get('/v1/apps/:appId/bundles/:version/files', files);
  routes.get('/v1/apps/:appId/bundles/:version/files/:token', files);

  /** Whether this device gets the bundle file by file: it has a file list, no signature, a plugin that knows manifests. */
  function useManifest(bundle: LiveBundle, pluginVersion: string | undefined): boolean {
    // A signature covers the zip only; with a public key the plugin wants one for every file.
    if (bundle.files.length === 0 || bundle.signature !== null) return false;
    const parsed = semver.coerce(pluginVersion ?? '');
    return parsed !== null && semver.gte(parsed, MANIFEST_SINCE);
  }

  /**
   * Streamed through this server even when the store could redirect (S3): the plugin checks each
   * file against the X-Checksum header only this route sends, and brotli-stored files are decoded
   * here. Files are small, so the detour costs little.
   */
  function originalBytes(file: BundleFileRow): Readable {
    const stored = services.store.read(file.stored_sha256);
    if (file.brotli !== 1) return stored;
    const decompress = createBrotliDecompress();
    pipeline(stored, decompress, (error) => {
      if (error) log.warn({ err: error, sha256: file.stored_sha256 }, 'bundle file unreadable');
    });
    return decompress;
  }

  async function originalSize(file: BundleFileRow): Promise<number> {
    if (file.brotli !== 1) return file.stored_size;
    let size = sizes.get(file.stored_sha256);
    if (size === undefined) {
      size = 0;
      for await (const chunk of originalBytes(file)) size += (chunk as Buffer).length;
      if (sizes.size >= 100_000) sizes.clear();
      sizes.set(file.stored_sha256, size);
    }
    return size;
  }

  /** The manifest the plugin compares with the one of the bundle it runs (never listing itself). */
  async function manifestOf(list: BundleFileRow[]) {
    const items = [];
    for (const file of list) {
      if (file.path === MANIFEST_NAME) continue;
      items.push({ href: file.path, checksum: file.file_hash, sizeInBytes: await originalSize(file) });
    }
    return items;
  }

  return routes;
}
