import type { DeviceReport } from '../db/devices.js';

/** The info object every plugin request carries (docs/protocol.md §1), after validation. */
export interface DeviceInfo {
  app_id: string;
  device_id: string;
  platform: string;
  version_name: string;
  version_build: string;
  version_code: string;
  version_os: string;
  plugin_version: string;
  custom_id: string;
  defaultChannel: string;
  is_emulator: boolean;
  is_prod: boolean;
  key_id?: string;
}

/** The device columns an info object fills: how a plugin's report becomes a row of `devices`. */
export function deviceColumns(info: DeviceInfo): Omit<DeviceReport, 'last_seen' | 'keepVersion'> {
  return {
    app_id: info.app_id,
    device_id: info.device_id,
    platform: info.platform,
    version_name: info.version_name,
    version_build: info.version_build,
    version_code: info.version_code,
    version_os: info.version_os,
    plugin_version: info.plugin_version,
    custom_id: info.custom_id,
    requested_channel: info.defaultChannel,
    is_emulator: info.is_emulator ? 1 : 0,
    is_prod: info.is_prod ? 1 : 0,
  };
}
