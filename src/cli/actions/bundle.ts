import { createReadStream } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Transform } from 'node:stream';
import type { Command } from 'commander';
import type {
  BundleJson,
  ChannelJson,
  CleanupJson,
  CompatibilityJson,
  NativeLayerJson,
  Page,
  ReleaseRequestJson,
  UploadRetentionJson,
  BundleUploadedJson,
} from '../../api-types.js';
import { checkBundleFolder, hashFile, listFolder, zipFolder } from '../../bundle/zip-folder.js';
import {
  decryptBundleFile,
  decryptChecksum,
  encryptBundleFile,
  keyIdOf,
  loadPublicKey,
  publicKeyOf,
  signFile,
  verifyFileSignature,
} from '../../crypto/capgo.js';
import { SHA256_HEX, hashChunks } from '../../crypto/hash.js';
import { installedUpdaterPlugins, packageVersion, readCapacitorConfig, resolveAppId } from '../capacitor.js';
import type { ApiClient } from '../client.js';
import { contextOf, type CommandContext } from '../context.js';
import { CliError, type CliIo } from '../io.js';
import { configKeyId, readKeyFile, readPrivateKey, readPublicKey } from '../key-files.js';
import { describeNativeLayer, detectNativeLayer, isCapacitorProject } from '../native-layer.js';
import { emit, fields, formatBytes, progressBar, table } from '../output.js';
import type { BucketTarget, S3UploadFlags } from '../s3-upload.js';

interface ZipOptions {
  path?: string;
  bundle?: string;
  name?: string;
  codeCheck: boolean;
}

interface UploadOptions extends S3UploadFlags {
  app?: string;
  path?: string;
  zip?: string;
  bundle?: string;
  channel?: string;
  minNative?: string;
  comment?: string;
  external?: string;
  checksum?: string;
  ivSessionKey?: string;
  keyId?: string;
  verify: boolean;
  codeCheck: boolean;
  encrypt?: boolean;
  key?: string;
  keyData?: string;
  privateKey?: string;
  nativeFrom?: string;
  nativeLayer: boolean;
  waitFiles?: boolean;
}

/** How long `--wait-files` waits at most: a store that keeps failing must not hold a pipeline forever. */
const WAIT_FILES_MS = 10 * 60_000;
const WAIT_FILES_POLL_MS = 250;

const enc = encodeURIComponent;

/**
 * The native layer an upload records: the project's in --native-from, else this folder's when the
 * bundle is zipped here from it; a zip or URL made elsewhere is unknown unless --native-from says.
 */
async function nativeLayerFor(cwd: string, options: UploadOptions): Promise<NativeLayerJson | undefined> {
  const given = await nativeLayerEdit(cwd, options);
  if (given !== undefined) return given ?? undefined;
  if (options.zip || options.external || !(await isCapacitorProject(cwd))) return undefined;
  return detectNativeLayer(cwd);
}

/**
 * The native layer the flags name, for `upload` and `update`: the project's in --native-from, null
 * with --no-native-layer (unknown), undefined when neither is given.
 */
async function nativeLayerEdit(
  cwd: string,
  options: { nativeFrom?: string; nativeLayer: boolean },
): Promise<NativeLayerJson | null | undefined> {
  if (!options.nativeLayer) {
    if (options.nativeFrom) throw new CliError('give either --native-from or --no-native-layer, not both');
    return null;
  }
  if (options.nativeFrom) return detectNativeLayer(path.resolve(cwd, options.nativeFrom));
  return undefined;
}

/** --older-than: a duration with its unit (30d, 12h), in days. */
async function olderThanDays(text: string): Promise<number> {
  // A bare number would be seconds to the parser: almost every bundle. A unit is required.
  // (The settings' parser is imported here: it loads zod, which no other bundle command needs.)
  const { durationInSeconds } = await import('../../config-settings.js');
  const seconds = /[a-z]\s*$/i.test(text)
    ? durationInSeconds(100_000 * 86_400, '100000d').safeParse(text)
    : undefined;
  if (!seconds?.success)
    throw new CliError(`--older-than: expected a duration with its unit, such as 30d or 12h, not "${text}"`);
  return seconds.data / 86_400;
}

