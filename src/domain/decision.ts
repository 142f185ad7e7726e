import {
  isDowngrade,
  nativePolicyRefusal,
  targetingRefusal,
  type NativePolicy,
  type Targeting,
} from './policy.js';
import {
  nativeGateRefusal,
  type NativeBinaryFacts,
  type NativeLayer,
  type UnregisteredBinaryRule,
} from './native-layer.js';
import { inRollout } from './rollout.js';
import { meetsMinimumNativeVersion } from './version.js';

/** What the decision needs to know of a bundle; callers pass their full rows through. */
export interface BundleFacts {
  version: string;
  minNativeVersion: string | null;
  /** Encrypted bundles carry a session key; only devices with the matching public key can open them. */
  encrypted?: boolean;
  /** Key id of the public key it was encrypted for, when known. */
  keyId?: string | null;
  /** The native layer the bundle was built against; null or absent when unknown (always served). */
  nativeLayer?: NativeLayer | null;
  nativeFingerprint?: string | null;
}

export interface ChannelFacts<B extends BundleFacts> {
  name: string;
  isDefault: boolean;
  allowSelfAssign: boolean;
  bundle: B | null;
  /** A staged rollout: `bundle` of it goes to `percent` % of the devices, the channel's bundle to the rest. */
  rollout: { bundle: B; percent: number } | null;
  targeting: Targeting;
  nativePolicy: NativePolicy;
  allowDowngrade: boolean;
  /** Devices on a binary nobody registered: served (the default) or refused. */
  unregisteredBinaries?: UnregisteredBinaryRule;
}

/** A channel with no rules: every device, every version (what a new channel starts as). */
export const OPEN_CHANNEL = {
  rollout: null,
  targeting: { platforms: [], allowEmulator: true, allowDev: true, allowProd: true },
  nativePolicy: 'none',
  allowDowngrade: true,
  unregisteredBinaries: 'serve',
} as const satisfies Partial<ChannelFacts<BundleFacts>>;

export interface DeviceFacts {
  deviceId: string;
  platform: string;
  isEmulator: boolean;
  isProd: boolean;
  /** The bundle the device runs, already normalised (see currentBundleVersion). */
  currentVersion: string;
  /** Native version name (version_build). */
  nativeVersion: string;
  /** Channel forced by an admin. */
  override: string | null;
  /** Channel the device assigned itself through the channel API (old plugins keep it on the server). */
  selfAssigned: string | null;
  /** The channel the device asks for (`defaultChannel`), "" when none. */
  requested: string;
  /** Sent by the plugin only when the app has a public key (8.41+: 20 characters; 8.0-8.40: 4). */
  keyId?: string;
  /** Versions this device failed to install: offering them again would loop (see services/holds). */
  heldVersions?: ReadonlySet<string>;
  /** The registered binary the device runs (see findBinary); absent when its binary is not registered. */
  binary?: NativeBinaryFacts;
}

/**
 * Why a device cannot open a bundle, or null. A device with a public key refuses plain bundles
 * (session_key_required), one without decrypts nothing and fails the checksum, and a device whose key
 * differs fails to open the session key: each would download, fail and retry forever, so the server
 * refuses up front, as Capgo does with key_id_mismatch. Old plugins send a 4-character key id: a
 * prefix match.
 */
function keyMismatch(bundle: BundleFacts, deviceKeyId: string | undefined): string | null {
  const deviceHasKey = Boolean(deviceKeyId);
  if (Boolean(bundle.encrypted) !== deviceHasKey) {
    return bundle.encrypted
      ? 'the bundle is encrypted but the app has no public key'
      : 'the app has a public key but the bundle is not encrypted';
  }
  if (
    bundle.encrypted &&
    bundle.keyId &&
    deviceKeyId &&
    !bundle.keyId.startsWith(deviceKeyId) &&
    !deviceKeyId.startsWith(bundle.keyId)
  ) {
    return `the bundle was encrypted for key ${bundle.keyId}, the app has ${deviceKeyId}`;
  }
  return null;
}

/**
 * The native compatibility gate: a device on a registered binary gets a bundle only when the binary
 * has the native code the bundle needs (native-layer.ts); a device on a binary nobody registered
 * follows the channel's rule. A bundle whose native layer is unknown passes.
 */
function nativeGate(
  channel: ChannelFacts<BundleFacts>,
  bundle: BundleFacts,
  device: DeviceFacts,
): { error: string; message: string } | null {
  if (!bundle.nativeLayer) return null;
  const binary = device.binary;
  if (binary) {
    const refusal = nativeGateRefusal(bundle, binary, device.platform);
    return refusal ? { error: 'native_incompatible', message: refusal } : null;
  }
  if (channel.unregisteredBinaries !== 'refuse') return null;
  return {
    error: 'native_build_unregistered',
    message: `Channel "${channel.name}" serves only registered binaries; ${device.platform} ${device.nativeVersion || '(unknown version)'} is not registered`,
  };
}

export type ChannelSource = 'override' | 'self_assigned' | 'requested' | 'default';

export interface ResolvedChannel<B extends BundleFacts> {
  channel: ChannelFacts<B>;
  source: ChannelSource;
}

