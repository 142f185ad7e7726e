/**
 * Scheduled rollouts (issue #19, docs/release-control.md#scheduled-rollouts) on a real server whose
 * scheduler runs under a fake clock: a healthy schedule walks its steps to 100 % (hours of steps in
 * a second), an unhealthy release is halted at the step where its failures appear, manual changes
 * cancel a schedule, a restarted server resumes one, and bad steps are refused. Each step is in the
 * channel's history and sent as a webhook.
 */
import fs from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Fleet } from './helpers/fleet.js';
import { cli } from './helpers/cli.js';
import { ADMIN_TOKEN, startTestServer, uploadBundle, type TestServer } from './helpers/server.js';
import { waitFor } from './helpers/wait.js';
import { makeZip } from './helpers/zips.js';

const HOUR = 3600_000;
/** The scheduler's clock: moved by the tests, never by time. */
let fakeNow = Date.parse('2027-03-01T09:00:00.000Z');
const clock = () => fakeNow;

let server: TestServer;
const received: { event: string; app_id: string; data: Record<string, any> }[] = [];
const receiver = http.createServer((request, response) => {
  let body = '';
  request.on('data', (chunk: Buffer) => (body += chunk.toString()));
  request.on('end', () => {
    received.push(JSON.parse(body) as (typeof received)[number]);
    response.end('ok');
  });
});

beforeAll(async () => {
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  server = await startTestServer(
    { OVERAIR_WEBHOOK_ALLOW_HOSTS: '127.0.0.1' },
    {
      rollouts: { clock, tickMs: 50 },
      webhooks: { retryDelaysMs: [50, 50], timeoutMs: 2000, pollMs: 25 },
    },
  );
});
afterAll(async () => {
  await server.stop();
  await new Promise((resolve) => receiver.close(resolve));
});

const channelRoute = (appId: string) => `/apps/${appId}/channels/production`;

/** An app with `versions` uploaded, `live` live on production, and a webhook for every event. */
async function setupApp(appId: string, versions: string[], live: string): Promise<void> {
  expect((await server.api('POST', '/apps', { id: appId })).status).toBe(201);
  for (const version of versions) {
    const zip = await makeZip({ 'index.html': `<!doctype html><!-- ${version} -->` });
    expect((await uploadBundle(server, appId, zip, { version })).status).toBe(201);
  }
  expect((await server.api('PUT', `${channelRoute(appId)}/bundle`, { version: live })).status).toBe(200);
  const { port } = receiver.address() as AddressInfo;
  const hook = await server.api('POST', '/webhooks', { url: `http://127.0.0.1:${port}/hook`, app_id: appId });
  expect(hook.status).toBe(201);
}

const schedule = async (appId: string) => (await server.api('GET', `${channelRoute(appId)}/schedule`)).body;
const channel = async (appId: string) => (await server.api('GET', channelRoute(appId))).body;
const history = async (appId: string) =>
  ((await server.api('GET', `${channelRoute(appId)}/history?limit=100`)).body.items as any[]).reverse();
const eventsOf = (appId: string, event: string) =>
  received.filter(
    (entry) => entry.event === event && entry.app_id === appId && entry.data.channel === 'production',
  );