/** A cleanup's report: what went (or would go), and what stayed because a channel needs it. */
function renderCleanup(report: CleanupJson): string {
  const limits = [
    report.keep === null ? null : `the ${report.keep} newest kept`,
    report.older_than_days === null ? null : `older than ${+report.older_than_days.toFixed(3)} days`,
  ].filter(Boolean);
  const lines = [
    report.deleted.length === 0
      ? `Nothing to delete in ${report.app_id} (${limits.join(', ')})`
      : `${report.dry_run ? 'Would delete' : 'Deleted'} ${report.deleted.length} bundle${report.deleted.length === 1 ? '' : 's'} of ${report.app_id} (${limits.join(', ')}):`,
  ];
  if (report.deleted.length > 0)
    lines.push(
      table(
        ['VERSION', 'SIZE', 'CREATED'],
        report.deleted.map((b) => [b.version, b.size === null ? null : formatBytes(b.size), b.created_at]),
      ),
    );
  for (const kept of report.kept) lines.push(`Kept ${kept.version}: ${kept.reasons.join(', ')}`);
  if (!report.dry_run && report.blobs_deleted > 0)
    lines.push(`${report.blobs_deleted} stored file${report.blobs_deleted === 1 ? '' : 's'} freed`);
  if (report.blob_error) lines.push(`warning: some bytes were not deleted: ${report.blob_error}`);
  if (report.dry_run) lines.push('Dry run: nothing was deleted.');
  return lines.join('\n');
}

/** The lines an upload prints about the app's keep_bundles applied after it. */
function describeRetention(retention: UploadRetentionJson | undefined): string[] {
  if (!retention) return [];
  if (retention.error)
    return [
      `warning: retention (keep ${retention.keep}) failed: ${retention.error}; the next upload or \`overair bundle cleanup\` catches up`,
    ];
  return [
    retention.deleted.length === 0
      ? `Retention (keep ${retention.keep}): nothing to delete`
      : `Retention (keep ${retention.keep}): deleted ${retention.deleted.join(', ')}`,
  ];
}

/** The compatibility report as text: the package table, then who it reaches and refuses. */
function renderCompatibility(report: CompatibilityJson): string {
  const label = (b: CompatibilityJson['binaries'][number]) =>
    `${b.platform} ${b.version}${b.version_code === null ? '' : ` (${b.version_code})`}`;
  const lines = [
    `Bundle ${report.version} of ${report.app_id}${report.channel ? `, channel "${report.channel}"` : ''}`,
    `Native layer: ${describeNativeLayer(report.native_layer, report.native_fingerprint)}`,
  ];
  if (report.binaries.length === 0) {
    lines.push('No binary is registered (overair native register): every device is served.');
  } else {
    const rows = report.packages.filter(
      (row) => row.bundle !== null || row.binaries.some((version) => version !== null),
    );
    lines.push(
      '',
      table(
        ['PACKAGE', 'BUNDLE', ...report.binaries.map(label)],
        rows.map((row) => [row.name, row.bundle, ...row.binaries]),
      ),
      '',
      table(
        ['BINARY', 'DEVICES (30 DAYS)', 'VERDICT'],
        report.binaries.map((b) => [
          label(b),
          b.devices,
          b.compatible ? 'compatible' : `REFUSED: ${b.problems.join('; ')}`,
        ]),
      ),
    );
  }
  const unregistered = report.unregistered.reduce((sum, group) => sum + group.devices, 0);
  if (unregistered > 0) {
    lines.push(
      '',
      `${unregistered} device${unregistered === 1 ? '' : 's'} on unregistered binaries (${report.unregistered
        .map((g) => `${g.platform} ${g.version}${g.version_code ? ` (${g.version_code})` : ''}: ${g.devices}`)
        .join(
          ', ',
        )}): ${report.native_layer && report.unregistered_binaries === 'refuse' ? 'refused' : 'served'}`,
    );
  }
  lines.push(
    '',
    `Would reach ${report.devices.reached} and refuse ${report.devices.refused} of ${report.devices.total} devices seen since ${report.devices_since.slice(0, 10)}`,
  );
  return lines.join('\n');
}

