import semver from 'semver';

/**
 * A project's native layer: what a web bundle expects of the binary it runs in, and what a binary
 * was built with. The Capacitor core and platform versions, and every installed package with native
 * code (found as Capacitor's CLI finds native plugins), with the platforms it has code for.
 */
export interface NativeLayer {
  capacitor: { core: string | null; android: string | null; ios: string | null };
  packages: NativePackage[];
}

interface NativePackage {
  name: string;
  version: string;
  /** The platforms the package has native code for (both when it does not say). */
  platforms: NativePlatform[];
}

export type NativePlatform = 'android' | 'ios';
const PLATFORMS: readonly NativePlatform[] = ['android', 'ios'];

/**
 * What the update decision knows of a registered binary (app, platform, native version, build number).
 * A binary is of one platform, and only devices of that platform find it (findBinary), so its verdicts
 * need no platform in their key.
 */
export interface NativeBinaryFacts {
  /** How messages name it, e.g. `android 1.4.0 (build 42)`. */
  label: string;
  layer: NativeLayer;
  fingerprint: string;
  /**
   * What each bundle's native layer lacks in this binary, kept once worked out (by the layer's
   * object, which lives as long as the release it was loaded with): a check costs a map lookup.
   */
  verdicts: Map<NativeLayer, string | null>;
}

/** A channel's rule for devices whose binary nobody registered: serve them (the default) or refuse. */
export const UNREGISTERED_BINARY_RULES = ['serve', 'refuse'] as const;
export type UnregisteredBinaryRule = (typeof UNREGISTERED_BINARY_RULES)[number];

/**
 * The layer in its one canonical form: packages sorted by name (one entry per name), platforms in
 * a fixed order, versions trimmed. Two projects with the same native code give the same form, in
 * whatever order their files were read.
 */
export function canonicalNativeLayer(layer: NativeLayer): NativeLayer {
  const byName = new Map<string, NativePackage>();
  for (const pkg of layer.packages) {
    const platforms = PLATFORMS.filter((platform) => pkg.platforms.includes(platform));
    byName.set(pkg.name, { name: pkg.name, version: pkg.version.trim(), platforms });
  }
  const trim = (value: string | null) => (value === null || value.trim() === '' ? null : value.trim());
  return {
    capacitor: {
      core: trim(layer.capacitor.core),
      android: trim(layer.capacitor.android),
      ios: trim(layer.capacitor.ios),
    },
    packages: [...byName.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)),
  };
}

/** The text the fingerprint is the sha256 of: the canonical form as JSON, keys in a fixed order. */
export function nativeLayerText(layer: NativeLayer): string {
  const canonical = canonicalNativeLayer(layer);
  return JSON.stringify({
    capacitor: {
      core: canonical.capacitor.core,
      android: canonical.capacitor.android,
      ios: canonical.capacitor.ios,
    },
    packages: canonical.packages.map((pkg) => ({
      name: pkg.name,
      version: pkg.version,
      platforms: pkg.platforms,
    })),
  });
}

/** `major.minor` of a version, or the version itself when it is not one semver can read. */
function majorMinor(version: string): string {
  const parsed = semver.coerce(version);
  return parsed ? `${parsed.major}.${parsed.minor}` : version;
}

/**
 * What a bundle needs on one platform that a binary lacks, one line per difference; empty when the
 * binary runs it. The bundle needs every package it was built with that has code for the platform,
 * at the same version, and the same major.minor of Capacitor's platform; what the binary has beyond
 * that (a plugin the bundle no longer uses) does no harm. A version either side does not know is
 * not compared.
 */
export function nativeMismatches(bundle: NativeLayer, binary: NativeLayer, platform: string): string[] {
  const problems: string[] = [];
  if (platform === 'android' || platform === 'ios') {
    const needed = bundle.capacitor[platform];
    const present = binary.capacitor[platform];
    if (needed && present && majorMinor(needed) !== majorMinor(present)) {
      problems.push(`@capacitor/${platform} ${needed} (the binary has ${present})`);
    }
  }
  const has = new Map<string, string>();
  for (const pkg of binary.packages) {
    if (hasCodeFor(pkg, platform)) has.set(pkg.name, pkg.version);
  }
  for (const pkg of bundle.packages) {
    if (!hasCodeFor(pkg, platform)) continue;
    const present = has.get(pkg.name);
    if (present === undefined) problems.push(`${pkg.name} ${pkg.version} (missing from the binary)`);
    else if (present !== pkg.version) problems.push(`${pkg.name} ${pkg.version} (the binary has ${present})`);
  }
  return problems;
}

function hasCodeFor(pkg: NativePackage, platform: string): boolean {
  return pkg.platforms.length === 0 || (pkg.platforms as string[]).includes(platform);
}

/**
 * Why a device's binary cannot run a bundle, or null when it can: null too when the bundle's native
 * layer is unknown (uploaded without one) or the same as the binary's. Worked out once per bundle
 * and binary (see NativeBinaryFacts.verdicts); every later check is a map lookup.
 */
export function nativeGateRefusal(
  bundle: { version: string; nativeLayer?: NativeLayer | null; nativeFingerprint?: string | null },
  binary: NativeBinaryFacts,
  platform: string,
): string | null {
  const layer = bundle.nativeLayer;
  if (!layer || bundle.nativeFingerprint === binary.fingerprint) return null;
  let verdict = binary.verdicts.get(layer);
  if (verdict === undefined) {
    const problems = nativeMismatches(layer, binary.layer, platform);
    verdict =
      problems.length === 0
        ? null
        : `Bundle ${bundle.version} needs native code the ${binary.label} binary lacks: ${problems.join('; ')}`;
    binary.verdicts.set(layer, verdict);
  }
  return verdict;
}

/** The key a registered binary is found under: platform, native version and build number ('' = any). */
export function binaryKey(platform: string, version: string, versionCode: string): string {
  return `${platform}\n${version}\n${versionCode}`;
}

/**
 * The registered binary a device runs: the one registered with its build number, else one
 * registered for its native version without a build number; undefined when none is.
 */
export function findBinary(
  binaries: ReadonlyMap<string, NativeBinaryFacts>,
  platform: string,
  version: string,
  versionCode: string,
): NativeBinaryFacts | undefined {
  if (binaries.size === 0) return undefined;
  return (
    (versionCode === '' ? undefined : binaries.get(binaryKey(platform, version, versionCode))) ??
    binaries.get(binaryKey(platform, version, ''))
  );
}

/** How messages name a binary. */
export function binaryLabel(platform: string, version: string, versionCode: string): string {
  return versionCode === '' ? `${platform} ${version}` : `${platform} ${version} (build ${versionCode})`;
}
