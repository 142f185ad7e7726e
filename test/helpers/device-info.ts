/**
 * The info object of @capgo/capacitor-updater 8.x (docs/protocol.md §1). A module of its own, apart
 * from test/helpers/server.ts (which loads the server), so that bench/ can import it too.
 */
export function deviceInfo(overrides: Record<string, unknown> = {}) {
  return {
    platform: 'android',
    device_id: '6f1e2a4c-3b5d-4e6f-8a9b-0c1d2e3f4a5b',
    app_id: 'com.example.app',
    custom_id: '',
    version_build: '1.0.0',
    version_code: '10',
    version_os: '14',
    version_name: '1.0.0',
    plugin_version: '8.51.23',
    is_emulator: false,
    is_prod: true,
    install_source: 'google_play',
    defaultChannel: '',
    ...overrides,
  };
}