async function resolveVersion(cwd: string, given: string | undefined): Promise<string> {
  const version = given ?? (await packageVersion(cwd));
  if (!version)
    throw new CliError('no bundle version: pass --bundle VERSION or set "version" in package.json');
  return version;
}

async function resolveWebDir(cwd: string, given: string | undefined): Promise<string> {
  const webDir = given ?? (await readCapacitorConfig(cwd))?.webDir;
  if (!webDir) throw new CliError('no web folder: pass --path DIR or set webDir in the Capacitor config');
  const folder = path.resolve(cwd, webDir);
  const stat = await fs.stat(folder).catch(() => null);
  if (!stat?.isDirectory()) throw new CliError(`${folder} is not a folder`);
  return folder;
}

/** Zips the web folder; the code check looks for the ready call of the project's updater plugin. */
async function zipWebFolder(cwd: string, folder: string, target: string, codeCheck: boolean) {
  const files = await listFolder(folder);
  if (files.length === 0) throw new CliError(`${folder} is empty`);
  if (codeCheck) {
    const problems = await checkBundleFolder(files, await installedUpdaterPlugins(cwd));
    if (problems.length > 0) {
      throw new CliError(
        `${problems.map((p) => p.message).join('; ')} (in ${folder}; --no-code-check skips this)`,
      );
    }
  }
  return zipFolder(files, target);
}

async function uploadBytes(
  ctx: CommandContext,
  api: ApiClient,
  appId: string,
  version: string,
  options: UploadOptions,
  /** With --s3-bucket-name: the zip goes there, not to the server. */
  bucket: BucketTarget | null,
  nativeLayer: NativeLayerJson | undefined,
) {
  if (options.zip && options.path) throw new CliError('give either --zip or --path, not both');
  let zipFile = options.zip ? path.resolve(ctx.io.cwd, options.zip) : undefined;
  let temporary: string | undefined;
  /** The zip's sha256 and size, when zipping here computed them on the way. */
  let zipped: { sha256: string; size: number } | undefined;
  try {
    if (!zipFile) {
      temporary = await fs.mkdtemp(path.join(os.tmpdir(), 'overair-zip-'));
      zipFile = path.join(temporary, 'bundle.zip');
      zipped = await zipWebFolder(
        ctx.io.cwd,
        await resolveWebDir(ctx.io.cwd, options.path),
        zipFile,
        options.codeCheck,
      );
    } else if (!(await fs.stat(zipFile).catch(() => null))?.isFile()) {
      throw new CliError(`${zipFile}: no such file`);
    }
    // What is uploaded: the zip, or its encryption; a signature covers exactly those bytes.
    let file = zipFile;
    let sealed: { ivSessionKey: string; checksum: string; keyId: string } | undefined;
    if (options.encrypt) {
      const privateKey = await readPrivateKey(ctx.io.cwd, options);
      temporary ??= await fs.mkdtemp(path.join(os.tmpdir(), 'overair-zip-'));
      file = path.join(temporary, 'bundle.encrypted.zip');
      const plain = zipped ?? (await hashFile(zipFile));
      const result = await encryptBundleFile(zipFile, file, privateKey, plain.sha256);
      sealed = { ...result, keyId: keyIdOf(publicKeyOf(privateKey)) };
    }
    const signature = options.privateKey
      ? await signFile(file, await readKeyFile(ctx.io.cwd, options.privateKey))
      : undefined;
    // The zip made here was hashed while it was written: read it again only if it was encrypted.
    const { sha256, size } = file === zipFile && zipped ? zipped : await hashFile(file);
    if (bucket) {
      return await uploadViaBucket(
        ctx,
        api,
        bucket,
        { appId, version, file, sha256, size, signature, sealed, nativeLayer },
        options,
      );
    }
    const bar = progressBar(ctx.io, ctx.io.interactive && !ctx.json, size, `Uploading ${version}`);
    let sent = 0;
    const counter = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        sent += chunk.length;
        bar.update(sent);
        callback(null, chunk);
      },
    });
    const body = createReadStream(file).pipe(counter);
    const ivSessionKey = sealed?.ivSessionKey ?? options.ivSessionKey;
    const uploaded = await api.request<BundleUploadedJson>('POST', `/apps/${enc(appId)}/bundles/upload`, {
      query: {
        version,
        sha256,
        min_native_version: options.minNative,
        notes: options.comment,
        session_key: ivSessionKey,
        checksum: sealed?.checksum ?? (ivSessionKey ? options.checksum : undefined),
        key_id: sealed?.keyId ?? options.keyId ?? (ivSessionKey ? await configKeyId(ctx.io.cwd) : undefined),
        signature,
        native_layer: nativeLayer && JSON.stringify(nativeLayer),
      },
      stream: { body, length: size, type: 'application/zip' },
    });
    bar.finish();
    // The server hashed what it received; anything else than what was read here is a corrupted transfer.
    if (uploaded.sha256 !== sha256) {
      throw new CliError(`checksum mismatch: the server stored ${uploaded.sha256}, the file is ${sha256}`);
    }
    return uploaded;
  } finally {
    if (temporary) await fs.rm(temporary, { recursive: true, force: true });
  }
}

