import { describe, expect, it } from 'vitest';
import { OPEN_CHANNEL, decideUpdate, type BundleFacts, type ChannelFacts } from './decision.js';
import {
  binaryKey,
  binaryLabel,
  canonicalNativeLayer,
  findBinary,
  nativeGateRefusal,
  nativeLayerText,
  nativeMismatches,
  type NativeBinaryFacts,
  type NativeLayer,
} from './native-layer.js';

const layer = (
  packages: Record<string, string | [string, ...('android' | 'ios')[]]>,
  capacitor: Partial<NativeLayer['capacitor']> = {},
): NativeLayer => ({
  capacitor: { core: '6.1.0', android: '6.1.0', ios: '6.1.0', ...capacitor },
  packages: Object.entries(packages).map(([name, spec]) =>
    typeof spec === 'string'
      ? { name, version: spec, platforms: ['android', 'ios'] }
      : { name, version: spec[0], platforms: spec.slice(1) as ('android' | 'ios')[] },
  ),
});

const binary = (native: NativeLayer, label = 'android 1.0.0'): NativeBinaryFacts => ({
  label,
  layer: native,
  fingerprint: nativeLayerText(native),
  verdicts: new Map(),
});

describe('canonicalNativeLayer and nativeLayerText', () => {
  it('gives the same text whatever the order packages and platforms were read in', () => {
    const a = layer({ '@capacitor/camera': '6.0.0', 'capacitor-x': ['1.0.0', 'ios', 'android'] });
    const b = layer({ 'capacitor-x': ['1.0.0', 'android', 'ios'], '@capacitor/camera': '6.0.0' });
    expect(nativeLayerText(a)).toBe(nativeLayerText(b));
    expect(canonicalNativeLayer(b).packages.map((pkg) => pkg.name)).toEqual([
      '@capacitor/camera',
      'capacitor-x',
    ]);
  });

  it('differs when a version differs, and trims what it keeps', () => {
    expect(nativeLayerText(layer({ a: '1.0.0' }))).not.toBe(nativeLayerText(layer({ a: '1.0.1' })));
    expect(canonicalNativeLayer(layer({ a: ' 1.0.0 ' }, { ios: ' ' })).capacitor.ios).toBeNull();
    expect(canonicalNativeLayer(layer({ a: ' 1.0.0 ' })).packages[0]!.version).toBe('1.0.0');
  });
});

describe('nativeMismatches', () => {
  it('is empty for the same layer, and for a binary with more plugins than the bundle uses', () => {
    const bundle = layer({ a: '1.0.0' });
    expect(nativeMismatches(bundle, bundle, 'android')).toEqual([]);
    expect(nativeMismatches(bundle, layer({ a: '1.0.0', b: '2.0.0' }), 'android')).toEqual([]);
  });

  it('names each package the binary lacks or has at another version', () => {
    const problems = nativeMismatches(
      layer({ a: '1.1.0', b: '2.0.0', c: '3.0.0' }),
      layer({ a: '1.0.0', c: '3.0.0' }),
      'android',
    );
    expect(problems).toEqual(['a 1.1.0 (the binary has 1.0.0)', 'b 2.0.0 (missing from the binary)']);
  });

  it("compares only the device's platform: a plugin with iOS code alone does not matter to Android", () => {
    const bundle = layer({ 'ios-only': ['1.0.0', 'ios'] });
    expect(nativeMismatches(bundle, layer({}), 'android')).toEqual([]);
    expect(nativeMismatches(bundle, layer({}), 'ios')).toEqual(['ios-only 1.0.0 (missing from the binary)']);
  });

  it("compares Capacitor's platform by major.minor only", () => {
    expect(
      nativeMismatches(layer({}, { android: '6.1.2' }), layer({}, { android: '6.1.0' }), 'android'),
    ).toEqual([]);
    expect(
      nativeMismatches(layer({}, { android: '6.2.0' }), layer({}, { android: '6.1.0' }), 'android'),
    ).toEqual(['@capacitor/android 6.2.0 (the binary has 6.1.0)']);
    // The iOS platform's version does not concern an Android device, nor an unknown one anything.
    expect(nativeMismatches(layer({}, { ios: '7.0.0' }), layer({}), 'android')).toEqual([]);
    expect(nativeMismatches(layer({}, { android: null }), layer({}), 'android')).toEqual([]);
  });
});

