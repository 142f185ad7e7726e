import { decideUpdate, type UpdateDecision } from '../domain/decision.js';
import { findBinary, nativeGateRefusal } from '../domain/native-layer.js';
import { currentBundleVersion } from '../domain/plugin.js';
import { errors } from '../errors.js';
import type { DeviceActivity } from './device-activity.js';
import type { DeviceInfo } from './device-info.js';
import { checkEvent } from './live-event-of.js';
import type { LiveWatch } from './live-watch.js';
import { assignmentOf, type AppRelease, type LiveBundle, type ReleaseCache } from './release-cache.js';

/** The update check: resolve the device's channel and release from the cache, record the device. */
export class UpdateService {
  constructor(
    private readonly cache: ReleaseCache,
    private readonly activity: DeviceActivity,
    private readonly live?: LiveWatch,
  ) {}

  async check(info: DeviceInfo): Promise<UpdateDecision<LiveBundle>> {
    return this.decide(info, await this.cache.get(info.app_id));
  }

  /**
   * The same without waiting, when the app's release is in the cache (nearly every check);
   * undefined when it must be loaded first (call `check`).
   */
  checkNow(info: DeviceInfo): UpdateDecision<LiveBundle> | undefined {
    const release = this.cache.peek(info.app_id);
    return release === undefined ? undefined : this.decide(info, release);
  }

  private decide(info: DeviceInfo, release: AppRelease | null): UpdateDecision<LiveBundle> {
    if (!release) throw errors.appNotFound({ appId: info.app_id });
    // Properties named one by one: on the hot path, an object spread here cost 10 µs a check (V8 in
    // Node 20 builds the object property by property in its slow path), a third of the whole check.
    const assignment = assignmentOf(release, info.device_id);
    const decision = decideUpdate(release.channels, {
      override: assignment.override,
      selfAssigned: assignment.selfAssigned,
      deviceId: info.device_id,
      platform: info.platform,
      isEmulator: info.is_emulator,
      isProd: info.is_prod,
      keyId: info.key_id,
      heldVersions: release.holds.get(info.device_id),
      // A map lookup (none at all for an app without registered binaries).
      binary: findBinary(release.binaries, info.platform, info.version_build, info.version_code),
      currentVersion: currentBundleVersion(info.version_name, info.version_build),
      nativeVersion: info.version_build,
      requested: info.defaultChannel,
    });
    // Only for devices whose native build lacks what the bundle needs: where to get one that runs it
    // (docs/protocol.md). From the release this decision was made with: the cache may have dropped it
    // by the time the answer is written.
    if (decision.outcome === 'blocked' && decision.error === 'native_incompatible' && decision.bundle) {
      const link = storeLinkOf(release, info.platform, decision.bundle);
      if (link !== undefined) decision.link = link;
    }
    this.activity.recordDevice(info, 'channel' in decision ? decision.channel : '');
    // A map lookup for a device nobody watches (docs/architecture.md, "The hot path").
    if (this.live?.watching(info.app_id, info.device_id))
      this.live.publish(checkEvent(info, decision, release));
    return decision;
  }

  /**
   * The plain `/check` of home-made clients: no device identity, just the channel asked for (or the
   * default one) and the version the client runs.
   */
  async checkAnonymous(request: {
    appId: string;
    channel: string;
    version: string;
    nativeVersion: string;
    deviceId: string;
    platform: string;
  }): Promise<UpdateDecision<LiveBundle>> {
    const release = await this.cache.get(request.appId);
    if (!release) throw errors.appNotFound({ appId: request.appId });
    return decideUpdate(release.channels, {
      binary: findBinary(release.binaries, request.platform, request.nativeVersion, ''),
      deviceId: request.deviceId,
      platform: request.platform,
      isEmulator: false,
      isProd: true,
      currentVersion: request.version,
      nativeVersion: request.nativeVersion,
      override: null,
      selfAssigned: null,
      requested: request.channel,
    });
  }
}

/**
 * The store link of the newest registered binary of the platform that has what the bundle needs
 * (store links are kept newest first); undefined when none is known.
 */
function storeLinkOf(release: AppRelease, platform: string, bundle: LiveBundle): string | undefined {
  for (const candidate of release.storeLinks) {
    if (candidate.platform === platform && nativeGateRefusal(bundle, candidate.binary, platform) === null) {
      return candidate.url;
    }
  }
  return undefined;
}