async function registerExternal(
  api: ApiClient,
  appId: string,
  version: string,
  options: UploadOptions,
  nativeLayer: NativeLayerJson | undefined,
) {
  const url = options.external!;
  if (options.encrypt || options.privateKey) {
    throw new CliError(
      '--encrypt and --private-key work on bytes uploaded here; encrypt or sign before hosting them elsewhere',
    );
  }
  const encrypted = Boolean(options.ivSessionKey);
  if (!options.checksum) throw new CliError('--external needs --checksum');
  if (!encrypted && !SHA256_HEX.test(options.checksum.toLowerCase())) {
    throw new CliError('--checksum must be the sha256 of the zip (64 hex characters)');
  }
  let sha256 = encrypted ? undefined : options.checksum.toLowerCase();
  let size: number | undefined;
  if (options.verify || encrypted) {
    const fetched = await hashUrl(url);
    if (sha256 && fetched.sha256 !== sha256) {
      throw new CliError(`checksum mismatch: ${url} has sha256 ${fetched.sha256}, not ${sha256}`);
    }
    ({ sha256, size } = fetched);
  }
  return registerUrl(api, appId, {
    version,
    url,
    sha256,
    size,
    min_native_version: options.minNative,
    notes: options.comment,
    native_layer: nativeLayer,
    ...(encrypted && {
      session_key: options.ivSessionKey,
      checksum: options.checksum,
      key_id: options.keyId,
    }),
  });
}

/** Registers a bundle at a URL: the one request behind --external and --s3-bucket-name. */
function registerUrl(
  api: ApiClient,
  appId: string,
  body: {
    version: string;
    url: string;
    sha256?: string;
    size?: number;
    min_native_version?: string;
    notes?: string;
    session_key?: string;
    checksum?: string;
    key_id?: string;
    signature?: string;
    native_layer?: NativeLayerJson;
  },
) {
  return api.post<BundleUploadedJson>(`/apps/${enc(appId)}/bundles`, body);
}

/**
 * --s3-bucket-name: the zip (encrypted and signed as for an upload) goes to the publisher's bucket,
 * then its URL is registered as an external bundle with the checksum computed here, so the server
 * neither receives nor downloads the bytes. A registration that fails removes the object it uploaded.
 */
