/**
 * What the plugin's stats actions mean for a release (protocol-capgo.md §3.3). Actions are free
 * strings and new plugin versions add some, so anything unknown is simply not counted.
 */

/** A bundle finished downloading (the progress event, and the zip or delta transfer's own end). */
export const DOWNLOAD_ACTIONS = ['download_complete', 'download_zip_complete', 'download_manifest_complete'];

/** A bundle was activated on the device. */
export const INSTALL_ACTION = 'set';

/**
 * The bundle did not call notifyAppReady() in time: the device rolled it back. Both are sent at the
 * same moment; `update_fail` is the rollback itself.
 */
export const INSTALL_FAILURE_ACTIONS = ['update_fail', 'app_launch_timeout'];
export const ROLLBACK_ACTION = 'update_fail';

/** Failures before activation whose names do not end in "_fail". */
export const OTHER_DOWNLOAD_FAILURES = [
  'checksum_required',
  'session_key_required',
  'insufficient_disk_space',
];

export type EventCategory = 'download' | 'install' | 'install_failure' | 'download_failure';

/**
 * The category an action counts in, or null. Every other action ending in "_fail" (download_fail,
 * checksum_fail, decrypt_fail, unzip_fail, set_fail, the per-file delta failures, ...) happened
 * before the bundle ran: a download failure, which needs no rollback on the device.
 */
export function categoryOf(action: string): EventCategory | null {
  if (DOWNLOAD_ACTIONS.includes(action)) return 'download';
  if (action === INSTALL_ACTION) return 'install';
  if (INSTALL_FAILURE_ACTIONS.includes(action)) return 'install_failure';
  if (action.endsWith('_fail') || OTHER_DOWNLOAD_FAILURES.includes(action)) return 'download_failure';
  return null;
}

/**
 * The bundle an event is about. Per-file delta failures name "<version>:<file>"; statistics group
 * by bundle, so the file part is dropped (version names never contain ":").
 */
export function eventVersion(action: string, versionName: string): string {
  const perFile =
    action === 'manifest_path_fail' || (action.startsWith('download_manifest_') && action.endsWith('_fail'));
  if (!perFile) return versionName;
  const colon = versionName.indexOf(':');
  return colon === -1 ? versionName : versionName.slice(0, colon);
}
