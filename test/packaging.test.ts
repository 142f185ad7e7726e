/**
 * The package as npm users get it: `npm pack` (its prepack step builds), then `npm install` of the
 * tarball into an empty folder, then the `overair` bin of that install. What the tarball lacks (a
 * file outside `files`, a runtime import of a devDependency such as tsx) fails here, not for users.
 *
 * The install is real: dependencies come from the npm registry (through the local npm cache when it
 * has them). Install scripts are skipped and better-sqlite3's native addon is copied from this
 * repository's own install (the same pinned version, built for this Node): compiling it again, as npm
 * would where no prebuilt binary can be fetched, took a minute or two of both cores and tests
 * better-sqlite3, not this package. It runs once, in the sqlite project: the tarball is the same for
 * both backends.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from './helpers/ports.js';
import { waitFor } from './helpers/wait.js';

const ROOT = path.resolve(import.meta.dirname, '..');
const run = promisify(execFile);
const PACK_AND_INSTALL_TIMEOUT_MS = 8 * 60_000;

/**
 * This environment without the npm_* variables of the npm that may have started vitest (they would
 * point the inner npm at this repository), without OVERAIR_* settings, and without vitest's
 * NODE_ENV=test, with which the prepack build would make a development build of the dashboard.
 */
function cleanEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!/^(npm_|OVERAIR_|VITEST|NODE_ENV$)/i.test(key)) env[key] = value;
  }
  return env;
}

const postgresProject = process.env.OVERAIR_TEST_BACKEND === 'postgres';

describe.skipIf(postgresProject)('the npm package', () => {
  let work: string;
  let app: string;
  let server: ChildProcess | undefined;

  beforeAll(async () => {
    work = await fs.mkdtemp(path.join(os.tmpdir(), 'overair-packaging-'));
    const packDir = path.join(work, 'pack');
    app = path.join(work, 'app');
    await fs.mkdir(packDir);
    await fs.mkdir(app);
    const env = cleanEnv();

    let started = Date.now();
    await run('npm', ['pack', '--pack-destination', packDir], {
      cwd: ROOT,
      env,
      timeout: 3 * 60_000,
      maxBuffer: 16 * 1024 * 1024,
    });
    const packMs = Date.now() - started;
    const [tarball] = (await fs.readdir(packDir)).filter((name) => name.endsWith('.tgz'));
    expect(tarball).toMatch(/^overair-.+\.tgz$/);

    started = Date.now();
    await run(
      'npm',
      [
        'install',
        '--no-audit',
        '--no-fund',
        '--prefer-offline',
        '--ignore-scripts',
        path.join(packDir, tarball!),
      ],
      { cwd: app, env, timeout: 6 * 60_000, maxBuffer: 16 * 1024 * 1024 },
    );
    const addon = 'node_modules/better-sqlite3/build/Release/better_sqlite3.node';
    await fs.mkdir(path.dirname(path.join(app, addon)), { recursive: true });
    await fs.copyFile(path.join(ROOT, addon), path.join(app, addon));
    const installMs = Date.now() - started;
    console.info(`packaging.test.ts: npm pack (with build) ${packMs} ms, npm install ${installMs} ms`);
  }, PACK_AND_INSTALL_TIMEOUT_MS);

  afterAll(async () => {
    if (server && server.exitCode === null && server.signalCode === null) {
      const gone = new Promise((resolve) => server!.once('exit', resolve));
      server.kill('SIGKILL');
      await gone;
    }
    if (work) await fs.rm(work, { recursive: true, force: true });
  });

  it('holds the compiled server and dashboard, and no tests, sources or devDependencies', async () => {
    const installed = path.join(app, 'node_modules/overair');
    for (const file of ['dist/cli/main.js', 'dist/web/index.html', 'README.md', 'package.json']) {
      expect(existsSync(path.join(installed, file)), file).toBe(true);
    }
    for (const absent of ['src', 'test', 'web', 'dist/log.spec.js', 'tsconfig.json']) {
      expect(existsSync(path.join(installed, absent)), absent).toBe(false);
    }
    for (const devOnly of ['tsx', 'vitest', 'typescript', 'vite']) {
      expect(existsSync(path.join(app, 'node_modules', devOnly)), devOnly).toBe(false);
    }
  });

  it('npx overair --help lists the commands', async () => {
    const { stdout } = await run('npx', ['--yes=false', '--', 'overair', '--help'], {
      cwd: app,
      env: cleanEnv(),
      timeout: 30_000,
    });
    expect(stdout).toMatch(/^\s+serve\b/m);
  });

  // The bin npx runs, started directly: npx (npm 11) does not pass SIGTERM on to the command it
  // started, so a server under npx would outlive the signal. Operators run the bin or node.
  it('overair serve answers /healthz and the dashboard, and exits 0 at SIGTERM', async () => {
    const port = await freePort();
    const data = path.join(work, 'data');
    const child = spawn(
      path.join(app, 'node_modules/.bin/overair'),
      ['serve', '--port', String(port), '--host', '127.0.0.1', '--data', data],
      { cwd: app, env: { ...cleanEnv(), OVERAIR_LOG_LEVEL: 'info' }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    server = child;
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child.once('exit', (code, signal) => resolve({ code, signal })),
    );

    const base = `http://127.0.0.1:${port}`;
    // Stdout is a pipe, not a terminal: JSON lines, the URL among them.
    const line = await waitFor(
      () => {
        if (child.exitCode !== null) throw new Error(`overair serve exited:\n${output}`);
        return output.split('\n').find((text) => text.includes(`"url":"${base}"`));
      },
      { timeoutMs: 30_000, intervalMs: 50 },
    );
    expect(JSON.parse(line)).toMatchObject({ level: 30, url: base });

    const health = await fetch(`${base}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: 'ok' });

    const page = await fetch(`${base}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    const html = await page.text();
    const script = /<script[^>]+src="(\/assets\/[^"]+\.js)"/.exec(html)?.[1];
    expect(script, html).toBeDefined();
    const asset = await fetch(`${base}${script}`);
    expect(asset.status).toBe(200);
    expect(asset.headers.get('content-type')).toMatch(/javascript/);
    const js = await asset.text();
    expect(js.length).toBeGreaterThan(1000);
    // The production build: React's development runtime (jsxDEV) doubles the size.
    expect(js).not.toContain('jsxDEV');

    child.kill('SIGTERM');
    const exit = await Promise.race([
      exited,
      new Promise<never>((_, reject) =>
        setTimeout(() => reject(new Error(`no exit 15 s after SIGTERM:\n${output}`)), 15_000),
      ),
    ]);
    expect(exit, output).toEqual({ code: 0, signal: null });
  });
});
