import { createReadStream } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { Transform } from 'node:stream';
import type { Command } from 'commander';
import type { NativeBinaryJson, NativeBuildJson, NativeLayerJson } from '../../api-types.js';
import { hashFile } from '../../bundle/zip-folder.js';
import { resolveAppId } from '../capacitor.js';
import { contextOf } from '../context.js';
import { CliError, type CliIo } from '../io.js';
import { describeNativeLayer, detectNativeLayer, isCapacitorProject } from '../native-layer.js';
import { emit, formatBytes, progressBar, table } from '../output.js';

const PLATFORMS = ['android', 'ios'];
const enc = encodeURIComponent;

function platformOf(value: string): string {
  if (!PLATFORMS.includes(value)) throw new CliError(`platform must be android or ios, not "${value}"`);
  return value;
}

/**
 * The native layer of a binary being built: that of the project in --native-from, else of this
 * folder when it is a Capacitor project; undefined when neither (`native upload` then
 * registers nothing), an error for `native register`, which exists to record it.
 */
async function binaryLayer(cwd: string, from: string | undefined, required: boolean) {
  if (from) return detectNativeLayer(path.resolve(cwd, from));
  if (!required && !(await isCapacitorProject(cwd))) return undefined;
  return detectNativeLayer(cwd);
}

const binaryName = (b: { platform: string; version: string; version_code: string | null }) =>
  `${b.platform} ${b.version}${b.version_code === null ? '' : ` (build ${b.version_code})`}`;

export async function nativeUpload(
  io: CliIo,
  file: string,
  options: {
    platform: string;
    version: string;
    channel: string;
    versionCode?: string;
    notes?: string;
    app?: string;
    nativeFrom?: string;
  },
  command: Command,
): Promise<void> {
  const ctx = contextOf(io, command);
  const appId = await resolveAppId(io.cwd, options.app);
  const platform = platformOf(options.platform);
  const nativeLayer = await binaryLayer(io.cwd, options.nativeFrom, false);
  const target = path.resolve(io.cwd, file);
  if (!(await fs.stat(target).catch(() => null))?.isFile()) throw new CliError(`${target}: no such file`);
  const { sha256, size } = await hashFile(target);
  const bar = progressBar(io, io.interactive && !ctx.json, size, `Uploading ${path.basename(target)}`);
  let sent = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      sent += chunk.length;
      bar.update(sent);
      callback(null, chunk);
    },
  });
  const uploaded = await (
    await ctx.api()
  ).request<NativeBuildJson>('POST', `/apps/${enc(appId)}/native/upload`, {
    query: {
      platform,
      version: options.version,
      channel: options.channel,
      version_code: options.versionCode,
      notes: options.notes,
      sha256,
      native_layer: nativeLayer && JSON.stringify(nativeLayer),
    },
    stream: {
      body: createReadStream(target).pipe(counter),
      length: size,
      type: 'application/octet-stream',
    },
  });
  bar.finish();
  // The server hashed what it received; anything else is a corrupted transfer.
  if (uploaded.sha256 !== sha256) {
    throw new CliError(`checksum mismatch: the server stored ${uploaded.sha256}, the file is ${sha256}`);
  }
  emit(io, ctx.json, uploaded, (v) =>
    [
      `Uploaded ${appId} ${v.platform} ${v.version} (${v.file_kind}, ${formatBytes(v.size)}) to native channel "${v.channel}", sha256 ${v.sha256}`,
      `Latest ${v.platform} build of "${v.channel}": ${v.latest_url}`,
      nativeLayer
        ? `Registered its native layer: ${describeNativeLayer(nativeLayer)}`
        : 'Native layer not registered (not run in a Capacitor project; give --native-from DIR)',
    ].join('\n'),
  );
}