describe('a healthy scheduled rollout', () => {
  const APP = 'com.example.scheduled';
  let started: number;

  beforeAll(() => setupApp(APP, ['1.2.0', '1.3.0'], '1.2.0'));

  it('starts at its first step, and says when the next one is due', async () => {
    started = fakeNow;
    const answer = await server.api('POST', `${channelRoute(APP)}/rollout`, {
      version: '1.3.0',
      steps: '1%:1h,10%:6h,50%:24h,100%',
    });
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({
      version: '1.2.0',
      rollout: { version: '1.3.0', percent: 1 },
      schedule: {
        version: '1.3.0',
        steps: '1%:1h,10%:6h,50%:1d,100%',
        current_step: 1,
        percent: 1,
        state: 'running',
        step_started_at: new Date(started).toISOString(),
        next_step_at: new Date(started + HOUR).toISOString(),
        reason: null,
      },
    });
    expect(answer.body.schedule.step_list).toEqual([
      { percent: 1, seconds: 3600 },
      { percent: 10, seconds: 6 * 3600 },
      { percent: 50, seconds: 24 * 3600 },
      { percent: 100, seconds: null },
    ]);
    expect(await schedule(APP)).toEqual(answer.body.schedule);
  });

  it('waits for the step to have lasted its time', async () => {
    fakeNow = started + HOUR - 1;
    expect(await server.services.rollouts.tick()).toBe(0);
    expect((await channel(APP)).rollout).toEqual({ version: '1.3.0', percent: 1 });
  });

  it("moves on by itself at the scheduler's next tick once the time is up", async () => {
    fakeNow = started + HOUR;
    // No tick() here: the server's own timer (50 ms in this test) does it.
    const moved = await waitFor(async () => (await schedule(APP)).current_step === 2 && schedule(APP));
    expect(moved).toMatchObject({
      percent: 10,
      state: 'running',
      step_started_at: new Date(fakeNow).toISOString(),
      next_step_at: new Date(fakeNow + 6 * HOUR).toISOString(),
    });
    expect((await channel(APP)).rollout).toEqual({ version: '1.3.0', percent: 10 });
  });

  it('reaches 100%: the bundle is live and the schedule completed', async () => {
    fakeNow += 6 * HOUR;
    await server.services.rollouts.tick();
    expect((await channel(APP)).rollout).toEqual({ version: '1.3.0', percent: 50 });
    fakeNow += 24 * HOUR - 1;
    await server.services.rollouts.tick();
    expect((await schedule(APP)).current_step).toBe(3);
    fakeNow += 1;
    await server.services.rollouts.tick();
    expect(await channel(APP)).toMatchObject({ version: '1.3.0', rollout: null });
    expect(await schedule(APP)).toMatchObject({
      current_step: 4,
      percent: 100,
      state: 'completed',
      next_step_at: null,
      reason: null,
    });
    // Nothing more happens, however late.
    fakeNow += 1000 * HOUR;
    expect(await server.services.rollouts.tick()).toBe(0);
  });

  it('records every step in the history and sends it as a webhook', async () => {
    const entries = (await history(APP)).slice(-4);
    expect(entries[0].actor).not.toBe('overair');
    expect(entries.slice(1).map((entry) => [entry.action, entry.version, entry.actor])).toEqual([
      ['rollout', '1.3.0', 'overair'],
      ['rollout', '1.3.0', 'overair'],
      ['set', '1.3.0', 'overair'],
    ]);
    expect(entries[0].reason).toBe('scheduled rollout 1%:1h,10%:6h,50%:1d,100%: step 1 of 4, 1% of devices');
    expect(entries[1].reason).toBe(
      'scheduled rollout: step 2 of 4, 10% of devices (not enough devices to judge: 1.3.0 has 0, the control on 1.2.0 0; each group needs 100)',
    );
    expect(entries[3].reason).toBe(
      'scheduled rollout: step 4 of 4, rollout completed (not enough devices to judge: 1.3.0 has 0, the control on 1.2.0 0; each group needs 100)',
    );
    const advanced = await waitFor(
      () => eventsOf(APP, 'rollout.advanced').length === 4 && eventsOf(APP, 'rollout.advanced'),
    );
    expect(
      advanced.map((entry) => [entry.data.step, entry.data.steps, entry.data.percent, entry.data.completed]),
    ).toEqual([
      [1, 4, 1, false],
      [2, 4, 10, false],
      [3, 4, 50, false],
      [4, 4, 100, true],
    ]);
    // As a rollout to 100% today: the release is announced.
    await waitFor(() => eventsOf(APP, 'channel.released').some((entry) => entry.data.version === '1.3.0'));
  });
});

