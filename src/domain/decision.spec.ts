import { describe, expect, it } from 'vitest';
import {
  OPEN_CHANNEL,
  decideUpdate,
  resolveChannel,
  type ChannelFacts,
  type DeviceFacts,
} from './decision.js';

type Bundle = { version: string; minNativeVersion: string | null };

function channels(...list: Array<Partial<ChannelFacts<Bundle>> & { name: string }>) {
  return new Map(
    list.map((channel) => [
      channel.name,
      {
        isDefault: false,
        allowSelfAssign: false,
        bundle: null,
        ...OPEN_CHANNEL,
        ...channel,
      } as ChannelFacts<Bundle>,
    ]),
  );
}

const device = (overrides: Partial<DeviceFacts> = {}): DeviceFacts => ({
  deviceId: 'device-1',
  platform: 'android',
  isEmulator: false,
  isProd: true,
  currentVersion: '1.0.0',
  nativeVersion: '1.0.0',
  override: null,
  selfAssigned: null,
  requested: '',
  ...overrides,
});

const v = (version: string, minNativeVersion: string | null = null): Bundle => ({
  version,
  minNativeVersion,
});

describe('resolveChannel', () => {
  const all = channels(
    { name: 'production', isDefault: true },
    { name: 'beta', allowSelfAssign: true },
    { name: 'internal' },
  );

  it('uses the default channel when the device asks for nothing', () => {
    expect(resolveChannel(all, device())?.channel.name).toBe('production');
    expect(resolveChannel(all, device())?.source).toBe('default');
  });

  it('honours an admin override, even to a channel devices may not join', () => {
    const resolved = resolveChannel(
      all,
      device({ override: 'internal', requested: 'beta', selfAssigned: 'beta' }),
    );
    expect(resolved).toMatchObject({ channel: { name: 'internal' }, source: 'override' });
  });

  it('prefers the server-side self-assignment over the requested channel', () => {
    const resolved = resolveChannel(all, device({ selfAssigned: 'beta', requested: 'production' }));
    expect(resolved).toMatchObject({ channel: { name: 'beta' }, source: 'self_assigned' });
  });

  it('gives the requested channel when it allows self-assignment', () => {
    expect(resolveChannel(all, device({ requested: 'beta' }))).toMatchObject({
      channel: { name: 'beta' },
      source: 'requested',
    });
  });

  it('falls back to the default channel when the requested one is private or missing', () => {
    expect(resolveChannel(all, device({ requested: 'internal' }))?.channel.name).toBe('production');
    expect(resolveChannel(all, device({ requested: 'nope' }))?.channel.name).toBe('production');
  });

  it('ignores an override that names a deleted channel', () => {
    expect(resolveChannel(all, device({ override: 'gone', requested: 'beta' }))?.channel.name).toBe('beta');
  });

  it('finds nothing when the app has no default channel and the device asks for none', () => {
    expect(resolveChannel(channels({ name: 'beta', allowSelfAssign: true }), device())).toBeNull();
  });
});

describe('decideUpdate', () => {
  it('offers the live bundle when it differs from what the device runs', () => {
    const decision = decideUpdate(
      channels({ name: 'production', isDefault: true, bundle: v('1.0.1') }),
      device(),
    );
    expect(decision).toMatchObject({
      outcome: 'update',
      bundle: { version: '1.0.1' },
      channel: 'production',
    });
  });

  it('answers up to date when the device runs the live bundle', () => {
    const decision = decideUpdate(
      channels({ name: 'production', isDefault: true, bundle: v('1.0.1') }),
      device({ currentVersion: '1.0.1' }),
    );
    expect(decision).toMatchObject({ outcome: 'up_to_date', error: 'no_new_version_available' });
  });

  it('answers up to date when the channel has no live bundle', () => {
    const decision = decideUpdate(channels({ name: 'production', isDefault: true }), device());
    expect(decision.outcome).toBe('up_to_date');
  });

  it('serves an older live bundle too: that is how a rollback reaches devices', () => {
    const decision = decideUpdate(
      channels({ name: 'production', isDefault: true, bundle: v('1.0.0') }),
      device({ currentVersion: '1.0.5' }),
    );
    expect(decision).toMatchObject({ outcome: 'update', bundle: { version: '1.0.0' } });
  });

  it('blocks a bundle whose minimum native version the device does not meet', () => {
    const all = channels({ name: 'production', isDefault: true, bundle: v('2.0.0', '2.0.0') });
    expect(decideUpdate(all, device({ nativeVersion: '1.9.9' }))).toMatchObject({
      outcome: 'blocked',
      error: 'native_version_too_old',
    });
    expect(decideUpdate(all, device({ nativeVersion: '2.0' })).outcome).toBe('update');
    expect(decideUpdate(all, device({ nativeVersion: '' })).outcome).toBe('blocked');
  });

  it('reports a failure when no channel applies', () => {
    expect(decideUpdate(new Map(), device())).toMatchObject({ outcome: 'failed', error: 'no_channel' });
  });

  it('serves each device the bundle of its own channel', () => {
    const all = channels(
      { name: 'production', isDefault: true, bundle: v('1.0.1') },
      { name: 'beta', allowSelfAssign: true, bundle: v('1.1.0-beta.1') },
    );
    expect(decideUpdate(all, device({ requested: 'beta' }))).toMatchObject({
      bundle: { version: '1.1.0-beta.1' },
    });
    expect(decideUpdate(all, device())).toMatchObject({ bundle: { version: '1.0.1' } });
  });
});

