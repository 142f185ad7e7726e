import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { hugePageMode } from '../test/helpers/huge-pages.js';
import { SERVER_ENVIRONMENT, SERVER_NODE_FLAGS } from './server-node-flags.js';

const ROOT = path.resolve(import.meta.dirname, '..');
const read = (file: string) => fs.readFileSync(path.join(ROOT, file), 'utf8');

describe('the Node flags the server runs with', () => {
  it('are those of npm start', () => {
    const start = (JSON.parse(read('package.json')) as { scripts: Record<string, string> }).scripts.start!;
    expect(start).toBe(`node ${SERVER_NODE_FLAGS.join(' ')} dist/cli/main.js serve`);
  });

  it('are those of the systemd unit in the deployment guide', () => {
    expect(read('docs/deployment.md')).toContain(
      `ExecStart=/usr/bin/node ${SERVER_NODE_FLAGS.join(' ')} dist/cli/main.js serve`,
    );
  });

  it("are those of the Docker image's entry point", () => {
    const entrypoint = /^ENTRYPOINT (\[.*\])$/m.exec(read('Dockerfile'))?.[1];
    expect(JSON.parse(entrypoint ?? 'null')).toEqual(['node', ...SERVER_NODE_FLAGS, '/app/dist/cli/main.js']);
  });
});

/** Huge pages (kB) of a Node process that fills a 64 MB typed array, run with `env`. */
function hugePagesOfTypedArray(env: Record<string, string>): number {
  const script = `
    const a = new Float64Array(8 * 1024 * 1024); a.fill(1);
    const rollup = require('node:fs').readFileSync('/proc/self/smaps_rollup', 'utf8');
    process.stdout.write(/AnonHugePages:\\s+(\\d+)/.exec(rollup)[1]);`;
  const { GLIBC_TUNABLES: _, ...inherited } = process.env;
  return Number(
    execFileSync(process.execPath, ['-e', script], { env: { ...inherited, ...env }, encoding: 'utf8' }),
  );
}

describe('the environment the server runs with', () => {
  it('is that of the Docker image', () => {
    for (const [name, value] of Object.entries(SERVER_ENVIRONMENT)) {
      expect(read('Dockerfile')).toMatch(new RegExp(`^ENV ${name}=${value}$`, 'm'));
    }
  });

  it('is that of the systemd unit in the deployment guide', () => {
    for (const [name, value] of Object.entries(SERVER_ENVIRONMENT)) {
      expect(read('docs/deployment.md')).toContain(`Environment=${name}=${value}\n`);
    }
  });

  // What the setting is for: typed arrays (the device memory) on huge pages, where the kernel gives
  // them on request. A misspelt tunable is ignored by glibc without a word: this is what notices.
  it.skipIf(hugePageMode() !== 'madvise')(
    'gives large typed arrays huge pages, where the kernel has them on request',
    () => {
      expect(hugePagesOfTypedArray({})).toBe(0);
      expect(hugePagesOfTypedArray({ ...SERVER_ENVIRONMENT })).toBeGreaterThanOrEqual(32 * 1024);
    },
  );
});