describe('an unhealthy scheduled rollout', () => {
  const APP = 'com.example.failing';
  let fleet: Fleet;
  /** Two devices in five fail to start 1.1.0. */
  const fails = (id: string) => Number(id.slice(-5)) % 5 < 2;

  beforeAll(async () => {
    await setupApp(APP, ['1.0.0', '1.1.0'], '1.0.0');
    fleet = new Fleet(server.url, APP, 300);
  });
  afterAll(() => fleet.close());

  it('is halted at the step where its failures appear, and the devices get the live bundle again', async () => {
    const start = fakeNow;
    expect(
      (
        await server.api('POST', `${channelRoute(APP)}/rollout`, {
          version: '1.1.0',
          steps: '10%:1h,50%:1h,100%',
        })
      ).status,
    ).toBe(200);
    // Step 1: whoever gets 1.1.0 starts it.
    await fleet.cycle(() => 'install');
    fakeNow = start + HOUR;
    await server.services.rollouts.tick();
    expect((await channel(APP)).rollout).toEqual({ version: '1.1.0', percent: 50 });

    // Step 2: failures, while the channel has no threshold (no automatic halt on the reports); the
    // threshold set afterwards is the scheduler's to apply when the step's time is up.
    const results = await fleet.cycle((device) => (fails(device.id) ? 'install_fail' : 'install'));
    expect(results.filter((result) => result.offered === '1.1.0').length).toBeGreaterThan(100);
    await server.services.activity.flush();
    const patched = await server.api('PATCH', channelRoute(APP), {
      failure_threshold: 0.2,
      failure_min_devices: 20,
    });
    expect(patched.status).toBe(200);
    expect((await channel(APP)).rollout).toEqual({ version: '1.1.0', percent: 50 });
    fakeNow = start + 2 * HOUR - 1;
    await server.services.rollouts.tick();
    expect((await channel(APP)).rollout).toEqual({ version: '1.1.0', percent: 50 });

    fakeNow = start + 2 * HOUR;
    expect(await server.services.rollouts.tick()).toBe(1);
    expect(await channel(APP)).toMatchObject({ version: '1.0.0', rollout: null });
    const ended = await schedule(APP);
    expect(ended).toMatchObject({ state: 'halted', current_step: 2, percent: 50, next_step_at: null });
    expect(ended.reason).toMatch(
      /^scheduled rollout halted after step 2 of 3 \(50%\): automatic halt: \d+ of \d+ devices \([\d.]+%\) failed to start 1\.1\.0; threshold 20% after 20 devices$/,
    );
    const halt = (await history(APP)).at(-1);
    expect(halt).toMatchObject({
      action: 'halt',
      version: '1.0.0',
      previous_version: '1.1.0',
      reason: ended.reason,
    });
    const [announced] = await waitFor(
      () => eventsOf(APP, 'release.halted').length > 0 && eventsOf(APP, 'release.halted'),
    );
    expect(announced!.data).toMatchObject({ from: '1.1.0', to: '1.0.0', reason: ended.reason });
    // 100 % never came.
    fakeNow += 10 * HOUR;
    expect(await server.services.rollouts.tick()).toBe(0);
    // Nobody is offered 1.1.0 any more (those who run it are offered 1.0.0 back).
    const after = await fleet.check();
    expect(after.some((result) => result.offered === '1.1.0')).toBe(false);
    expect(after.some((result) => result.offered === '1.0.0')).toBe(true);
  });
});

