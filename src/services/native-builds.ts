import { deleteUnusedBlobs } from './blob-deletion.js';
import fs from 'node:fs/promises';
import type { Readable } from 'node:stream';
import yauzl from 'yauzl';
import { errors } from '../errors.js';
import { isUniqueViolation, type Repos } from '../db/index.js';
import type { NativeBuildRow } from '../db/schema.js';
import type { NativeBuildFilter } from '../db/native-builds.js';
import { now } from '../db/time.js';
import type { BlobStore } from '../storage/blob-store.js';
import type { NativeLayer } from '../domain/native-layer.js';
import { recordBinary } from './native-gate.js';
import type { ReleaseCache } from './release-cache.js';
import { requireApp } from './require.js';

export const NATIVE_PLATFORMS = ['android', 'ios'] as const;
type NativePlatform = (typeof NATIVE_PLATFORMS)[number];
type NativeFileKind = NativeBuildRow['file_kind'];

export interface NativeUploadInput {
  platform: NativePlatform;
  version: string;
  channel: string;
  versionCode?: string;
  notes?: string;
  /** sha256 the client computed; the upload fails unless the bytes match it. */
  sha256?: string;
  /** The native layer it was built with: registers the binary for the native compatibility gate. */
  nativeLayer?: NativeLayer;
}

/** Entries listed at most when looking for the manifest or the Payload folder. */
const MAX_LISTED_ENTRIES = 500_000;
/** How long the latest build per channel and platform is remembered for update-check hints. */
const LATEST_TTL_MS = 10_000;

/**
 * Native test builds (APK, AAB, IPA) for testers: streamed into the blob store, checked to be the
 * kind of zip the platform uses, and listed per named native channel.
 */
export class NativeBuildService {
  private readonly latestCache = new Map<
    string,
    { expires: number; value: Promise<NativeBuildRow | null> }
  >();

  constructor(
    private readonly repos: Repos,
    private readonly store: BlobStore,
    readonly maxUploadBytes: number,
    private readonly cache?: ReleaseCache,
  ) {}

  async list(appId: string, filter: NativeBuildFilter): Promise<NativeBuildRow[]> {
    await requireApp(this.repos, appId);
    return this.repos.nativeBuilds.list(appId, filter);
  }

  /** The newest build of a channel and platform, or null. */
  async latest(appId: string, channel: string, platform: string): Promise<NativeBuildRow | null> {
    return (await this.repos.nativeBuilds.latest(appId, channel, platform)) ?? null;
  }

  /**
   * The same, remembered for a few seconds: asked by update checks of devices whose native build is
   * too old, which may be many at once after a release.
   */
  latestCached(appId: string, channel: string, platform: string): Promise<NativeBuildRow | null> {
    const key = `${appId}\n${channel}\n${platform}`;
    const hit = this.latestCache.get(key);
    if (hit && hit.expires > Date.now()) return hit.value;
    if (this.latestCache.size >= 10_000) this.latestCache.clear();
    const value = this.latest(appId, channel, platform).catch(() => null);
    this.latestCache.set(key, { expires: Date.now() + LATEST_TTL_MS, value });
    return value;
  }

  async upload(
    appId: string,
    body: Readable,
    input: NativeUploadInput,
    actor: string,
  ): Promise<NativeBuildRow> {
    await requireApp(this.repos, appId);
    if (await this.repos.nativeBuilds.find(appId, input.platform, input.version)) {
      throw versionExists(appId, input.platform, input.version);
    }
    const staged = await this.store.stage(body, {
      maxBytes: this.maxUploadBytes,
      expectedSha256: input.sha256,
    });
    let fileKind: NativeFileKind;
    try {
      fileKind = await nativeFileKind(staged.file, input.platform);
      await this.store.commit(staged);
      await this.store.persist?.([staged.sha256]);
    } catch (error) {
      await this.store.discard(staged);
      throw error;
    }
    let build: NativeBuildRow;
    try {
      build = await this.repos.transaction(async (repos) => {
        const build = await repos.nativeBuilds.insert({
          app_id: appId,
          platform: input.platform,
          version: input.version,
          version_code: input.versionCode ?? null,
          channel: input.channel,
          sha256: staged.sha256,
          size: staged.size,
          file_kind: fileKind,
          notes: input.notes ?? null,
          created_at: now(),
          created_by: actor,
        });
        await repos.audit.record({
          actor,
          action: 'native.upload',
          appId,
          target: `${input.platform} ${input.version}`,
          detail: { channel: input.channel, sha256: staged.sha256, size: staged.size, file_kind: fileKind },
        });
        if (input.nativeLayer) {
          const binary = {
            platform: input.platform,
            version: input.version,
            versionCode: input.versionCode,
            layer: input.nativeLayer,
          };
          await recordBinary(repos, appId, binary, actor, 'upload');
        }
        return build;
      });
    } catch (error) {
      await this.deleteBlobIfUnused(staged.sha256);
      if (isUniqueViolation(error)) throw versionExists(appId, input.platform, input.version);
      throw error;
    }
    this.latestCache.clear();
    if (input.nativeLayer) this.cache?.invalidate(appId);
    return build;
  }

