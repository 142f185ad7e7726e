/**
 * The Dockerfile, built and run with Podman: the image serves /healthz and the dashboard as a
 * non-root user, its HEALTHCHECK passes, and `podman stop` (SIGTERM to node, PID 1) ends it with 0.
 *
 * It needs Podman and a base image already in local storage, and is skipped with a message
 * otherwise: the test never pulls. The base is `node:20-slim` (`podman pull docker.io/library/node:20-slim`),
 * or any Debian-based image with Node.js 20.19+ and npm named by OVERAIR_CONTAINER_BASE_IMAGE
 * (docs/deployment-container.md). The build runs `npm ci` against the npm registry and `apt-get`
 * against Debian's mirror; about 2 to 3 minutes on two cores the first time, seconds with the layer
 * cache. It runs once, in the sqlite project.
 */
import { execFile, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from './helpers/ports.js';
import { waitFor } from './helpers/wait.js';

const ROOT = path.resolve(import.meta.dirname, '..');
const run = promisify(execFile);
const BASE_IMAGE = process.env.OVERAIR_CONTAINER_BASE_IMAGE ?? 'docker.io/library/node:20-slim';

function whyNot(): string | undefined {
  if (process.env.OVERAIR_TEST_BACKEND === 'postgres') return 'runs in the sqlite project only';
  if (spawnSync('podman', ['--version']).status !== 0) return 'podman is not installed';
  if (spawnSync('podman', ['image', 'exists', BASE_IMAGE]).status !== 0) {
    return `the base image ${BASE_IMAGE} is not in local storage (podman pull it, or set OVERAIR_CONTAINER_BASE_IMAGE)`;
  }
  return undefined;
}

const skipReason = whyNot();
if (skipReason && process.env.OVERAIR_TEST_BACKEND !== 'postgres') {
  console.warn(`container.test.ts skipped: ${skipReason}`);
}

describe.skipIf(skipReason !== undefined)('the container image', () => {
  const id = randomBytes(4).toString('hex');
  const image = `localhost/overair-test:${id}`;
  const container = `overair-test-${id}`;
  let base: string;

  beforeAll(async () => {
    const started = Date.now();
    await run(
      'podman',
      ['build', '--format', 'docker', '--build-arg', `BASE_IMAGE=${BASE_IMAGE}`, '-t', image, ROOT],
      { timeout: 10 * 60_000, maxBuffer: 64 * 1024 * 1024 },
    );
    console.info(`container.test.ts: podman build ${Date.now() - started} ms`);
    const port = await freePort();
    await run('podman', ['run', '-d', '--name', container, '-p', `127.0.0.1:${port}:3000`, image], {
      timeout: 60_000,
    });
    base = `http://127.0.0.1:${port}`;
  }, 11 * 60_000);

  afterAll(async () => {
    await run('podman', ['rm', '--force', '--volumes', container]).catch(() => undefined);
    await run('podman', ['rmi', '--force', image]).catch(() => undefined);
  }, 60_000);

  it('answers /healthz and the dashboard, as a non-root user', async () => {
    await waitFor(
      () =>
        fetch(`${base}/healthz`).then(
          (r) => r.status === 200,
          () => false,
        ),
      {
        timeoutMs: 30_000,
        intervalMs: 200,
      },
    );
    const page = await fetch(`${base}/`);
    expect(page.status).toBe(200);
    expect(await page.text()).toMatch(/<script[^>]+src="\/assets\/[^"]+\.js"/);

    const { stdout: uid } = await run('podman', ['exec', container, 'id', '-u']);
    expect(uid.trim()).toBe('10001');
    const { stdout: env } = await run('podman', ['exec', container, 'printenv', 'OVERAIR_DATA_DIR']);
    expect(env.trim()).toBe('/data');
  });

  it('passes its HEALTHCHECK', async () => {
    // Run on demand: podman schedules health checks through systemd timers, which a machine
    // without systemd lacks. Exit 0 is healthy.
    const { stdout } = await run('podman', ['healthcheck', 'run', container], { timeout: 30_000 });
    expect(stdout.trim()).toMatch(/^(healthy)?$/);
  });

  it('logs JSON lines and exits 0 at SIGTERM', async () => {
    const { stdout: signal } = await run('podman', [
      'inspect',
      '--format',
      '{{.Config.StopSignal}}',
      container,
    ]);
    expect(signal.trim()).toMatch(/^(15|SIGTERM)$/);
    const started = Date.now();
    await run('podman', ['stop', '--time', '30', container], { timeout: 60_000 });
    const { stdout: code } = await run('podman', ['inspect', '--format', '{{.State.ExitCode}}', container]);
    expect(code.trim()).toBe('0');
    // Well before the 30 s after which podman would have sent SIGKILL.
    expect(Date.now() - started).toBeLessThan(25_000);

    const { stdout: logs } = await run('podman', ['logs', container]);
    const records = logs
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as { msg?: string });
    expect(records.map((record) => record.msg)).toContain('overair listening');
    expect(records.some((record) => record.msg?.startsWith('shutting down'))).toBe(true);
  });
});
