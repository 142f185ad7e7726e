/**
 * The values each label may take, fixed here so that no client can add one: anything else is counted
 * as `other` (metrics/instruments.ts).
 */

/** Which protocol asked: the Capgo plugin (POST /updates), Capawesome's, or the plain /check. */
export const PLUGINS = ['capgo', 'capawesome', 'plain'] as const;
export const PLUGIN = { capgo: 0, capawesome: 1, plain: 2 } as const;
export type Plugin = (typeof PLUGIN)[keyof typeof PLUGIN];

/**
 * What an update check answered: an update, nothing new, refused by a rule of the channel
 * (`blocked`), no channel (`failed`), the device rate limit, bad input (other 4xx), or a server error.
 */
export const CHECK_OUTCOMES = [
  'update',
  'up_to_date',
  'blocked',
  'failed',
  'rate_limited',
  'invalid',
  'error',
] as const;
export const OUTCOME = {
  update: 0,
  up_to_date: 1,
  blocked: 2,
  failed: 3,
  rate_limited: 4,
  invalid: 5,
  error: 6,
} as const;
export type CheckOutcome = (typeof OUTCOME)[keyof typeof OUTCOME];

/** The outcome of a check answered with an error status. */
export function outcomeOfStatus(status: number): CheckOutcome {
  if (status === 429) return OUTCOME.rate_limited;
  return status >= 500 ? OUTCOME.error : OUTCOME.invalid;
}

const MAX_MAJOR = 15;
/** Plugin major versions 0 to 15, then `other` (16 and up), `unknown` (none or not a version). */
export const PLUGIN_MAJORS = [
  ...Array.from({ length: MAX_MAJOR + 1 }, (_, major) => String(major)),
  'other',
  'unknown',
] as const;
const OTHER_MAJOR = MAX_MAJOR + 1;
const UNKNOWN_MAJOR = MAX_MAJOR + 2;

/** The index in PLUGIN_MAJORS of a version's major number, read digit by digit (no allocation). */
export function pluginMajorIndex(version: string): number {
  let major = 0;
  let index = 0;
  for (; index < version.length; index++) {
    const code = version.charCodeAt(index) - 48;
    if (code < 0 || code > 9) break;
    // Past 15 it is `other` whatever follows: no need to grow the number.
    if (major <= MAX_MAJOR) major = major * 10 + code;
  }
  if (index === 0 || (index < version.length && version.charCodeAt(index) !== 46)) return UNKNOWN_MAJOR;
  return major > MAX_MAJOR ? OTHER_MAJOR : major;
}

export const HTTP_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const;
export const STATUS_CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx'] as const;

/**
 * The stats actions of the Capgo plugin worth telling apart (docs/protocol-capgo-sources.md); actions are free strings, so any
 * other is `other`.
 */
export const EVENT_ACTIONS = [
  'download_complete',
  'download_zip_start',
  'download_zip_complete',
  'download_manifest_start',
  'download_manifest_complete',
  'set_next',
  'set',
  'reset',
  'delete',
  'app_moved_to_foreground',
  'app_moved_to_background',
  'app_launch_start',
  'app_launch_ready',
  'update_fail',
  'app_launch_timeout',
  'download_fail',
  'finish_download_fail',
  'checksum_fail',
  'checksum_required',
  'session_key_required',
  'decrypt_fail',
  'unzip_fail',
  'manifest_path_fail',
  'download_manifest_file_fail',
  'download_manifest_checksum_fail',
  'download_manifest_brotli_fail',
  'low_mem_fail',
  'insufficient_disk_space',
  'set_fail',
  'blocked_by_server_url',
  'rate_limit_reached',
  'app_crash',
  'app_crash_native',
  'app_anr',
] as const;
