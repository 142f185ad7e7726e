/** The times release_devices keeps per device and release (migration 0027): what tests move back. */
export const RELEASE_DEVICE_TIMES = [
  'first_at',
  'last_at',
  'first_failed_at',
  'last_failed_at',
  'last_tried_at',
  'last_start_failed_at',
  'first_install_at',
  'last_install_at',
] as const;
