import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DevicesRepo, type DeviceReport } from '../src/db/devices.js';
import { TEST_BACKEND } from './helpers/backends.js';
import { deviceInfo, startTestServer, type TestServer } from './helpers/server.js';
import { runSql } from './helpers/sql.js';

const APP = 'com.example.app';
const DEVICES = ['steady-1', 'steady-2', 'steady-3', 'steady-4', 'steady-5'];
const ROUNDS = 20;

/**
 * What shows a row was written: on PostgreSQL each device row's version (xmin, new at every update,
 * even one that changes nothing); on SQLite the connection's count of changed rows (an upsert that
 * its WHERE skips changes none), and each row's last_seen.
 */
async function writes(server: TestServer): Promise<Record<string, string>> {
  if (TEST_BACKEND === 'postgres') {
    const rows = await runSql(
      server,
      'select device_id, xmin::text as version from devices where app_id = ?',
      APP,
    );
    return Object.fromEntries(rows.map((row) => [row.device_id, row.version]));
  }
  const rows = await runSql(server, 'select device_id, last_seen from devices where app_id = ?', APP);
  const [{ changes }] = await runSql(server, 'select total_changes() as changes');
  return {
    ...Object.fromEntries(rows.map((row) => [row.device_id, row.last_seen])),
    changes: String(changes),
  };
}

const check = (server: TestServer, device: string, overrides: Record<string, unknown> = {}) =>
  server.device('POST', '/updates', deviceInfo({ device_id: device, ...overrides }));

describe('device rows in the steady state', () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer({ OVERAIR_DEVICE_SEEN_PRECISION: '1h' });
    expect((await server.api('POST', '/apps', { id: APP })).status).toBe(201);
  });
  afterAll(() => server.stop());

  it('does not rewrite the rows of devices that check again with the same state', async () => {
    for (const device of DEVICES) expect((await check(server, device)).status).toBe(200);
    await server.services.activity.flush();
    const before = await writes(server);
    expect(Object.keys(before)).toEqual(expect.arrayContaining(DEVICES));

    for (let round = 0; round < ROUNDS; round++) {
      await Promise.all(DEVICES.map((device) => check(server, device)));
      await server.services.activity.flush();
    }
    expect(await writes(server)).toEqual(before);
  });

  it('does not rewrite them either when an instance that does not remember them writes the same', async () => {
    const before = await writes(server);
    const stored = await runSql(server, 'select * from devices where app_id = ?', APP);
    const at = new Date().toISOString();
    const reports = stored.map(
      ({ channel_override: _o, self_assigned_channel: _s, first_seen: _f, ...row }): DeviceReport => ({
        ...row,
        last_seen: at,
      }),
    );
    const staleBefore = new Date(Date.now() - 3_600_000).toISOString();
    await server.db.transaction().execute((trx) => new DevicesRepo(trx).upsertReports(reports, staleBefore));
    expect(await writes(server)).toEqual(before);
  });

  it('writes a changed state at the next flush, and only that row', async () => {
    const before = await writes(server);
    expect((await check(server, 'steady-1', { version_name: '1.0.1' })).status).toBe(200);
    for (const device of DEVICES.slice(1)) await check(server, device);
    const device = await server.api('GET', `/apps/${APP}/devices/steady-1`);
    expect(device.body).toMatchObject({ device_id: 'steady-1', version_name: '1.0.1' });
    const after = await writes(server);
    expect(after['steady-1']).not.toBe(before['steady-1']);
    for (const other of DEVICES.slice(1)) expect(after[other]).toBe(before[other]);
  });
});

describe('device rows once the last-seen precision has passed', () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer({ OVERAIR_DEVICE_SEEN_PRECISION: '1s' });
    expect((await server.api('POST', '/apps', { id: APP })).status).toBe(201);
  });
  afterAll(() => server.stop());

  const lastSeen = async () => {
    await server.services.activity.flush();
    const [row] = await runSql(server, 'select last_seen from devices where device_id = ?', 'steady-1');
    return row.last_seen as string;
  };

  it('advances last_seen of a device checking unchanged', async () => {
    await check(server, 'steady-1');
    const first = await lastSeen();
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    await check(server, 'steady-1');
    const second = await lastSeen();
    expect(second > first).toBe(true);
    expect(Date.parse(second) - Date.parse(first)).toBeGreaterThanOrEqual(1_000);
  });
});
