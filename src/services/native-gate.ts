import type { CompatibilityJson } from '../api-types.js';
import { sha256Hex } from '../crypto/hash.js';
import type { Repos } from '../db/index.js';
import type { NativeBinaryRow } from '../db/schema.js';
import { now } from '../db/time.js';
import {
  binaryKey,
  binaryLabel,
  canonicalNativeLayer,
  findBinary,
  nativeLayerText,
  nativeMismatches,
  type NativeBinaryFacts,
  type NativeLayer,
  type UnregisteredBinaryRule,
} from '../domain/native-layer.js';
import { errors } from '../errors.js';
import type { ReleaseCache } from './release-cache.js';
import { requireApp } from './require.js';

/** How far back the compatibility report counts devices. */
const REPORT_DAYS = 30;

export interface BinaryInput {
  platform: 'android' | 'ios';
  version: string;
  /** Absent: every build of the version. */
  versionCode?: string;
  layer: NativeLayer;
  storeUrl?: string;
}

/** The columns a native layer is stored as: its canonical JSON and the sha256 of that text. */
export function nativeLayerColumns(layer: NativeLayer | undefined): {
  native_layer: string | null;
  native_fingerprint: string | null;
} {
  if (!layer) return { native_layer: null, native_fingerprint: null };
  const text = nativeLayerText(layer);
  return { native_layer: text, native_fingerprint: sha256Hex(text) };
}

/** A stored binary as the update decision knows it. */
export function binaryFacts(row: NativeBinaryRow): NativeBinaryFacts {
  return {
    label: binaryLabel(row.platform, row.version, row.version_code),
    layer: JSON.parse(row.native_layer) as NativeLayer,
    fingerprint: row.native_fingerprint,
    verdicts: new Map(),
  };
}

/**
 * Records a binary's native layer (replacing an earlier registration of the same binary) with its
 * audit entry, in the caller's transaction. The caller invalidates the app's release.
 */
export async function recordBinary(
  repos: Repos,
  appId: string,
  input: BinaryInput,
  actor: string,
  source: 'register' | 'upload',
): Promise<{ binary: NativeBinaryRow; replaced: boolean }> {
  const columns = nativeLayerColumns(canonicalNativeLayer(input.layer));
  const result = await repos.nativeBinaries.upsert({
    app_id: appId,
    platform: input.platform,
    version: input.version,
    version_code: input.versionCode ?? '',
    native_layer: columns.native_layer!,
    native_fingerprint: columns.native_fingerprint!,
    store_url: input.storeUrl ?? null,
    source,
    created_at: now(),
    created_by: actor,
  });
  await repos.audit.record({
    actor,
    action: 'native.register',
    appId,
    target: binaryLabel(input.platform, input.version, input.versionCode ?? ''),
    detail: { fingerprint: columns.native_fingerprint, replaced: result.replaced, source },
  });
  return result;
}

/**
 * The native compatibility gate's admin side: registered binaries, and the report of what a bundle
 * would reach and refuse before it goes live. The decision itself is domain/native-layer.ts, made
 * per check from the release cache.
 */
export class NativeGateService {
  constructor(
    private readonly repos: Repos,
    private readonly cache: ReleaseCache,
  ) {}

  async register(
    appId: string,
    input: BinaryInput,
    actor: string,
  ): Promise<{ binary: NativeBinaryRow; replaced: boolean }> {
    await requireApp(this.repos, appId);
    const result = await this.repos.transaction((repos) =>
      recordBinary(repos, appId, input, actor, 'register'),
    );
    this.cache.invalidate(appId);
    return result;
  }

  async list(appId: string): Promise<NativeBinaryRow[]> {
    await requireApp(this.repos, appId);
    return this.repos.nativeBinaries.list(appId);
  }

  async delete(
    appId: string,
    platform: string,
    version: string,
    versionCode: string,
    actor: string,
  ): Promise<void> {
    await this.repos.transaction(async (repos) => {
      const binary = await repos.nativeBinaries.find(appId, platform, version, versionCode);
      if (!binary) {
        throw errors.nativeBinaryNotFound({ appId, binary: binaryLabel(platform, version, versionCode) });
      }
      await repos.nativeBinaries.delete(binary.id);
      await repos.audit.record({
        actor,
        action: 'native.unregister',
        appId,
        target: binaryLabel(platform, version, versionCode),
        detail: { fingerprint: binary.native_fingerprint },
      });
    });
    this.cache.invalidate(appId);
  }

