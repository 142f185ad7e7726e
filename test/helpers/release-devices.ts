import type { RunningServer } from '../../src/server.js';
import { runSql } from './sql.js';

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

/**
 * Moves everything an app's devices wrote since `realSince` to `at` (an ISO time), as if written
 * then: their events, first sightings, the hourly counts of installs and each device's part in each
 * release. After the server's write-behind flush, so that nothing written later escapes the move.
 */
export async function moveDeviceWrites(
  server: RunningServer & { services: { activity: { flush(): Promise<unknown> } } },
  appId: string,
  realSince: string,
  at: string,
): Promise<void> {
  await server.services.activity.flush();
  await runSql(server, 'UPDATE device_events SET at = ? WHERE app_id = ? AND at >= ?', at, appId, realSince);
  await runSql(
    server,
    'UPDATE devices SET first_seen = ? WHERE app_id = ? AND first_seen >= ?',
    at,
    appId,
    realSince,
  );
  await runSql(
    server,
    'UPDATE install_moves_hourly SET hour = ? WHERE app_id = ? AND hour >= ?',
    at.slice(0, 13),
    appId,
    realSince.slice(0, 13),
  );
  for (const column of RELEASE_DEVICE_TIMES)
    await runSql(
      server,
      `UPDATE release_devices SET ${column} = ? WHERE app_id = ? AND ${column} >= ?`,
      at,
      appId,
      realSince,
    );
}
