import { errors } from '../errors.js';
import type { DeviceFilter } from '../db/devices.js';
import type { Repos } from '../db/index.js';
import type { DeviceRow } from '../db/schema.js';
import { requireApp } from './require.js';
import type { DeviceActivity } from './device-activity.js';
import type { ReleaseCache } from './release-cache.js';

export interface DeviceCursor {
  lastSeen: string;
  deviceId: string;
}

export class DeviceService {
  constructor(
    private readonly repos: Repos,
    private readonly activity: DeviceActivity,
    private readonly cache: ReleaseCache,
  ) {}

  async list(appId: string, filter: DeviceFilter, limit: number, after?: DeviceCursor): Promise<DeviceRow[]> {
    await requireApp(this.repos, appId);
    // Reports still queued would make a just-checked device look missing.
    await this.activity.flush();
    return this.repos.devices.page(appId, filter, limit, after);
  }

  async get(appId: string, deviceId: string): Promise<DeviceRow> {
    await this.activity.flush();
    const device = await this.repos.devices.find(appId, deviceId);
    if (device) return device;
    await requireApp(this.repos, appId);
    throw errors.deviceNotFound({ appId, deviceId });
  }

  /** Pins a device to a channel whatever it asks for; works before the device's first check too. */
  async setOverride(appId: string, deviceId: string, channel: string, actor: string): Promise<DeviceRow> {
    await this.repos.transaction(async (repos) => {
      if (!(await repos.channels.find(appId, channel))) {
        await requireApp(repos, appId);
        throw errors.channelNotFound({ appId, channel });
      }
      await repos.devices.setChannelColumn(appId, deviceId, 'channel_override', channel);
      await repos.audit.record({
        actor,
        action: 'device.override',
        appId,
        target: deviceId,
        detail: { channel },
      });
    });
    this.cache.invalidate(appId);
    return this.get(appId, deviceId);
  }

  async clearOverride(appId: string, deviceId: string, actor: string): Promise<DeviceRow> {
    const device = await this.get(appId, deviceId);
    await this.repos.transaction(async (repos) => {
      await repos.devices.setChannelColumn(appId, deviceId, 'channel_override', null);
      await repos.audit.record({ actor, action: 'device.override_clear', appId, target: deviceId });
    });
    this.cache.invalidate(appId);
    return { ...device, channel_override: null };
  }
}
