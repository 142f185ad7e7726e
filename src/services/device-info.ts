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