  /**
   * A bundle against every registered binary of its app: per native package, its version and each
   * binary's; which binaries it is refused to and why; the devices seen on each binary in the last
   * 30 days (of one channel, when given), and how many the bundle would reach and refuse.
   */
  async compatibility(appId: string, version: string, channelName?: string): Promise<CompatibilityJson> {
    await requireApp(this.repos, appId);
    const bundle = await this.repos.bundles.find(appId, version);
    if (!bundle) throw errors.bundleNotFound({ appId, version });
    let rule: UnregisteredBinaryRule = 'serve';
    if (channelName !== undefined) {
      const channel = await this.repos.channels.find(appId, channelName);
      if (!channel) throw errors.channelNotFound({ appId, channel: channelName });
      rule = channel.unregistered_binaries as UnregisteredBinaryRule;
    }
    const layer = bundle.native_layer === null ? null : (JSON.parse(bundle.native_layer) as NativeLayer);
    const rows = (await this.repos.nativeBinaries.list(appId)).sort(
      (a, b) =>
        a.platform.localeCompare(b.platform) ||
        a.version.localeCompare(b.version, undefined, { numeric: true }) ||
        a.version_code.localeCompare(b.version_code, undefined, { numeric: true }),
    );
    const facts = rows.map(binaryFacts);
    const byKey = new Map<string, NativeBinaryFacts>();
    rows.forEach((row, index) =>
      byKey.set(binaryKey(row.platform, row.version, row.version_code), facts[index]!),
    );
    const since = new Date(Date.now() - REPORT_DAYS * 86_400_000).toISOString();
    const devicesOf = new Map<NativeBinaryFacts, number>();
    const unregistered: CompatibilityJson['unregistered'] = [];
    for (const group of await this.repos.devices.countByBinary(appId, since, channelName)) {
      const count = Number(group.devices);
      const binary = findBinary(byKey, group.platform, group.version_build, group.version_code);
      if (binary) devicesOf.set(binary, (devicesOf.get(binary) ?? 0) + count);
      else {
        unregistered.push({
          platform: group.platform,
          version: group.version_build,
          version_code: group.version_code,
          devices: count,
        });
      }
    }
    const binaries = rows.map((row, index) => {
      const problems =
        layer && bundle.native_fingerprint !== row.native_fingerprint
          ? nativeMismatches(layer, facts[index]!.layer, row.platform)
          : [];
      return {
        platform: row.platform,
        version: row.version,
        version_code: row.version_code === '' ? null : row.version_code,
        native_fingerprint: row.native_fingerprint,
        compatible: problems.length === 0,
        problems,
        devices: devicesOf.get(facts[index]!) ?? 0,
      };
    });
    const onUnregistered = unregistered.reduce((sum, group) => sum + group.devices, 0);
    const refusedUnregistered = layer && rule === 'refuse' ? onUnregistered : 0;
    const refusedRegistered = binaries.reduce((sum, b) => sum + (b.compatible ? 0 : b.devices), 0);
    const total = binaries.reduce((sum, b) => sum + b.devices, 0) + onUnregistered;
    const refused = refusedRegistered + refusedUnregistered;
    return {
      app_id: appId,
      version,
      channel: channelName ?? null,
      native_layer: layer,
      native_fingerprint: bundle.native_fingerprint,
      unregistered_binaries: rule,
      devices_since: since,
      binaries,
      unregistered,
      packages: packageRows(
        layer,
        facts.map((binary) => binary.layer),
      ),
      devices: { total, reached: total - refused, refused },
    };
  }
}

/** One row per native package (Capacitor's own first): the bundle's version, then each binary's. */
function packageRows(bundle: NativeLayer | null, binaries: NativeLayer[]): CompatibilityJson['packages'] {
  const versionIn = (layer: NativeLayer | null, name: string): string | null => {
    if (!layer) return null;
    if (name === '@capacitor/core') return layer.capacitor.core;
    if (name === '@capacitor/android') return layer.capacitor.android;
    if (name === '@capacitor/ios') return layer.capacitor.ios;
    return layer.packages.find((pkg) => pkg.name === name)?.version ?? null;
  };
  const names = new Set<string>();
  for (const layer of [bundle, ...binaries]) {
    for (const pkg of layer?.packages ?? []) names.add(pkg.name);
  }
  return ['@capacitor/core', '@capacitor/android', '@capacitor/ios', ...[...names].sort()].map((name) => ({
    name,
    bundle: versionIn(bundle, name),
    binaries: binaries.map((layer) => versionIn(layer, name)),
  }));
}
