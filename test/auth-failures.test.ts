/**
 * The failed-authentication counts shared by instances (src/db/auth-failures.ts), on each backend:
 * the same rule as the in-memory limiter, in one upsert.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuthFailuresRepo } from '../src/db/auth-failures.js';
import { runSql } from './helpers/sql.js';
import { startTestServer, type TestServer } from './helpers/server.js';

const RULE = { maxFailures: 3, windowMs: 60_000 };
const T0 = Date.parse('2030-01-01T00:00:00.000Z');
const at = (ms: number) => new Date(T0 + ms);

describe('auth failure counts in the database', () => {
  let server: TestServer;
  let repo: AuthFailuresRepo;
  beforeAll(async () => {
    server = await startTestServer();
    repo = new AuthFailuresRepo(server.db);
  });
  afterAll(() => server.stop());

  const row = async (address: string) =>
    (
      await runSql(
        server,
        'select failures, window_start, blocked_until from auth_failures where address = ?',
        address,
      )
    )[0];

  it('blocks an address for one window at the last allowed failure within a window', async () => {
    expect(await repo.record('192.0.2.1', at(0), RULE)).toBeNull();
    expect(await repo.record('192.0.2.1', at(1_000), RULE)).toBeNull();
    expect(await repo.record('192.0.2.1', at(2_000), RULE)).toEqual(at(62_000));
    // Another address is counted apart.
    expect(await repo.record('192.0.2.2', at(2_000), RULE)).toBeNull();
    // A failure during the block (from an instance that did not know of it) extends it.
    expect(await repo.record('192.0.2.1', at(30_000), RULE)).toEqual(at(90_000));
    expect(await row('192.0.2.1')).toMatchObject({ failures: 4, window_start: at(0).toISOString() });
  });

  it('starts afresh once both the window and the block are over', async () => {
    // The window of 192.0.2.2 (one failure) ended at 62 s.
    expect(await repo.record('192.0.2.2', at(70_000), RULE)).toBeNull();
    expect(await row('192.0.2.2')).toMatchObject({
      failures: 1,
      window_start: at(70_000).toISOString(),
      blocked_until: null,
    });
    // 192.0.2.1's window ended at 60 s, but its block lasts until 90 s: still counting, still blocked.
    expect(await repo.record('192.0.2.1', at(80_000), RULE)).toEqual(at(140_000));
    expect(await repo.record('192.0.2.1', at(200_000), RULE)).toBeNull();
    expect(await row('192.0.2.1')).toMatchObject({ failures: 1, blocked_until: null });
  });

  it('forgets only addresses whose window and block are over', async () => {
    await repo.record('192.0.2.3', at(250_000), RULE);
    expect(await repo.prune(at(265_000), RULE.windowMs)).toBe(2);
    const left = await runSql(server, 'select address from auth_failures order by address');
    expect(left).toEqual([{ address: '192.0.2.3' }]);
  });
});