describe('cancelling a schedule', () => {
  const APP = 'com.example.cancelled';
  const start = (steps = '5%:1h,100%') =>
    server.api('POST', `${channelRoute(APP)}/rollout`, { version: '2.1.0', steps });

  beforeAll(() => setupApp(APP, ['2.0.0', '2.1.0', '2.2.0'], '2.0.0'));

  it('is 404 before there was one, and 409 when none runs', async () => {
    expect((await server.api('GET', `${channelRoute(APP)}/schedule`)).body).toMatchObject({
      error: 'schedule_not_found',
    });
    const none = await server.api('DELETE', `${channelRoute(APP)}/schedule`);
    expect(none.status).toBe(409);
    expect(none.body.error).toBe('schedule_not_running');
  });

  it('DELETE stops it where it is: the rollout stays at its step and nothing moves later', async () => {
    expect((await start()).status).toBe(200);
    const cancelled = await server.api('DELETE', `${channelRoute(APP)}/schedule`);
    expect(cancelled.status).toBe(200);
    expect(cancelled.body).toMatchObject({
      state: 'cancelled',
      reason: 'cancelled',
      current_step: 1,
      next_step_at: null,
    });
    fakeNow += 2 * HOUR;
    expect(await server.services.rollouts.tick()).toBe(0);
    expect((await channel(APP)).rollout).toEqual({ version: '2.1.0', percent: 5 });
    expect((await server.api('DELETE', `${channelRoute(APP)}/schedule`)).status).toBe(409);
    const note = (await history(APP)).at(-1);
    expect(note).toMatchObject({ action: 'schedule_cancelled', version: null, actor: expect.any(String) });
    expect(note.reason).toBe('rollout schedule of 2.1.0 (5%:1h,100%) ended at step 1 of 2: cancelled');
  });

  it.each([
    [
      'a manual rollout',
      { method: 'POST', path: '/rollout', body: { version: '2.1.0', percent: 30 } },
      'cancelled by a manual rollout of 2.1.0 to 30%',
    ],
    [
      'making a bundle live',
      { method: 'PUT', path: '/bundle', body: { version: '2.2.0' } },
      'cancelled: 2.2.0 made live',
    ],
    ['a rollback', { method: 'POST', path: '/rollback', body: {} }, 'cancelled by a rollback'],
    [
      'a new schedule',
      { method: 'POST', path: '/rollout', body: { version: '2.1.0', steps: '20%:1h,100%' } },
      'replaced by a new schedule for 2.1.0',
    ],
  ])('%s cancels it, and the history says so', async (_, change, why) => {
    // From a known state: 2.0.0 live, a schedule of 2.1.0 running.
    await server.api('PUT', `${channelRoute(APP)}/bundle`, { version: '2.0.0' });
    expect((await start()).status).toBe(200);
    const answer = await server.api(change.method, `${channelRoute(APP)}${change.path}`, change.body);
    expect(answer.status).toBe(200);
    const entries = await history(APP);
    const note = [...entries].reverse().find((entry) => entry.action === 'schedule_cancelled');
    expect(note.reason).toBe(`rollout schedule of 2.1.0 (5%:1h,100%) ended at step 1 of 2: ${why}`);
    const current = await schedule(APP);
    if (why.startsWith('replaced')) {
      expect(current).toMatchObject({ state: 'running', steps: '20%:1h,100%' });
      await server.api('DELETE', `${channelRoute(APP)}/schedule`);
    } else {
      expect(current).toMatchObject({ state: 'cancelled', reason: why, steps: '5%:1h,100%' });
      // The manual change holds: the old schedule's time passing moves nothing.
      const before = await channel(APP);
      fakeNow += 2 * HOUR;
      expect(await server.services.rollouts.tick()).toBe(0);
      expect(await channel(APP)).toEqual(before);
    }
  });
});

describe('steps refused', () => {
  const APP = 'com.example.refused';

  beforeAll(() => setupApp(APP, ['3.0.0', '3.1.0'], '3.0.0'));

  it.each([
    [
      { version: '3.1.0', steps: '10%:1h,5%:1h,100%' },
      'steps: step 2 ("5%:1h"): percentages must increase (10% comes before)',
    ],
    [{ version: '3.1.0', steps: '10%:1h,50%:1h' }, 'steps: step 2 ("50%:1h"): the last step must be 100%'],
    [
      { version: '3.1.0', steps: '10%:forever,100%' },
      'steps: step 1 ("10%:forever"): "forever" is not a duration (e.g. 30m, 6h, 1d)',
    ],
    [
      { version: '3.1.0', steps: '100%' },
      'steps: a schedule needs at least two steps, the last 100% (to release at once, make the bundle live)',
    ],
    [{ version: '3.1.0', steps: '10%:1h,100%', percent: 10 }, 'body: give either percent or steps'],
    [{ version: '3.1.0' }, 'body: give either percent or steps'],
    [{ version: '3.1.0', steps: 5 }, 'steps: Invalid input: expected string, received number'],
  ])('%j: 400 with what is wrong, and nothing changed', async (body, message) => {
    const answer = await server.api('POST', `${channelRoute(APP)}/rollout`, body);
    expect(answer.status).toBe(400);
    expect(answer.body).toEqual({ error: 'invalid_request', message });
    expect((await channel(APP)).rollout).toBeNull();
    expect((await server.api('GET', `${channelRoute(APP)}/schedule`)).status).toBe(404);
  });

  it('refuses a schedule of the live bundle or an unknown one as a rollout does', async () => {
    const live = await server.api('POST', `${channelRoute(APP)}/rollout`, {
      version: '3.0.0',
      steps: '10%:1h,100%',
    });
    expect([live.status, live.body.error]).toEqual([409, 'already_live']);
    const unknown = await server.api('POST', `${channelRoute(APP)}/rollout`, {
      version: '9.9.9',
      steps: '10%:1h,100%',
    });
    expect([unknown.status, unknown.body.error]).toEqual([404, 'bundle_not_found']);
    expect((await server.api('GET', `${channelRoute(APP)}/schedule`)).status).toBe(404);
  });
});

