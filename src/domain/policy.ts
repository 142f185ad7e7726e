import semver from 'semver';
import { parseNativeVersion } from './version.js';

/** Who a channel serves: platforms ('' or empty list = all), emulators, development and store builds. */
export interface Targeting {
  platforms: string[];
  allowEmulator: boolean;
  allowDev: boolean;
  allowProd: boolean;
}

export interface DeviceKind {
  platform: string;
  isEmulator: boolean;
  isProd: boolean;
}

/**
 * Why a channel does not serve this device, as the error code Capgo's backend uses for the same
 * rule (the plugin treats them all as kind "blocked"), or null when it does.
 */
export function targetingRefusal(targeting: Targeting, device: DeviceKind): string | null {
  if (targeting.platforms.length > 0 && !targeting.platforms.includes(device.platform)) {
    return `disabled_platform_${device.platform || 'unknown'}`;
  }
  if (device.isEmulator && !targeting.allowEmulator) return 'disable_emulator';
  if (!device.isProd && !targeting.allowDev) return 'disable_dev_build';
  if (device.isProd && !targeting.allowProd) return 'disable_prod_build';
  return null;
}

/**
 * The plugin's "disable auto update" levels, compared against the device's native version:
 * 'major' keeps a device on its native major version, 'minor' on its major.minor, 'patch' on its
 * exact version (pre-release and build metadata may still change), 'under_native' refuses bundles
 * older than the native version; 'none' lets everything through.
 */
export const NATIVE_POLICIES = ['none', 'major', 'minor', 'patch', 'under_native'] as const;
export type NativePolicy = (typeof NATIVE_POLICIES)[number];

export function nativePolicyRefusal(
  policy: NativePolicy,
  nativeVersion: string,
  bundleVersion: string,
): string | null {
  if (policy === 'none') return null;
  const native = parseNativeVersion(nativeVersion);
  const bundle = parseNativeVersion(bundleVersion);
  // Versions that are not semver cannot be compared: refuse rather than guess, as Capgo does.
  if (!native || !bundle) return 'semver_error';
  switch (policy) {
    case 'under_native':
      return semver.lt(bundle, native) ? 'disable_auto_update_under_native' : null;
    case 'major':
      return bundle.major > native.major ? 'disable_auto_update_to_major' : null;
    case 'minor':
      return bundle.major !== native.major || bundle.minor > native.minor
        ? 'disable_auto_update_to_minor'
        : null;
    case 'patch':
      return bundle.major !== native.major || bundle.minor !== native.minor || bundle.patch > native.patch
        ? 'disable_auto_update_to_patch'
        : null;
  }
}

/** Whether going from the running bundle to `next` is a downgrade (only comparable semver counts). */
export function isDowngrade(current: string, next: string): boolean {
  const from = semver.parse(current);
  const to = semver.parse(next);
  return Boolean(from && to && semver.lt(to, from));
}
