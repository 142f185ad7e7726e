import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * The CLI's start-up, asserted by what it loads rather than by timing: a command loads its own
 * implementation, and the server, the database drivers, the AWS SDK and the settings' zod schemas
 * only when it uses them. Loading them all cost every command 0.6-0.8 s (test/cli.test.ts's way of
 * running the CLI: a real process from src through tsx; a module-loading hook lists each URL).
 */
const ROOT = path.resolve(import.meta.dirname, '..');

/** Loaded only by the commands that use them; a URL containing one of these is the module or package. */
const HEAVY = {
  server: '/src/server.ts',
  config: '/src/config.ts',
  settings: '/src/config-settings.ts',
  kysely: '/node_modules/kysely/',
  hono: '/node_modules/hono/',
  'better-sqlite3': '/node_modules/better-sqlite3/',
  pg: '/node_modules/pg/',
  'aws-sdk': '/node_modules/@aws-sdk/',
  zod: '/node_modules/zod/',
  pino: '/node_modules/pino/',
  jiti: '/node_modules/jiti/',
  yazl: '/node_modules/yazl/',
  'command implementations': '/src/cli/actions/',
};

describe('overair start-up', () => {
  let dir: string;
  let hooks: string;

  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'overair-startup-'));
    // The hooks run in a thread of their own: they append each URL loaded to OVERAIR_TEST_LOADED.
    await fs.writeFile(
      path.join(dir, 'log-loads.mjs'),
      `import { appendFileSync } from 'node:fs';
export async function load(url, context, next) {
  appendFileSync(process.env.OVERAIR_TEST_LOADED, url + '\\n');
  return next(url, context);
}
`,
    );
    hooks = path.join(dir, 'register.mjs');
    await fs.writeFile(
      hooks,
      `import { register } from 'node:module';
register(${JSON.stringify(pathToFileURL(path.join(dir, 'log-loads.mjs')).href)});
`,
    );
  });
  afterAll(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });

  /** Runs `overair ARGS` and returns its exit code, its output and the URLs it loaded. */
  let runs = 0;
  const load = (args: string[]) =>
    new Promise<{ code: number | null; out: string; loaded: string[] }>((resolve, reject) => {
      const list = path.join(dir, `loaded-${++runs}.txt`);
      const child = spawn(
        process.execPath,
        [
          '--import',
          'tsx',
          '--import',
          pathToFileURL(hooks).href,
          path.join(ROOT, 'src/cli/main.ts'),
          ...args,
        ],
        {
          cwd: ROOT,
          env: {
            ...process.env,
            HOME: dir,
            OVERAIR_TEST_LOADED: list,
            // Nothing listens there: a command that gets as far as the network fails at once.
            OVERAIR_SERVER: 'http://127.0.0.1:9',
            OVERAIR_TOKEN: 'x',
          },
        },
      );
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d));
      child.stderr.on('data', (d: Buffer) => (out += d));
      child.on('error', reject);
      child.on('close', async (code) => {
        const loaded = (await fs.readFile(list, 'utf8').catch(() => '')).split('\n').filter(Boolean);
        resolve({ code, out, loaded });
      });
    });

  const heavyIn = (loaded: string[]) =>
    Object.entries(HEAVY)
      .filter(([, part]) => loaded.some((url) => url.includes(part)))
      .map(([name]) => name);

  it('shows the help of every command, of `bundle upload` and an unknown option from command definitions only', async () => {
    for (const args of [['--help'], ['bundle', 'upload', '--help'], ['help', 'bundle'], ['--version']]) {
      const { code, out, loaded } = await load(args);
      expect(code, args.join(' ')).toBe(args[0] === '--version' ? 1 : 0);
      expect(out).toContain('Usage: overair');
      // The hook saw the CLI itself: an empty list would prove nothing.
      expect(loaded.some((url) => url.endsWith('/src/cli/program.ts'))).toBe(true);
      expect(loaded.some((url) => url.includes('/node_modules/commander/'))).toBe(true);
      expect(heavyIn(loaded), args.join(' ')).toEqual([]);
    }
  });

  it('lists `serve [options]` and shows its flags from the settings list, without loading the server', async () => {
    const top = await load(['--help']);
    expect(top.out).toMatch(/^ {2}serve \[options\] +start the update server/m);
    const serve = await load(['serve', '--help']);
    expect(serve.code).toBe(0);
    expect(serve.out).toContain('--s3-bucket-name <bucket>');
    expect(serve.out).toContain('Only as environment variables (secrets): OVERAIR_ADMIN_TOKEN');
    expect(heavyIn(serve.loaded)).toEqual(['settings', 'zod']);
  });

  it('runs `bundle upload` of a zip without the server, the drivers, the AWS SDK or zod', async () => {
    const zip = path.join(dir, 'missing.zip');
    const upload = await load([
      'bundle',
      'upload',
      '--app',
      'com.example.app',
      '--bundle',
      '1.0.0',
      '--zip',
      zip,
    ]);
    expect(upload.code).toBe(1);
    expect(upload.out).toBe(`overair: ${zip}: no such file\n`);
    // Its implementation ran; nothing it does not use came with it.
    expect(upload.loaded.some((url) => url.endsWith('/src/cli/actions/bundle.ts'))).toBe(true);
    expect(heavyIn(upload.loaded)).toEqual(['command implementations']);
  });
});