/** The error code of a refused decision. */
const errorOf = (decision: ReturnType<typeof decideUpdate>) =>
  'error' in decision ? decision.error : undefined;

describe('decideUpdate with channel rules', () => {
  const base = { name: 'production', isDefault: true, bundle: v('1.0.1') };

  it('serves a staged rollout to its share of devices and the channel bundle to the rest', () => {
    const all = channels({ ...base, rollout: { bundle: v('1.1.0'), percent: 30 } });
    const ids = Array.from({ length: 2000 }, (_, i) => `d${i}`);
    const versions = ids.map((deviceId) => {
      const decision = decideUpdate(all, device({ deviceId, currentVersion: '0.9.0' }));
      return decision.outcome === 'update' ? decision.bundle.version : 'none';
    });
    const share = versions.filter((version) => version === '1.1.0').length / ids.length;
    expect(share).toBeGreaterThan(0.27);
    expect(share).toBeLessThan(0.33);
    expect(versions.every((version) => version === '1.1.0' || version === '1.0.1')).toBe(true);
  });

  it('refuses devices the channel does not target, with the code the plugin treats as blocked', () => {
    const targeted = (targeting: Partial<ChannelFacts<Bundle>['targeting']>) =>
      channels({ ...base, targeting: { ...OPEN_CHANNEL.targeting, ...targeting } });
    expect(decideUpdate(targeted({ platforms: ['ios'] }), device())).toMatchObject({
      outcome: 'blocked',
      error: 'disabled_platform_android',
    });
    expect(decideUpdate(targeted({ platforms: ['ios', 'android'] }), device()).outcome).toBe('update');
    expect(errorOf(decideUpdate(targeted({ allowEmulator: false }), device({ isEmulator: true })))).toBe(
      'disable_emulator',
    );
    expect(errorOf(decideUpdate(targeted({ allowDev: false }), device({ isProd: false })))).toBe(
      'disable_dev_build',
    );
    expect(errorOf(decideUpdate(targeted({ allowProd: false }), device()))).toBe('disable_prod_build');
  });

  it('applies the native-version policy', () => {
    const policy = (nativePolicy: ChannelFacts<Bundle>['nativePolicy'], version: string) =>
      channels({ ...base, bundle: v(version), nativePolicy });
    const onNative = (nativeVersion: string) => device({ nativeVersion, currentVersion: '0.0.1' });
    expect(errorOf(decideUpdate(policy('major', '2.0.0'), onNative('1.5.0')))).toBe(
      'disable_auto_update_to_major',
    );
    expect(decideUpdate(policy('major', '1.9.0'), onNative('1.5.0')).outcome).toBe('update');
    expect(errorOf(decideUpdate(policy('minor', '1.6.0'), onNative('1.5.0')))).toBe(
      'disable_auto_update_to_minor',
    );
    expect(decideUpdate(policy('minor', '1.5.9'), onNative('1.5.0')).outcome).toBe('update');
    expect(errorOf(decideUpdate(policy('patch', '1.5.1'), onNative('1.5.0')))).toBe(
      'disable_auto_update_to_patch',
    );
    expect(decideUpdate(policy('patch', '1.5.0-hotfix.1'), onNative('1.5.0')).outcome).toBe('update');
    expect(errorOf(decideUpdate(policy('under_native', '1.4.0'), onNative('1.5.0')))).toBe(
      'disable_auto_update_under_native',
    );
    expect(decideUpdate(policy('under_native', '1.5.0'), onNative('1.5.0')).outcome).toBe('update');
  });

  it('refuses downgrades only where the channel forbids them', () => {
    const rolledBack = channels({ ...base, bundle: v('1.0.0') });
    expect(decideUpdate(rolledBack, device({ currentVersion: '1.1.0' })).outcome).toBe('update');
    const strict = channels({ ...base, bundle: v('1.0.0'), allowDowngrade: false });
    expect(errorOf(decideUpdate(strict, device({ currentVersion: '1.1.0' })))).toBe('downgrade_not_allowed');
    expect(decideUpdate(strict, device({ currentVersion: '0.9.0' })).outcome).toBe('update');
  });
});