async function uploadViaBucket(
  ctx: CommandContext,
  api: ApiClient,
  bucket: BucketTarget,
  bundle: {
    appId: string;
    version: string;
    file: string;
    sha256: string;
    size: number;
    signature?: string;
    sealed?: { ivSessionKey: string; checksum: string; keyId: string };
    nativeLayer?: NativeLayerJson;
  },
  options: UploadOptions,
) {
  const { appId, version, sealed } = bundle;
  // The server would refuse an existing version only after the upload: ask first.
  const exists = await api.get(`/apps/${enc(appId)}/bundles/${enc(version)}`).then(
    () => true,
    () => false,
  );
  if (exists) throw new CliError(`${appId} already has a bundle ${version}`);
  const bar = progressBar(ctx.io, ctx.io.interactive && !ctx.json, bundle.size, `Uploading ${version}`);
  const { bundleKey, uploadToBucket } = await import('../s3-upload.js');
  const object = await uploadToBucket(bucket, {
    path: bundle.file,
    key: bundleKey(appId, version, bundle.sha256),
    size: bundle.size,
    onProgress: (sent) => bar.update(sent),
  });
  bar.finish();
  try {
    if (options.verify) await object.checkReadable();
    const ivSessionKey = sealed?.ivSessionKey ?? options.ivSessionKey;
    return await registerUrl(api, appId, {
      version,
      url: object.url,
      sha256: bundle.sha256,
      size: bundle.size,
      min_native_version: options.minNative,
      notes: options.comment,
      signature: bundle.signature,
      native_layer: bundle.nativeLayer,
      ...(ivSessionKey && {
        session_key: ivSessionKey,
        checksum: sealed?.checksum ?? options.checksum,
        key_id: sealed?.keyId ?? options.keyId ?? (await configKeyId(ctx.io.cwd)),
      }),
    });
  } catch (error) {
    await object.removeIfCreated();
    throw error;
  } finally {
    object.close();
  }
}

/** Downloads a URL once, streaming, to learn its sha256 and size. */
async function hashUrl(url: string): Promise<{ sha256: string; size: number }> {
  let response: Response;
  try {
    response = await fetch(url);
  } catch (error) {
    throw new CliError(`cannot download ${url}: ${(error as Error).message}`);
  }
  if (!response.ok || !response.body) throw new CliError(`cannot download ${url}: HTTP ${response.status}`);
  return hashChunks(response.body as AsyncIterable<Uint8Array>);
}

export async function bundleZip(
  io: CliIo,
  appId: string | undefined,
  options: ZipOptions,
  command: Command,
): Promise<void> {
  const ctx = contextOf(io, command);
  const id = await resolveAppId(io.cwd, appId);
  const version = await resolveVersion(io.cwd, options.bundle);
  const folder = await resolveWebDir(io.cwd, options.path);
  const target = path.resolve(io.cwd, options.name ?? `${id}_${version}.zip`);
  const { sha256, size } = await zipWebFolder(io.cwd, folder, target, options.codeCheck);
  emit(
    io,
    ctx.json,
    { bundle: version, filename: target, checksum: sha256, size },
    (v) => `Wrote ${v.filename} (${formatBytes(v.size)})\nsha256 ${v.checksum}`,
  );
}