/** A channel a device may pick for itself: the app's default one, or one that allows self-assignment. */
export function deviceMayJoin(channel: ChannelFacts<BundleFacts>): boolean {
  return channel.isDefault || channel.allowSelfAssign;
}

/**
 * The device's channel: an admin override, else its server-side self-assignment, else the channel it
 * asks for when it may join it, else the app's default channel. A name that matches no channel (one
 * deleted since) falls through to the next rule rather than stranding the device.
 */
export function resolveChannel<B extends BundleFacts>(
  channels: ReadonlyMap<string, ChannelFacts<B>>,
  device: Pick<DeviceFacts, 'override' | 'selfAssigned' | 'requested'>,
): ResolvedChannel<B> | null {
  const pick = (name: string | null) => (name ? channels.get(name) : undefined);
  const override = pick(device.override);
  if (override) return { channel: override, source: 'override' };
  const selfAssigned = pick(device.selfAssigned);
  if (selfAssigned && deviceMayJoin(selfAssigned)) return { channel: selfAssigned, source: 'self_assigned' };
  const requested = pick(device.requested);
  if (requested && deviceMayJoin(requested)) return { channel: requested, source: 'requested' };
  for (const channel of channels.values()) {
    if (channel.isDefault) return { channel, source: 'default' };
  }
  return null;
}

export type UpdateDecision<B extends BundleFacts> =
  | { outcome: 'update'; bundle: B; channel: string }
  | { outcome: 'up_to_date'; error: 'no_new_version_available'; message: string; channel: string }
  | {
      outcome: 'blocked';
      error: string;
      message: string;
      channel: string;
      bundle?: B;
      /** Where the device gets a binary that runs the bundle (a registered store link), when known. */
      link?: string;
    }
  | { outcome: 'failed'; error: 'no_channel'; message: string };

/** The bundle a channel serves this device: the rollout's for devices in its slice, else the channel's. */
function servedBundle<B extends BundleFacts>(channel: ChannelFacts<B>, deviceId: string): B | null {
  const rollout = channel.rollout;
  if (rollout && inRollout(deviceId, rollout.bundle.version, rollout.percent)) return rollout.bundle;
  return channel.bundle;
}

/**
 * The update decision for one device: the bundle its channel serves it (rollout included), when that
 * differs from what it runs and every rule of the channel lets it through: targeting (platform,
 * emulator, development or store build), the bundle's minimum native version, the channel's
 * native-version policy, and downgrades. The device compares names by string equality, so the server
 * alone decides; an older bundle is served (a rollback) unless the channel forbids downgrades.
 */
export function decideUpdate<B extends BundleFacts>(
  channels: ReadonlyMap<string, ChannelFacts<B>>,
  device: DeviceFacts,
): UpdateDecision<B> {
  const resolved = resolveChannel(channels, device);
  if (!resolved) {
    return {
      outcome: 'failed',
      error: 'no_channel',
      message: 'This app has no default channel for this device',
    };
  }
  const { channel } = resolved;
  const blocked = (error: string, message: string, bundle?: B): UpdateDecision<B> => ({
    outcome: 'blocked',
    error,
    message,
    channel: channel.name,
    ...(bundle && { bundle }),
  });
  const refusal = targetingRefusal(channel.targeting, device);
  if (refusal) return blocked(refusal, `Channel "${channel.name}" does not serve this device (${refusal})`);
  const bundle = servedBundle(channel, device.deviceId);
  if (!bundle || bundle.version === device.currentVersion) {
    return {
      outcome: 'up_to_date',
      error: 'no_new_version_available',
      message: 'No new version available',
      channel: channel.name,
    };
  }
  if (device.heldVersions?.has(bundle.version)) {
    return blocked(
      'update_failed_on_device',
      `This device failed to install ${bundle.version}; it gets the next release, or this one once an admin clears the mark`,
      bundle,
    );
  }
  if (!meetsMinimumNativeVersion(device.nativeVersion, bundle.minNativeVersion)) {
    return blocked(
      'native_version_too_old',
      `Bundle ${bundle.version} needs native version ${bundle.minNativeVersion} or newer; this device runs ${device.nativeVersion || 'an unknown version'}`,
      bundle,
    );
  }
  const policy = nativePolicyRefusal(channel.nativePolicy, device.nativeVersion, bundle.version);
  if (policy) {
    return blocked(
      policy,
      `Channel "${channel.name}" keeps native ${device.nativeVersion} off bundle ${bundle.version}`,
      bundle,
    );
  }
  const native = nativeGate(channel, bundle, device);
  if (native) return blocked(native.error, native.message, bundle);
  const mismatch = keyMismatch(bundle, device.keyId);
  if (mismatch)
    return blocked(
      'key_id_mismatch',
      `Bundle ${bundle.version} cannot be opened on this device: ${mismatch}`,
      bundle,
    );
  if (!channel.allowDowngrade && isDowngrade(device.currentVersion, bundle.version)) {
    return blocked(
      'downgrade_not_allowed',
      `Channel "${channel.name}" does not downgrade ${device.currentVersion} to ${bundle.version}`,
      bundle,
    );
  }
  return { outcome: 'update', bundle, channel: channel.name };
}
