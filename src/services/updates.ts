import { decideUpdate, type UpdateDecision } from '../domain/decision.js';
import { currentBundleVersion } from '../domain/plugin.js';
import { errors } from '../errors.js';
import type { DeviceActivity } from './device-activity.js';
import type { DeviceInfo } from './device-info.js';
import { assignmentOf, type LiveBundle, type ReleaseCache } from './release-cache.js';

/** The update check: resolve the device's channel and release from the cache, record the device. */
export class UpdateService {
  constructor(
    private readonly cache: ReleaseCache,
    private readonly activity: DeviceActivity,
  ) {}

  async check(info: DeviceInfo): Promise<UpdateDecision<LiveBundle>> {
    const release = await this.cache.get(info.app_id);
    if (!release) throw errors.appNotFound({ appId: info.app_id });
    const decision = decideUpdate(release.channels, {
      ...assignmentOf(release, info.device_id),
      deviceId: info.device_id,
      platform: info.platform,
      isEmulator: info.is_emulator,
      isProd: info.is_prod,
      keyId: info.key_id,
      heldVersions: release.holds.get(info.device_id),
      currentVersion: currentBundleVersion(info.version_name, info.version_build),
      nativeVersion: info.version_build,
      requested: info.defaultChannel,
    });
    this.activity.recordDevice(info, 'channel' in decision ? decision.channel : '');
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
