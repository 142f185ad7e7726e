import { Readable } from 'node:stream';
import { Hono, type Context } from 'hono';
import type { Logger } from 'pino';
import type { NativeBuildRow } from '../db/schema.js';
import { errors } from '../errors.js';
import type { Services } from '../services/index.js';
import { requireRole, type AdminEnv } from './auth.js';
import type { DownloadLinks } from './download.js';
import * as a from './admin-schemas.js';
import { errorJson } from './errors.js';
import { nativeBinaryJson } from './serialize.js';
import { readJson } from './json-body.js';
import { parseInput } from './validation.js';
import * as s from './schemas.js';

const platform = a.nativePlatform;

/** A native layer sent as JSON text in a query string (`native_layer`), validated; undefined when absent. */
export function nativeLayerFromQuery(text: string | undefined) {
  if (text === undefined) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw errors.invalidRequest({ problem: 'native_layer: not valid JSON' });
  }
  return parseInput(a.nativeLayer, value, 'native_layer');
}

/** The file name a build is downloaded as: safe characters only (it goes into Content-Disposition). */
export function nativeFileName(build: Pick<NativeBuildRow, 'app_id' | 'version' | 'file_kind'>): string {
  return `${build.app_id}-${build.version}.${build.file_kind}`.replace(/[^A-Za-z0-9._-]/g, '_');
}

/** A build's download link: the blob's (signed when downloads are private), with its file name. */
function nativeDownloadUrl(
  links: DownloadLinks,
  base: string,
  build: Pick<NativeBuildRow, 'app_id' | 'version' | 'file_kind' | 'sha256'>,
): string {
  const path = links.pathOf(build.sha256);
  return `${base}${path}${path.includes('?') ? '&' : '?'}name=${encodeURIComponent(nativeFileName(build))}`;
}

/** The stable link to the newest build of a channel and platform (redirects to its download). */
function nativeLatestUrl(base: string, appId: string, channel: string, platform: string): string {
  return `${base}/native/${encodeURIComponent(appId)}/${encodeURIComponent(channel)}/${platform}/latest`;
}

export function nativeBuildJson(build: NativeBuildRow, links: DownloadLinks, base: string) {
  return {
    app_id: build.app_id,
    platform: build.platform,
    version: build.version,
    version_code: build.version_code,
    channel: build.channel,
    sha256: build.sha256,
    size: Number(build.size),
    file_kind: build.file_kind,
    notes: build.notes,
    created_at: build.created_at,
    created_by: build.created_by,
    download_url: nativeDownloadUrl(links, base, build),
    latest_url: nativeLatestUrl(base, build.app_id, build.channel, build.platform),
  };
}

/** The admin API's native builds: upload (publish), list (read), delete (publish). */
export function registerNativeRoutes(api: Hono<AdminEnv>, services: Services, links: DownloadLinks): void {
  // The role on the app in the path: registering and deleting native builds is part of publishing.
  const read = requireRole('read');
  const publish = requireRole('publish');
  const appParam = (c: Context<AdminEnv>) => parseInput(s.appId, c.req.param('appId'), 'app id');

  api.post('/apps/:appId/native/upload', publish, async (c) => {
    const appId = appParam(c);
    const input = parseInput(a.nativeUploadQuery, c.req.query(), 'query');
    const limit = services.nativeBuilds.maxUploadBytes;
    const declared = Number(c.req.header('content-length') ?? NaN);
    if (Number.isFinite(declared) && declared > limit) {
      throw errors.payloadTooLarge({ what: 'The upload', limit: `${limit} bytes` });
    }
    const raw = c.req.raw.body;
    if (!raw) throw errors.emptyBody({ what: 'APK, AAB or IPA' });
    const build = await services.nativeBuilds.upload(
      appId,
      Readable.fromWeb(raw as import('node:stream/web').ReadableStream),
      {
        platform: input.platform,
        version: input.version,
        channel: input.channel,
        versionCode: input.version_code,
        notes: input.notes,
        sha256: input.sha256,
        nativeLayer: nativeLayerFromQuery(input.native_layer),
      },
      c.get('actor'),
    );
    return c.json(nativeBuildJson(build, links, links.base(c)), 201);
  });

  // Binaries registered with their native layer (the native compatibility gate).
  api.get('/apps/:appId/binaries', read, async (c) => {
    const rows = await services.nativeGate.list(appParam(c));
    return c.json({ items: rows.map(nativeBinaryJson) });
  });
  api.post('/apps/:appId/binaries', publish, async (c) => {
    const appId = appParam(c);
    const input = parseInput(a.registerBinaryBody, await readJson(c));
    const { binary, replaced } = await services.nativeGate.register(
      appId,
      {
        platform: input.platform,
        version: input.version,
        versionCode: input.version_code,
        layer: input.native_layer,
        storeUrl: input.store_url,
      },
      c.get('actor'),
    );
    return c.json({ ...nativeBinaryJson(binary), replaced }, replaced ? 200 : 201);
  });
  api.delete('/apps/:appId/binaries/:platform/:version', publish, async (c) => {
    const appId = appParam(c);
    const which = parseInput(platform, c.req.param('platform'), 'platform');
    const version = parseInput(s.nativeVersion, c.req.param('version'), 'version');
    const { version_code } = parseInput(a.binaryQuery, c.req.query(), 'query');
    await services.nativeGate.delete(appId, which, version, version_code ?? '', c.get('actor'));
    return c.json({ deleted: true });
  });

  api.get('/apps/:appId/native', read, async (c) => {
    const filter = parseInput(a.nativeListQuery, c.req.query(), 'query');
    const rows = await services.nativeBuilds.list(appParam(c), filter);
    const base = links.base(c);
    return c.json({ items: rows.map((row) => nativeBuildJson(row, links, base)) });
  });

  api.delete('/apps/:appId/native/:platform/:version', publish, async (c) => {
    const appId = appParam(c);
    const which = parseInput(platform, c.req.param('platform'), 'platform');
    const version = parseInput(s.nativeVersion, c.req.param('version'), 'version');
    await services.nativeBuilds.delete(appId, which, version, c.get('actor'));
    return c.json({ deleted: true });
  });
}

/**
 * The stable link testers keep: `/native/APP/CHANNEL/PLATFORM/latest` redirects (302) to the newest
 * build's download, which is a signed, expiring link when downloads are private. No token: with
 * private downloads it hands out a fresh signed link, as an update check would.
 */
export function nativeDownloadRoutes(services: Services, links: DownloadLinks, log: Logger) {
  const routes = new Hono();
  routes.get('/native/:appId/:channel/:platform/latest', async (c) => {
    try {
      const appId = parseInput(s.appId, c.req.param('appId'), 'app id');
      const channel = parseInput(s.channelName, c.req.param('channel'), 'channel');
      const which = parseInput(platform, c.req.param('platform'), 'platform');
      const build = await services.nativeBuilds.latest(appId, channel, which);
      if (!build) {
        throw errors.nativeBuildNotFound({ appId, build: `${which} build on native channel "${channel}"` });
      }
      c.header('Cache-Control', 'no-store');
      return c.redirect(nativeDownloadUrl(links, links.base(c), build), 302);
    } catch (error) {
      return errorJson(c, error, log);
    }
  });
  return routes;
}