export async function bundleUpload(io: CliIo, options: UploadOptions, command: Command): Promise<void> {
  const ctx = contextOf(io, command);
  const appId = await resolveAppId(io.cwd, options.app);
  const version = await resolveVersion(io.cwd, options.bundle);
  // Checked before anything is zipped: a wrong --s3-* option fails at once, not after the work.
  // (s3-upload.js and semver only for `bundle upload`, not for the other bundle commands.)
  const bucket = (await import('../s3-upload.js')).bucketTarget(options, io.env);
  const nativeLayer = await nativeLayerFor(io.cwd, options);
  const api = await ctx.api();
  let uploaded = options.external
    ? await registerExternal(api, appId, version, options, nativeLayer)
    : await uploadBytes(ctx, api, appId, version, options, bucket, nativeLayer);
  if (options.waitFiles && uploaded.files === 'preparing') {
    uploaded = { ...uploaded, ...(await waitForFiles(api, appId, version)) };
  }
  let channel: ChannelJson | ReleaseRequestJson | undefined;
  if (options.channel) {
    channel = await api.put<ChannelJson | ReleaseRequestJson>(
      `/apps/${enc(appId)}/channels/${enc(options.channel)}/bundle`,
      { version },
    );
  }
  // A protected channel of an app with four-eyes releases answers with the request made (202).
  const request = channel && 'requested_by' in channel ? channel : undefined;
  emit(io, ctx.json, { ...uploaded, ...(options.channel && { channel }) }, (v) =>
    [
      `Uploaded ${appId} ${v.version} (${v.size === null ? 'size unknown' : formatBytes(v.size)}), sha256 ${v.sha256}`,
      `Native layer: ${describeNativeLayer(v.native_layer, v.native_fingerprint)}`,
      ...describeFiles(v),
      request
        ? `Channel "${request.channel}" is protected: release request ${request.id} waits for someone with the release role (overair release approve ${request.id})`
        : options.channel
          ? `Live on channel "${options.channel}"`
          : `Make it live: overair channel set CHANNEL ${v.version}`,
      ...describeRetention(v.retention),
    ].join('\n'),
  );
}

/** Polls the bundle until its files are no longer being prepared; fails after WAIT_FILES_MS. */
async function waitForFiles(api: ApiClient, appId: string, version: string): Promise<BundleJson> {
  const deadline = Date.now() + WAIT_FILES_MS;
  for (;;) {
    const bundle = await api.get<BundleJson>(`/apps/${enc(appId)}/bundles/${enc(version)}`);
    if (bundle.files !== 'preparing') return bundle;
    if (Date.now() > deadline) {
      throw new CliError(
        `the bundle is uploaded, but its files for delta updates are still being prepared after ${WAIT_FILES_MS / 60_000} minutes${bundle.files_error ? ` (last failure: ${bundle.files_error})` : ''}; devices get the whole zip until they are ready`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, WAIT_FILES_POLL_MS));
  }
}

/** The upload's line on its files for delta updates. */
function describeFiles(bundle: BundleJson): string[] {
  switch (bundle.files) {
    case 'preparing':
      return [
        'Delta files: being prepared; devices get the whole zip until they are ready (--wait-files waits)',
      ];
    case 'ready':
      return ['Delta files: ready'];
    case 'failed':
      return [`Delta files: failed (${bundle.files_error ?? 'unknown'}); devices get the whole zip`];
    case 'none':
      return [];
  }
}

export async function bundleEncrypt(
  io: CliIo,
  zip: string,
  checksum: string,
  options: { key?: string; keyData?: string },
  command: Command,
): Promise<void> {
  const ctx = contextOf(io, command);
  const input = path.resolve(io.cwd, zip);
  if (!SHA256_HEX.test(checksum.toLowerCase()))
    throw new CliError("CHECKSUM must be the zip's sha256 (64 hex characters), as `bundle zip` prints it");
  const actual = (
    await hashFile(input).catch(() => {
      throw new CliError(`${input}: no such file`);
    })
  ).sha256;
  if (actual !== checksum.toLowerCase())
    throw new CliError(`checksum mismatch: ${input} has sha256 ${actual}`);
  const output = `${input}_encrypted.zip`;
  const result = await encryptBundleFile(input, output, await readPrivateKey(io.cwd, options), actual);
  emit(
    io,
    ctx.json,
    { checksum: result.checksum, filename: output, ivSessionKey: result.ivSessionKey },
    (v) => [`Wrote ${v.filename}`, `checksum ${v.checksum}`, `ivSessionKey ${v.ivSessionKey}`].join('\n'),
  );
}