describe('a restart', () => {
  const APP = 'com.example.restarted';

  it('resumes a running schedule where it was, at its time', async () => {
    const first = await startTestServer({}, { rollouts: { clock, tickMs: 50 } });
    let second: TestServer | undefined;
    const api = (target: TestServer) => (method: string, route: string, body?: unknown) =>
      target.api(method, `${channelRoute(APP)}${route}`, body);
    try {
      expect((await first.api('POST', '/apps', { id: APP })).status).toBe(201);
      for (const version of ['4.0.0', '4.1.0']) {
        const zip = await makeZip({ 'index.html': `<!doctype html><!-- ${version} -->` });
        expect((await uploadBundle(first, APP, zip, { version })).status).toBe(201);
      }
      expect((await api(first)('PUT', '/bundle', { version: '4.0.0' })).status).toBe(200);
      const start = fakeNow;
      const begun = await api(first)('POST', '/rollout', { version: '4.1.0', steps: '10%:1h,40%:2h,100%' });
      expect(begun.status).toBe(200);
      fakeNow = start + HOUR;
      await first.services.rollouts.tick();
      expect((await api(first)('GET', '/schedule')).body.current_step).toBe(2);
      await first.close();

      // The same data folder and database, a new process's worth of services.
      second = await startTestServer(first.stateEnv, { rollouts: { clock, tickMs: 50 } });
      const on = api(second);
      expect((await on('GET', '/schedule')).body).toMatchObject({ current_step: 2, state: 'running' });
      fakeNow = start + 3 * HOUR - 1;
      expect(await second.services.rollouts.tick()).toBe(0);
      expect((await on('GET', '')).body.rollout).toEqual({ version: '4.1.0', percent: 40 });
      fakeNow = start + 3 * HOUR;
      await waitFor(async () => (await on('GET', '/schedule')).body.state === 'completed');
      expect((await on('GET', '')).body).toMatchObject({ version: '4.1.0', rollout: null });
      const entries = (await on('GET', '/history?limit=100')).body.items as any[];
      expect(entries.filter((entry) => entry.version === '4.1.0').map((entry) => entry.action)).toEqual([
        'set',
        'rollout',
        'rollout',
      ]);
    } finally {
      await second?.stop();
      await fs.rm(first.dataDir, { recursive: true, force: true });
    }
  });
});

