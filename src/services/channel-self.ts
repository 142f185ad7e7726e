import { deviceMayJoin, resolveChannel, type ChannelSource } from '../domain/decision.js';
import { pluginKeepsChannelLocally } from '../domain/plugin.js';
import { errors } from '../errors.js';
import type { Repos } from '../db/index.js';
import type { DeviceActivity } from './device-activity.js';
import type { DeviceInfo } from './device-info.js';
import { assignmentOf, type AppRelease, type ReleaseCache } from './release-cache.js';

export interface ListedChannel {
  id: number;
  name: string;
  public: boolean;
  allow_self_set: boolean;
}

/**
 * The plugin's channel API (setChannel, getChannel, listChannels, and unsetChannel of old plugins).
 * Errors are OverairErrors; the HTTP layer decides which status each call may carry.
 */
export class ChannelSelfService {
  constructor(
    private readonly repos: Repos,
    private readonly cache: ReleaseCache,
    private readonly activity: DeviceActivity,
  ) {}

  async set(info: DeviceInfo, name: string): Promise<{ unset: boolean }> {
    const channel = (await this.release(info)).channels.get(name);
    if (!channel) throw errors.channelNotFound({ appId: info.app_id, channel: name });
    if (!deviceMayJoin(channel)) {
      throw errors.channelSelfSetNotAllowed({ channel: name });
    }
    this.activity.recordDevice(info);
    // Joining the default channel is leaving any other: tell the plugin to clear its local choice.
    const unset = channel.isDefault && !channel.allowSelfAssign;
    if (!pluginKeepsChannelLocally(info.plugin_version)) {
      await this.repos.devices.setChannelColumn(
        info.app_id,
        info.device_id,
        'self_assigned_channel',
        unset ? null : name,
      );
      this.cache.invalidate(info.app_id);
    }
    return { unset };
  }

  async get(info: DeviceInfo): Promise<{ channel: string; source: ChannelSource; allowSet: boolean }> {
    const release = await this.release(info);
    const resolved = resolveChannel(release.channels, {
      ...assignmentOf(release, info.device_id),
      requested: info.defaultChannel,
    });
    if (!resolved) throw errors.channelNotFound({ appId: info.app_id });
    this.activity.recordDevice(info);
    return {
      channel: resolved.channel.name,
      source: resolved.source,
      allowSet: resolved.channel.allowSelfAssign,
    };
  }

  /** Channels a device may pick: the default one and those open to self-assignment. */
  async list(info: DeviceInfo): Promise<ListedChannel[]> {
    await this.release(info);
    const rows = await this.repos.channels.list(info.app_id);
    return rows
      .filter((row) => row.is_default === 1 || row.allow_self_assign === 1)
      .map((row) => ({
        id: row.id,
        name: row.name,
        public: row.is_default === 1,
        allow_self_set: row.allow_self_assign === 1,
      }));
  }

  /** DELETE from plugins before 7.34: forget the server-side self-assignment. */
  async unset(info: DeviceInfo): Promise<void> {
    await this.release(info);
    await this.repos.devices.setChannelColumn(info.app_id, info.device_id, 'self_assigned_channel', null);
    this.cache.invalidate(info.app_id);
    this.activity.recordDevice(info);
  }

  private async release(info: DeviceInfo): Promise<AppRelease> {
    const release = await this.cache.get(info.app_id);
    if (!release) throw errors.appNotFound({ appId: info.app_id });
    return release;
  }
}
