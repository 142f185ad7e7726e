import { notFound } from '../errors.js';
import type { DeviceActivity, DeviceEvent } from './device-activity.js';
import type { DeviceInfo } from './device-info.js';
import type { ReleaseCache } from './release-cache.js';

/** Stats events from the plugin: stored in batches, and they refresh the device's last-seen state. */
export class StatsService {
  constructor(
    private readonly cache: ReleaseCache,
    private readonly activity: DeviceActivity,
  ) {}

  async record(info: DeviceInfo, event: DeviceEvent): Promise<void> {
    if (!(await this.cache.get(info.app_id)))
      throw notFound('app_not_found', `No app "${info.app_id}" on this server`);
    this.activity.recordEvent(info, event);
    this.activity.recordDevice(info);
  }
}