describe('the CLI', () => {
  const APP = 'com.example.cli-scheduled';
  let cwd: string;
  const run = (...args: string[]) =>
    cli([...args, '--app', APP], { cwd, env: { OVERAIR_SERVER: server.url, OVERAIR_TOKEN: ADMIN_TOKEN } });

  beforeAll(async () => {
    cwd = await fs.mkdtemp(path.join(os.tmpdir(), 'overair-cli-schedule-'));
    await setupApp(APP, ['5.0.0', '5.1.0'], '5.0.0');
  });
  afterAll(() => fs.rm(cwd, { recursive: true, force: true }));

  it('starts a schedule with --steps, shows it and cancels it', async () => {
    const started = await run('channel', 'rollout', 'production', '5.1.0', '--steps', '10%:2h,50%:1d,100%');
    expect(started.stderr).toBe('');
    expect(started.code).toBe(0);
    expect(started.stdout).toContain('rolling out 5.1.0 to 10%');
    expect(started.stdout).toContain('Schedule of 5.1.0: 10%:2h,50%:1d,100%');
    expect(started.stdout).toContain(`Next: 50% at ${new Date(fakeNow + 2 * HOUR).toISOString()}`);

    const shown = await run('channel', 'schedule', 'show', 'production', '--json');
    expect(shown.code).toBe(0);
    expect(JSON.parse(shown.stdout)).toMatchObject({ state: 'running', current_step: 1, percent: 10 });

    const cancelled = await run('channel', 'schedule', 'cancel', 'production');
    expect(cancelled.code).toBe(0);
    expect(cancelled.stdout).toContain('Cancelled: Schedule of 5.1.0');
    expect(cancelled.stdout).toContain('Why it ended: cancelled');
    const again = await run('channel', 'schedule', 'cancel', 'production');
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('[schedule_not_running]');
  });

  it('says what is wrong with bad steps, or with neither --percent nor --steps, and exits 1', async () => {
    const bad = await run('channel', 'rollout', 'production', '5.1.0', '--steps', '10%:2h,5%:1h,100%');
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('steps: step 2 ("5%:1h"): percentages must increase (10% comes before)');
    const neither = await run('channel', 'rollout', 'production', '5.1.0');
    expect(neither.code).toBe(1);
    expect(neither.stderr).toContain('give either --percent or --steps');
  });
});

describe('the release gate', () => {
  const APP = 'com.example.gated';

  it("is injected: its verdict decides each step, and its reason is the halt's", async () => {
    const asked: [string, string][] = [];
    let verdict = { healthy: true, reason: 'evidence: 0 failures in 120 devices' };
    const gated = await startTestServer(
      {},
      {
        rollouts: {
          clock,
          tickMs: HOUR,
          gate: async (appId, channel) => {
            asked.push([appId, channel]);
            return verdict;
          },
        },
      },
    );
    try {
      expect((await gated.api('POST', '/apps', { id: APP })).status).toBe(201);
      for (const version of ['6.0.0', '6.1.0']) {
        const zip = await makeZip({ 'index.html': `<!doctype html><!-- ${version} -->` });
        expect((await uploadBundle(gated, APP, zip, { version })).status).toBe(201);
      }
      expect((await gated.api('PUT', `${channelRoute(APP)}/bundle`, { version: '6.0.0' })).status).toBe(200);
      const start = fakeNow;
      const steps = { version: '6.1.0', steps: '10%:1h,50%:1h,100%' };
      expect((await gated.api('POST', `${channelRoute(APP)}/rollout`, steps)).status).toBe(200);
      // Not asked before a step's time is up.
      await gated.services.rollouts.tick();
      expect(asked).toEqual([]);
      fakeNow = start + HOUR;
      expect(await gated.services.rollouts.tick()).toBe(1);
      expect(asked).toEqual([[APP, 'production']]);
      const [entry] = (await gated.api('GET', `${channelRoute(APP)}/history?limit=1`)).body.items;
      expect(entry.reason).toBe(
        'scheduled rollout: step 2 of 3, 50% of devices (evidence: 0 failures in 120 devices)',
      );

      verdict = { healthy: false, reason: 'evidence: failure rate 9% (95% CI 6-13%) above control 1%' };
      fakeNow = start + 2 * HOUR;
      expect(await gated.services.rollouts.tick()).toBe(1);
      const schedule = (await gated.api('GET', `${channelRoute(APP)}/schedule`)).body;
      expect(schedule).toMatchObject({
        state: 'halted',
        current_step: 2,
        reason: `scheduled rollout halted after step 2 of 3 (50%): ${verdict.reason}`,
      });
      expect((await gated.api('GET', channelRoute(APP))).body).toMatchObject({
        version: '6.0.0',
        rollout: null,
      });
    } finally {
      await gated.stop();
    }
  });
});
