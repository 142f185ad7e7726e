import { describe, expect, it } from 'vitest';
import { OPEN_CHANNEL, type ChannelFacts } from '../domain/decision.js';
import {
  binaryKey,
  nativeLayerText,
  type NativeBinaryFacts,
  type NativeLayer,
} from '../domain/native-layer.js';
import type { DeviceActivity } from './device-activity.js';
import type { DeviceInfo } from './device-info.js';
import type { AppRelease, LiveBundle, ReleaseCache } from './release-cache.js';
import { UpdateService } from './updates.js';

const layer = (packages: Record<string, string>): NativeLayer => ({
  capacitor: { core: '6.1.0', android: '6.1.0', ios: '6.1.0' },
  packages: Object.entries(packages).map(([name, version]) => ({
    name,
    version,
    platforms: ['android', 'ios'],
  })),
});
const binary = (native: NativeLayer, label: string): NativeBinaryFacts => ({
  label,
  layer: native,
  fingerprint: nativeLayerText(native),
  verdicts: new Map(),
});

const withCamera = layer({ '@capacitor/camera': '6.0.0' });
const oldBinary = binary(layer({}), 'android 1.0.0 (build 10)');
const newBinary = binary(withCamera, 'android 2.0.0 (build 20)');
const STORE = 'https://play.google.com/store/apps/details?id=com.example.gate';

/** An app whose production channel serves a bundle that needs the camera plugin the 1.0.0 binary lacks. */
function release(): AppRelease {
  const bundle = {
    version: '2.0.0',
    minNativeVersion: null,
    nativeLayer: withCamera,
    nativeFingerprint: nativeLayerText(withCamera),
    files: [],
  } as unknown as LiveBundle;
  const production: ChannelFacts<LiveBundle> = {
    name: 'production',
    isDefault: true,
    allowSelfAssign: false,
    bundle,
    ...OPEN_CHANNEL,
  };
  return {
    appId: 'com.example.gate',
    requireSignature: false,
    channels: new Map([['production', production]]),
    assignments: new Map(),
    holds: new Map(),
    binaries: new Map([
      [binaryKey('android', '1.0.0', '10'), oldBinary],
      [binaryKey('android', '2.0.0', '20'), newBinary],
    ]),
    // Newest first; the old binary's link would not run the bundle.
    storeLinks: [
      { platform: 'android', binary: newBinary, url: STORE },
      { platform: 'android', binary: oldBinary, url: 'https://old.example' },
    ],
  };
}

const device: DeviceInfo = {
  app_id: 'com.example.gate',
  device_id: 'aaaaaaaa-0000-4000-8000-000000000001',
  platform: 'android',
  version_name: 'builtin',
  version_build: '1.0.0',
  version_code: '10',
  version_os: '14',
  plugin_version: '6.0.0',
  custom_id: '',
  defaultChannel: '',
  is_emulator: false,
  is_prod: true,
};

const activity = { recordDevice: () => undefined } as unknown as DeviceActivity;

describe('UpdateService and the native gate', () => {
  it('sends a refused device to the store link of the newest binary that runs the bundle', async () => {
    const loaded = release();
    const cache = { get: async () => loaded, peek: () => loaded } as unknown as ReleaseCache;
    const decision = await new UpdateService(cache, activity).check(device);
    expect(decision).toMatchObject({ outcome: 'blocked', error: 'native_incompatible', link: STORE });
  });

  // A check that waited for the app's release to load answers after the cache may have dropped it
  // again (a change, a bundle's delta files becoming ready). The link must come from the release
  // the decision was made with: looked up in the cache afterwards, it was missing (seen in CI).
  it('keeps the link when the cache no longer holds the release the decision was made with', async () => {
    const loaded = release();
    const cache = { get: async () => loaded, peek: () => undefined } as unknown as ReleaseCache;
    const decision = await new UpdateService(cache, activity).check(device);
    expect(decision).toMatchObject({ outcome: 'blocked', error: 'native_incompatible', link: STORE });
  });

  it('gives no link when no registered binary of the platform runs the bundle', async () => {
    const loaded = {
      ...release(),
      storeLinks: [{ platform: 'android', binary: oldBinary, url: 'https://old.example' }],
    };
    const cache = { get: async () => loaded, peek: () => loaded } as unknown as ReleaseCache;
    const decision = await new UpdateService(cache, activity).check(device);
    expect(decision).toMatchObject({ outcome: 'blocked', error: 'native_incompatible' });
    expect(decision).not.toHaveProperty('link');
  });
});