export async function bundleDecrypt(
  io: CliIo,
  zip: string,
  ivSessionKey: string,
  options: { key?: string; keyData?: string; checksum?: string },
  command: Command,
): Promise<void> {
  const ctx = contextOf(io, command);
  const input = path.resolve(io.cwd, zip);
  const output = `${input.replace(/_encrypted\.zip$/, '')}_decrypted.zip`;
  const publicKey = await readPublicKey(io.cwd, options);
  await decryptBundleFile(input, output, ivSessionKey, publicKey);
  const { sha256 } = await hashFile(output);
  if (options.checksum) {
    const expected = decryptChecksum(options.checksum, loadPublicKey(publicKey));
    if (expected !== sha256) {
      await fs.rm(output, { force: true });
      throw new CliError(
        `checksum mismatch: the decrypted bundle has sha256 ${sha256}, the checksum says ${expected}`,
      );
    }
  }
  emit(
    io,
    ctx.json,
    { filename: output, checksum: sha256, verified: Boolean(options.checksum) },
    (v) => `Wrote ${v.filename} (sha256 ${v.checksum}${v.verified ? ', matches the checksum' : ''})`,
  );
}

export async function bundleVerify(
  io: CliIo,
  zip: string,
  options: { publicKey: string; signature?: string; bundle?: string; app?: string },
  command: Command,
): Promise<void> {
  const ctx = contextOf(io, command);
  let signature = options.signature;
  if (!signature) {
    if (!options.bundle)
      throw new CliError('give --signature, or --bundle VERSION to use the one on the server');
    const appId = await resolveAppId(io.cwd, options.app);
    const stored = await (
      await ctx.api()
    ).get<BundleJson>(`/apps/${enc(appId)}/bundles/${enc(options.bundle)}`);
    if (!stored.signature) throw new CliError(`bundle ${options.bundle} was uploaded without a signature`);
    signature = stored.signature;
  }
  const file = path.resolve(io.cwd, zip);
  const valid = await verifyFileSignature(file, signature, await readKeyFile(io.cwd, options.publicKey));
  emit(io, ctx.json, { file, valid }, (v) =>
    v.valid ? `Signature valid: ${v.file}` : `Signature INVALID: ${v.file}`,
  );
  if (!valid) throw new CliError('the signature does not match this file and key');
}

export async function bundleList(
  io: CliIo,
  options: { app?: string; limit: string },
  command: Command,
): Promise<void> {
  const ctx = contextOf(io, command);
  const appId = await resolveAppId(io.cwd, options.app);
  const { items } = await (
    await ctx.api()
  ).get<Page<BundleJson>>(`/apps/${enc(appId)}/bundles`, { limit: options.limit });
  emit(io, ctx.json, items, (rows) =>
    table(
      ['VERSION', 'SIZE', 'ENCRYPTED', 'MIN NATIVE', 'CREATED', 'SHA256'],
      rows.map((b) => [
        b.version,
        b.size === null ? null : formatBytes(b.size),
        b.encrypted,
        b.min_native_version,
        b.created_at,
        b.sha256.slice(0, 12),
      ]),
    ),
  );
}

export async function bundleInfo(
  io: CliIo,
  version: string,
  options: { app?: string },
  command: Command,
): Promise<void> {
  const ctx = contextOf(io, command);
  const appId = await resolveAppId(io.cwd, options.app);
  const found = await (await ctx.api()).get<BundleJson>(`/apps/${enc(appId)}/bundles/${enc(version)}`);
  emit(io, ctx.json, found, ({ native_layer, ...v }) =>
    [
      fields({ ...v }),
      '',
      `Native layer: ${describeNativeLayer(native_layer, v.native_fingerprint)}`,
      ...(native_layer && native_layer.packages.length > 0
        ? [
            table(
              ['PACKAGE', 'VERSION', 'PLATFORMS'],
              native_layer.packages.map((pkg) => [pkg.name, pkg.version, pkg.platforms.join(',')]),
            ),
          ]
        : []),
    ].join('\n'),
  );
}

