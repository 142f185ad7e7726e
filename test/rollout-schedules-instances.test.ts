/**
 * Scheduled rollouts with two instances on one PostgreSQL database: one drives the schedules (the
 * lease), and however their ticks meet, no step is taken twice or skipped. PostgreSQL only (SQLite
 * is one instance's file).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TEST_BACKEND } from './helpers/backends.js';
import { startTestServer, uploadBundle, type TestServer } from './helpers/server.js';
import { runSql } from './helpers/sql.js';
import { makeZip } from './helpers/zips.js';

const HOUR = 3600_000;
let fakeNow = Date.parse('2027-05-01T08:00:00.000Z');
const clock = () => fakeNow;

describe.skipIf(TEST_BACKEND !== 'postgres')('scheduled rollouts on two instances', () => {
  let a: TestServer;
  let b: TestServer;

  beforeAll(async () => {
    // Ticks only when the tests say (an hour between timer ticks), so that both meet on purpose.
    a = await startTestServer({}, { rollouts: { clock, tickMs: HOUR } });
    const { OVERAIR_DATA_DIR: _ownFolder, ...shared } = a.stateEnv;
    b = await startTestServer(shared, { rollouts: { clock, tickMs: HOUR } });
  });
  afterAll(async () => {
    await b?.stop();
    await a?.stop();
  });

  const route = (appId: string) => `/apps/${appId}/channels/production`;

  async function setupApp(appId: string) {
    expect((await a.api('POST', '/apps', { id: appId })).status).toBe(201);
    for (const version of ['1.0.0', '1.1.0']) {
      const zip = await makeZip({ 'index.html': `<!doctype html><!-- ${version} -->` });
      expect((await uploadBundle(a, appId, zip, { version })).status).toBe(201);
    }
    expect((await a.api('PUT', `${route(appId)}/bundle`, { version: '1.0.0' })).status).toBe(200);
  }

  const stepsInHistory = async (appId: string) =>
    ((await a.api('GET', `${route(appId)}/history?limit=100`)).body.items as any[])
      .filter((entry) => entry.version === '1.1.0')
      .map((entry) => entry.reason as string)
      .reverse();

  it('idle instances write nothing: no lease is taken while no schedule runs', async () => {
    expect(await a.services.rollouts.tick()).toBe(0);
    expect(await b.services.rollouts.tick()).toBe(0);
    expect(await runSql(a, 'select * from leases')).toEqual([]);
  });

  it('ticks of both instances at the same moment take each step once, in order, at its time', async () => {
    const APP = 'com.example.raced';
    await setupApp(APP);
    const start = fakeNow;
    const begun = await b.api('POST', `${route(APP)}/rollout`, {
      version: '1.1.0',
      steps: '5%:1h,20%:1h,50%:1h,100%',
    });
    expect(begun.status).toBe(200);
    const moved: number[] = [];
    for (let hour = 1; hour <= 4; hour += 1) {
      fakeNow = start + hour * HOUR;
      // Both at once, several times over: the lease lets one act; the conditional step would catch the rest.
      const counts = await Promise.all([
        a.services.rollouts.tick(),
        b.services.rollouts.tick(),
        a.services.rollouts.tick(),
        b.services.rollouts.tick(),
      ]);
      moved.push(counts.reduce((sum, count) => sum + count, 0));
    }
    expect(moved).toEqual([1, 1, 1, 0]);
    // One lease row, held by one of the two.
    const leases = await runSql(a, "select holder from leases where name = 'rollout-scheduler'");
    expect(leases).toHaveLength(1);
    expect([a.services.rollouts.holderId, b.services.rollouts.holderId]).toContain(leases[0].holder);
    expect((await a.api('GET', route(APP))).body).toMatchObject({ version: '1.1.0', rollout: null });
    const reasons = await stepsInHistory(APP);
    expect(reasons.map((reason) => /step (\d) of 4/.exec(reason)?.[1])).toEqual(['1', '2', '3', '4']);
  });

  it('the lease of an instance that stopped ticking passes to the other once it expires', async () => {
    const APP = 'com.example.handover';
    await setupApp(APP);
    const [holder] = await runSql(a, "select holder from leases where name = 'rollout-scheduler'");
    const [owner, other] = holder.holder === b.services.rollouts.holderId ? [b, a] : [a, b];
    const start = fakeNow;
    expect(
      (await a.api('POST', `${route(APP)}/rollout`, { version: '1.1.0', steps: '10%:1h,100%' })).status,
    ).toBe(200);
    // The owner took the lease at `fakeNow` (in the last test): before it expires the other does nothing.
    await owner.services.rollouts.tick();
    fakeNow = start + HOUR;
    const leaseMs = owner.services.rollouts.leaseMs;
    expect(leaseMs).toBe(3 * HOUR);
    expect(await other.services.rollouts.tick()).toBe(0);
    expect((await a.api('GET', `${route(APP)}/schedule`)).body.state).toBe('running');
    // The owner goes quiet (as if killed); past the lease's expiry the other one takes over.
    fakeNow = start + leaseMs;
    expect(await other.services.rollouts.tick()).toBe(1);
    expect((await a.api('GET', `${route(APP)}/schedule`)).body.state).toBe('completed');
  });

  it('two writers moving the same step at the same moment: one wins, the other changes nothing', async () => {
    const APP = 'com.example.doubled';
    await setupApp(APP);
    const begun = await a.api('POST', `${route(APP)}/rollout`, {
      version: '1.1.0',
      steps: '10%:1h,30%:1h,100%',
    });
    expect(begun.status).toBe(200);
    // As two instances that both believe they hold the lease (one paused past its expiry) would.
    const [row] = await runSql(a, 'select * from rollout_schedules where app_id = ?', APP);
    const results = await Promise.all(
      [a, b, a, b].map((server) =>
        server.services.channels.advanceSchedule(row, new Date(fakeNow).toISOString(), 'test'),
      ),
    );
    expect(results.filter((result) => result !== null)).toHaveLength(1);
    expect((await a.api('GET', route(APP))).body.rollout).toEqual({ version: '1.1.0', percent: 30 });
    expect((await stepsInHistory(APP)).filter((reason) => reason.includes('step 2 of 3'))).toHaveLength(1);
  });
});
