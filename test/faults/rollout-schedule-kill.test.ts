/**
 * A scheduled rollout survives `kill -9`: `overair serve` killed in the middle of a step and started
 * again on the same data goes on with the schedule from the database, starting each step when the
 * one before has lasted its time (never early; late by at most a tick and the dead process's lease),
 * and takes every step exactly once. Runs on each project's backend. Real time, real process: steps
 * of 4 s, a 1 s tick (so a 3 s lease).
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { backendForServer } from '../helpers/backends.js';
import { ADMIN_TOKEN, sendJson, uploadBundle } from '../helpers/server.js';
import { spawnServer, type SpawnedServer } from '../helpers/spawned-server.js';
import { waitFor } from '../helpers/wait.js';
import { makeZip } from '../helpers/zips.js';

const APP = 'com.example.scheduled-kill';
const STEP_MS = 4000;
const TICK_MS = 1000;
const LEASE_MS = 3 * TICK_MS;
const ROUTE = `/apps/${APP}/channels/production`;

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function serve(env: Record<string, string>): Promise<SpawnedServer> {
  const server = await spawnServer(env);
  cleanups.push(() => server.kill());
  return server;
}

const admin = (server: SpawnedServer, method: string, route: string, body?: unknown) =>
  sendJson(`${server.url}/api/v1${route}`, method, body, { authorization: `Bearer ${ADMIN_TOKEN}` });

describe('kill -9 during a scheduled rollout', () => {
  it('resumes it after a restart: each step once, in order, never before its time', async () => {
    const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'overair-schedule-kill-'));
    const backend = await backendForServer();
    cleanups.push(async () => {
      await backend.cleanup();
      await fs.rm(dataDir, { recursive: true, force: true });
    });
    const env = {
      OVERAIR_DATA_DIR: dataDir,
      OVERAIR_ADMIN_TOKEN: ADMIN_TOKEN,
      OVERAIR_ROLLOUT_TICK: `${TICK_MS / 1000}s`,
      ...backend.env,
    };

    const first = await serve(env);
    expect((await admin(first, 'POST', '/apps', { id: APP })).status).toBe(201);
    for (const version of ['1.0.0', '1.1.0']) {
      const zip = await makeZip({ 'index.html': `<!doctype html><p>${version}</p>` });
      expect((await uploadBundle(first, APP, zip, { version })).status).toBe(201);
    }
    expect((await admin(first, 'PUT', `${ROUTE}/bundle`, { version: '1.0.0' })).status).toBe(200);
    const begun = await admin(first, 'POST', `${ROUTE}/rollout`, {
      version: '1.1.0',
      steps: '10%:4s,30%:4s,60%:4s,100%',
    });
    expect(begun.status).toBe(200);
    /** When each step started, as the schedule says (polled every 50-100 ms; a step lasts 4 s). */
    const startedAt = new Map<number, number>([[1, Date.parse(begun.body.schedule.step_started_at)]]);
    const seen = (schedule: { current_step: number; step_started_at: string }) =>
      startedAt.set(schedule.current_step, Date.parse(schedule.step_started_at));

    // In the middle of step 2: killed.
    const second = await waitFor(
      async () => {
        const schedule = (await admin(first, 'GET', `${ROUTE}/schedule`)).body;
        seen(schedule);
        return schedule.current_step === 2 && schedule;
      },
      { timeoutMs: STEP_MS + TICK_MS + 3000, intervalMs: 50 },
    );
    const secondStarted = Date.parse(second.step_started_at);
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, secondStarted + 1000 - Date.now())));
    await first.kill();
    expect((await first.exited).signal).toBe('SIGKILL');

    const restarted = await serve(env);
    // Where it was (or, when the start took longer than the rest of the step, at the next one).
    const resumed = (await admin(restarted, 'GET', `${ROUTE}/schedule`)).body;
    expect(resumed.state).toBe('running');
    expect([2, 3]).toContain(resumed.current_step);
    seen(resumed);
    const done = await waitFor(
      async () => {
        const schedule = (await admin(restarted, 'GET', `${ROUTE}/schedule`)).body;
        seen(schedule);
        return schedule.state !== 'running' && schedule;
      },
      { timeoutMs: 3 * STEP_MS + 3 * (TICK_MS + LEASE_MS) + 5000, intervalMs: 100 },
    );
    expect(done).toMatchObject({ state: 'completed', current_step: 4 });
    expect((await admin(restarted, 'GET', ROUTE)).body).toMatchObject({ version: '1.1.0', rollout: null });

    // Every step once, in order.
    const history = ((await admin(restarted, 'GET', `${ROUTE}/history?limit=100`)).body.items as any[])
      .filter((entry) => entry.version === '1.1.0')
      .reverse();
    expect(history.map((entry) => /step (\d) of 4/.exec(entry.reason)?.[1])).toEqual(['1', '2', '3', '4']);
    // Each begun no sooner than its time after the one before, and late by a tick at most (by the
    // dead process's lease too, across the kill), plus a loaded machine's slack.
    expect([...startedAt.keys()].sort()).toEqual([1, 2, 3, 4]);
    for (const step of [2, 3, 4]) {
      const gap = startedAt.get(step)! - startedAt.get(step - 1)!;
      expect(gap).toBeGreaterThanOrEqual(STEP_MS);
      expect(gap).toBeLessThanOrEqual(STEP_MS + TICK_MS + LEASE_MS + 2000);
    }
  }, 90_000);
});
