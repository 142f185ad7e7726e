import type { NewDeviceEvent } from '../db/devices.js';
import type { FailureReport } from '../db/holds.js';
import type { Repos } from '../db/index.js';
import type { DeviceHoldRow } from '../db/schema.js';
import { INSTALL_FAILURE_ACTIONS, eventVersion } from '../domain/device-events.js';
import type { ReleaseCache } from './release-cache.js';

/** Download failures that, repeated, hold a version back (failures of the transfer itself). */
const DOWNLOAD_FAILURE_ACTIONS = ['download_fail'];

/**
 * Versions held back from one device. A device that failed to start a bundle rolls it back, then
 * downloads the same version again at its next check and fails again, in a loop (protocol-capgo.md
 * §8.3): so once it reports update_fail or app_launch_timeout for a version (or download_fail for it
 * several times), it is not offered that version again. It gets the next release, or the same one
 * once an admin clears the mark.
 */
export class DeviceHolds {
  constructor(
    private readonly repos: Repos,
    private readonly cache: ReleaseCache,
  ) {}

  /** Listener of written device events (DeviceActivity.onEventsWritten). */
  readonly onEventsWritten = async (events: readonly NewDeviceEvent[]): Promise<void> => {
    const failures: FailureReport[] = events
      .filter(
        (event) =>
          INSTALL_FAILURE_ACTIONS.includes(event.action) || DOWNLOAD_FAILURE_ACTIONS.includes(event.action),
      )
      .filter((event) => event.version_name !== '' && event.version_name !== 'builtin')
      .map((event) => ({
        app_id: event.app_id,
        device_id: event.device_id,
        version: eventVersion(event.action, event.version_name),
        install: INSTALL_FAILURE_ACTIONS.includes(event.action),
        action: event.action,
        at: event.at,
      }));
    if (failures.length === 0) return;
    await this.repos.transaction((repos) => repos.holds.record(failures));
    for (const appId of new Set(failures.map((failure) => failure.app_id))) this.cache.invalidate(appId);
  };

  list(appId: string, deviceId?: string): Promise<DeviceHoldRow[]> {
    return this.repos.holds.list(appId, deviceId);
  }

  async clear(appId: string, deviceId: string, actor: string, version?: string): Promise<number> {
    const cleared = await this.repos.transaction(async (repos) => {
      const count = await repos.holds.clear(appId, deviceId, version);
      await repos.audit.record({
        actor,
        action: 'device.clear_hold',
        appId,
        target: deviceId,
        detail: { version: version ?? null },
      });
      return count;
    });
    this.cache.invalidate(appId);
    return cleared;
  }
}