export async function bundleUpdate(
  io: CliIo,
  version: string,
  options: {
    app?: string;
    comment?: string | false;
    minNative?: string | false;
    nativeFrom?: string;
    nativeLayer: boolean;
  },
  command: Command,
): Promise<void> {
  const ctx = contextOf(io, command);
  const appId = await resolveAppId(io.cwd, options.app);
  const nativeLayer = await nativeLayerEdit(io.cwd, options);
  const edits = {
    ...(options.comment !== undefined && { notes: options.comment || null }),
    ...(options.minNative !== undefined && { min_native_version: options.minNative || null }),
    ...(nativeLayer !== undefined && { native_layer: nativeLayer }),
  };
  if (Object.keys(edits).length === 0)
    throw new CliError(
      'nothing to change: give --comment TEXT, --no-comment, --min-native VERSION, --no-min-native, ' +
        '--native-from DIR or --no-native-layer',
    );
  const updated = await (
    await ctx.api()
  ).patch<BundleJson>(`/apps/${enc(appId)}/bundles/${enc(version)}`, edits);
  emit(io, ctx.json, updated, (v) =>
    [
      `Updated ${appId} ${v.version}`,
      `notes               ${v.notes ?? '-'}`,
      `min native version  ${v.min_native_version ?? '-'}`,
      `native layer        ${describeNativeLayer(v.native_layer, v.native_fingerprint)}`,
    ].join('\n'),
  );
}

export async function bundleCompatibility(
  io: CliIo,
  version: string,
  options: { app?: string; channel?: string; failOnIncompatible?: boolean },
  command: Command,
): Promise<void> {
  const ctx = contextOf(io, command);
  const appId = await resolveAppId(io.cwd, options.app);
  const report = await (
    await ctx.api()
  ).get<CompatibilityJson>(`/apps/${enc(appId)}/bundles/${enc(version)}/compatibility`, {
    channel: options.channel,
  });
  emit(io, ctx.json, report, renderCompatibility);
  if (options.failOnIncompatible && report.devices.refused > 0) {
    throw new CliError(
      `bundle ${version} would be refused to ${report.devices.refused} of ${report.devices.total} devices (--fail-on-incompatible)`,
      2,
    );
  }
}

export async function bundleCleanup(
  io: CliIo,
  options: { app?: string; keep?: string; olderThan?: string; dryRun?: boolean },
  command: Command,
): Promise<void> {
  const ctx = contextOf(io, command);
  const appId = await resolveAppId(io.cwd, options.app);
  if (options.keep !== undefined && !/^[1-9]\d*$/.test(options.keep))
    throw new CliError(`--keep must be a whole number of bundles from 1, not "${options.keep}"`);
  const report = await (
    await ctx.api()
  ).post<CleanupJson>(`/apps/${enc(appId)}/bundles/cleanup`, {
    ...(options.keep !== undefined && { keep: Number(options.keep) }),
    ...(options.olderThan !== undefined && { older_than_days: await olderThanDays(options.olderThan) }),
    ...(options.dryRun && { dry_run: true }),
  });
  emit(io, ctx.json, report, renderCleanup);
}

export async function bundleDelete(
  io: CliIo,
  version: string,
  options: { app?: string },
  command: Command,
): Promise<void> {
  const ctx = contextOf(io, command);
  const appId = await resolveAppId(io.cwd, options.app);
  const result = await (
    await ctx.api()
  ).delete<{ channels: Record<string, string | null> }>(`/apps/${enc(appId)}/bundles/${enc(version)}`);
  emit(io, ctx.json, result, (v: { channels: Record<string, string | null> }) =>
    [
      `Deleted ${appId} ${version}`,
      ...Object.entries(v.channels).map(([name, to]) => `Channel "${name}" now serves ${to ?? 'no bundle'}`),
    ].join('\n'),
  );
}
