import { describe, expect, it } from 'vitest';
import { categoryOf, eventVersion } from './device-events.js';

describe('device event categories', () => {
  it('sorts the plugin actions into downloads, installs and failures', () => {
    const cases: Record<string, string | null> = {
      download_complete: 'download',
      download_zip_complete: 'download',
      download_manifest_complete: 'download',
      set: 'install',
      update_fail: 'install_failure',
      app_launch_timeout: 'install_failure',
      download_fail: 'download_failure',
      checksum_fail: 'download_failure',
      decrypt_fail: 'download_failure',
      unzip_fail: 'download_failure',
      download_manifest_file_fail: 'download_failure',
      download_manifest_checksum_fail: 'download_failure',
      download_manifest_brotli_fail: 'download_failure',
      session_key_required: 'download_failure',
      insufficient_disk_space: 'download_failure',
      download_10: null,
      set_next: null,
      app_moved_to_foreground: null,
      some_future_action: null,
    };
    for (const [action, category] of Object.entries(cases))
      expect([action, categoryOf(action)]).toEqual([action, category]);
  });

  it('takes the bundle version out of per-file delta failures', () => {
    expect(eventVersion('download_manifest_file_fail', '1.2.0:assets/app.js')).toBe('1.2.0');
    expect(eventVersion('manifest_path_fail', '1.2.0:../x')).toBe('1.2.0');
    expect(eventVersion('download_manifest_checksum_fail', '1.2.0')).toBe('1.2.0');
    // Other actions keep what they sent.
    expect(eventVersion('set', '1.2.0')).toBe('1.2.0');
  });
});