describe('nativeGateRefusal', () => {
  it('lets an unknown layer and an identical fingerprint through without comparing', () => {
    const native = layer({ a: '1.0.0' });
    const registered = binary(layer({}));
    expect(nativeGateRefusal({ version: '2.0.0', nativeLayer: null }, registered, 'android')).toBeNull();
    expect(
      nativeGateRefusal(
        { version: '2.0.0', nativeLayer: native, nativeFingerprint: nativeLayerText(native) },
        binary(native),
        'android',
      ),
    ).toBeNull();
    expect(registered.verdicts.size).toBe(0);
  });

  it('says which packages are missing, once per bundle layer and binary', () => {
    const native = layer({ '@capacitor/camera': '6.0.0' });
    const registered = binary(layer({}), 'android 1.0.0 (build 10)');
    const bundle = { version: '2.0.0', nativeLayer: native, nativeFingerprint: 'other' };
    const message = nativeGateRefusal(bundle, registered, 'android');
    expect(message).toBe(
      'Bundle 2.0.0 needs native code the android 1.0.0 (build 10) binary lacks: @capacitor/camera 6.0.0 (missing from the binary)',
    );
    expect(registered.verdicts.get(native)).toBe(message);
    // The memo answers from now on, even were the binary's layer to change under it.
    registered.layer = native;
    expect(nativeGateRefusal(bundle, registered, 'android')).toBe(message);
  });
});

describe('findBinary', () => {
  const exact = binary(layer({}), 'exact');
  const anyCode = binary(layer({}), 'any');
  const binaries = new Map([
    [binaryKey('android', '1.0.0', '10'), exact],
    [binaryKey('android', '1.0.0', ''), anyCode],
    [binaryKey('ios', '2.0.0', '7'), exact],
  ]);

  it('prefers the build number, then the version registered without one', () => {
    expect(findBinary(binaries, 'android', '1.0.0', '10')).toBe(exact);
    expect(findBinary(binaries, 'android', '1.0.0', '11')).toBe(anyCode);
    expect(findBinary(binaries, 'android', '1.0.0', '')).toBe(anyCode);
  });

  it('finds nothing for another version, platform or build', () => {
    expect(findBinary(binaries, 'android', '1.0.1', '10')).toBeUndefined();
    expect(findBinary(binaries, 'ios', '2.0.0', '8')).toBeUndefined();
    expect(findBinary(binaries, 'ios', '2.0.0', '')).toBeUndefined();
    expect(findBinary(new Map(), 'ios', '2.0.0', '7')).toBeUndefined();
  });

  it('labels binaries with their build number when known', () => {
    expect(binaryLabel('ios', '2.0.0', '7')).toBe('ios 2.0.0 (build 7)');
    expect(binaryLabel('ios', '2.0.0', '')).toBe('ios 2.0.0');
  });
});

describe('decideUpdate with the native gate', () => {
  type Bundle = BundleFacts & { version: string };
  const withCamera = layer({ '@capacitor/camera': '6.0.0' });
  const bundle: Bundle = {
    version: '2.0.0',
    minNativeVersion: null,
    nativeLayer: withCamera,
    nativeFingerprint: nativeLayerText(withCamera),
  };
  const channelsWith = (facts: Partial<ChannelFacts<Bundle>> = {}) =>
    new Map([
      [
        'production',
        {
          name: 'production',
          isDefault: true,
          allowSelfAssign: false,
          bundle,
          ...OPEN_CHANNEL,
          ...facts,
        } as ChannelFacts<Bundle>,
      ],
    ]);
  const device = {
    deviceId: 'd1',
    platform: 'android',
    isEmulator: false,
    isProd: true,
    currentVersion: '1.0.0',
    nativeVersion: '1.0.0',
    override: null,
    selfAssigned: null,
    requested: '',
  };

  it('serves a device whose registered binary has what the bundle needs', () => {
    const decision = decideUpdate(channelsWith(), { ...device, binary: binary(withCamera) });
    expect(decision.outcome).toBe('update');
  });

  it('blocks a device whose registered binary lacks a plugin, naming it', () => {
    const decision = decideUpdate(channelsWith(), { ...device, binary: binary(layer({})) });
    expect(decision).toMatchObject({
      outcome: 'blocked',
      error: 'native_incompatible',
      bundle,
    });
    expect(decision.outcome === 'blocked' && decision.message).toContain('@capacitor/camera 6.0.0');
  });

  it('serves an unregistered binary by default, and refuses it when the channel says so', () => {
    expect(decideUpdate(channelsWith(), device).outcome).toBe('update');
    expect(decideUpdate(channelsWith({ unregisteredBinaries: 'refuse' }), device)).toMatchObject({
      outcome: 'blocked',
      error: 'native_build_unregistered',
    });
  });

  it('serves a bundle whose native layer is unknown, whatever the binary and the channel', () => {
    const unknown = { version: '2.0.0', minNativeVersion: null, nativeLayer: null };
    const channels = channelsWith({ bundle: unknown, unregisteredBinaries: 'refuse' });
    expect(decideUpdate(channels, device).outcome).toBe('update');
    expect(decideUpdate(channels, { ...device, binary: binary(layer({})) }).outcome).toBe('update');
  });

  it('leaves devices already on the bundle alone', () => {
    const decision = decideUpdate(channelsWith(), {
      ...device,
      currentVersion: '2.0.0',
      binary: binary(layer({})),
    });
    expect(decision.outcome).toBe('up_to_date');
  });
});