  async delete(appId: string, platform: string, version: string, actor: string): Promise<void> {
    const build = await this.repos.transaction(async (repos) => {
      const build = await repos.nativeBuilds.find(appId, platform, version);
      if (!build) {
        throw errors.nativeBuildNotFound({ appId, build: `${platform} build "${version}"` });
      }
      await repos.nativeBuilds.delete(build.id);
      await repos.audit.record({
        actor,
        action: 'native.delete',
        appId,
        target: `${platform} ${version}`,
        detail: { channel: build.channel, sha256: build.sha256 },
      });
      return build;
    });
    this.latestCache.clear();
    await this.deleteBlobIfUnused(build.sha256);
  }

  private async deleteBlobIfUnused(sha256: string): Promise<void> {
    await deleteUnusedBlobs(this.repos, this.store, [sha256]);
  }
}

const versionExists = (appId: string, platform: string, version: string) =>
  errors.versionExists({ appId, what: `a ${platform} build`, version });

/**
 * What kind of native build a file is, refused unless it fits the platform: APK, AAB and IPA are all
 * zips ("PK" first); an APK holds AndroidManifest.xml at its root, an AAB base/manifest/AndroidManifest.xml,
 * an IPA a Payload/ folder. Reads only the zip's central directory.
 */
async function nativeFileKind(file: string, platform: NativePlatform): Promise<NativeFileKind> {
  const handle = await fs.open(file, 'r');
  const head = Buffer.alloc(2);
  try {
    await handle.read(head, 0, 2, 0);
  } finally {
    await handle.close();
  }
  const notZip = errors.invalidNativeBuild({
    expected: platform === 'ios' ? 'an IPA' : 'an APK or AAB',
    problem: 'it is not a zip',
  });
  if (head.toString('latin1') !== 'PK') throw notZip;
  const names = await listEntries(file).catch(() => {
    throw notZip;
  });
  if (platform === 'ios') {
    if (names.some((name) => name.startsWith('Payload/'))) return 'ipa';
    throw errors.invalidNativeBuild({ expected: 'an IPA', problem: 'it has no Payload/ folder' });
  }
  if (names.includes('AndroidManifest.xml')) return 'apk';
  if (names.includes('base/manifest/AndroidManifest.xml')) return 'aab';
  throw errors.invalidNativeBuild({
    expected: 'an APK or AAB',
    problem: 'it has no AndroidManifest.xml (nor base/manifest/AndroidManifest.xml)',
  });
}

function listEntries(file: string): Promise<string[]> {
  return new Promise((resolve, reject) => {
    yauzl.open(file, { lazyEntries: true, autoClose: false, strictFileNames: false }, (error, zip) => {
      if (error || !zip) return reject(error ?? new Error('unreadable zip'));
      const names: string[] = [];
      const done = (result: Error | null) => {
        zip.close();
        if (result) reject(result);
        else resolve(names);
      };
      zip.on('error', (problem: Error) => done(problem));
      zip.on('end', () => done(null));
      zip.on('entry', (entry: yauzl.Entry) => {
        names.push(entry.fileName);
        if (names.length > MAX_LISTED_ENTRIES) return done(new Error('too many entries'));
        zip.readEntry();
      });
      zip.readEntry();
    });
  });
}
