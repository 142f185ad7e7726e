import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { SERVER_NODE_FLAGS } from './server-node-flags.js';

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