export async function nativeList(
  io: CliIo,
  options: { platform?: string; channel?: string; app?: string },
  command: Command,
): Promise<void> {
  const ctx = contextOf(io, command);
  const appId = await resolveAppId(io.cwd, options.app);
  const { items } = await (
    await ctx.api()
  ).get<{ items: NativeBuildJson[] }>(`/apps/${enc(appId)}/native`, {
    platform: options.platform === undefined ? undefined : platformOf(options.platform),
    channel: options.channel,
  });
  emit(io, ctx.json, items, (rows) =>
    table(
      ['PLATFORM', 'VERSION', 'CODE', 'CHANNEL', 'KIND', 'SIZE', 'CREATED', 'SHA256'],
      rows.map((b) => [
        b.platform,
        b.version,
        b.version_code,
        b.channel,
        b.file_kind,
        formatBytes(b.size),
        b.created_at,
        b.sha256.slice(0, 12),
      ]),
    ),
  );
}

export async function nativeDelete(
  io: CliIo,
  platform: string,
  version: string,
  options: { app?: string },
  command: Command,
): Promise<void> {
  const ctx = contextOf(io, command);
  const appId = await resolveAppId(io.cwd, options.app);
  const result = await (
    await ctx.api()
  ).delete<{ deleted: boolean }>(`/apps/${enc(appId)}/native/${platformOf(platform)}/${enc(version)}`);
  emit(io, ctx.json, { ...result, platform, version }, (v) => `Deleted ${appId} ${v.platform} ${v.version}`);
}

export async function nativeRegister(
  io: CliIo,
  options: {
    platform: string;
    version: string;
    versionCode?: string;
    storeUrl?: string;
    nativeFrom?: string;
    app?: string;
  },
  command: Command,
): Promise<void> {
  const ctx = contextOf(io, command);
  const appId = await resolveAppId(io.cwd, options.app);
  const platform = platformOf(options.platform);
  const layer = (await binaryLayer(io.cwd, options.nativeFrom, true)) as NativeLayerJson;
  const registered = await (
    await ctx.api()
  ).post<NativeBinaryJson & { replaced: boolean }>(`/apps/${enc(appId)}/binaries`, {
    platform,
    version: options.version,
    version_code: options.versionCode,
    native_layer: layer,
    store_url: options.storeUrl,
  });
  emit(
    io,
    ctx.json,
    registered,
    (v) =>
      `${v.replaced ? 'Updated' : 'Registered'} ${appId} ${binaryName(v)}: ${describeNativeLayer(v.native_layer, v.native_fingerprint)}`,
  );
}

export async function nativeBinaries(io: CliIo, options: { app?: string }, command: Command): Promise<void> {
  const ctx = contextOf(io, command);
  const appId = await resolveAppId(io.cwd, options.app);
  const { items } = await (
    await ctx.api()
  ).get<{ items: NativeBinaryJson[] }>(`/apps/${enc(appId)}/binaries`);
  emit(io, ctx.json, items, (rows) =>
    table(
      ['PLATFORM', 'VERSION', 'CODE', 'PACKAGES', 'FINGERPRINT', 'SOURCE', 'REGISTERED', 'STORE'],
      rows.map((b) => [
        b.platform,
        b.version,
        b.version_code ?? 'any',
        b.native_layer.packages.length,
        b.native_fingerprint.slice(0, 12),
        b.source,
        b.created_at,
        b.store_url,
      ]),
    ),
  );
}

export async function nativeUnregister(
  io: CliIo,
  platform: string,
  version: string,
  options: { versionCode?: string; app?: string },
  command: Command,
): Promise<void> {
  const ctx = contextOf(io, command);
  const appId = await resolveAppId(io.cwd, options.app);
  const which = `/apps/${enc(appId)}/binaries/${platformOf(platform)}/${enc(version)}`;
  const query = options.versionCode === undefined ? '' : `?version_code=${enc(options.versionCode)}`;
  const result = await (await ctx.api()).delete<{ deleted: boolean }>(`${which}${query}`);
  emit(
    io,
    ctx.json,
    { ...result, platform, version, version_code: options.versionCode ?? null },
    (v) => `Unregistered ${appId} ${binaryName(v)}`,
  );
}
