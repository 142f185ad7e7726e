import { describe, expect, it } from 'vitest';
import { createLogger } from './log.js';

function collector() {
  const lines: string[] = [];
  return { lines, destination: { write: (text: string) => void lines.push(text) } };
}

describe('createLogger', () => {
  it('writes JSON lines when the output is not a terminal', () => {
    const { lines, destination } = collector();
    const log = createLogger('info', { isTTY: false, destination });
    log.info({ url: 'http://127.0.0.1:3000' }, 'listening');
    expect(lines).toHaveLength(1);
    const record = JSON.parse(lines[0]!) as Record<string, unknown>;
    expect(record).toMatchObject({ level: 30, msg: 'listening', url: 'http://127.0.0.1:3000' });
    expect(record.time).toMatch(/^\d{4}-\d\d-\d\dT/);
    expect(lines[0]).toContain('"url":"http://127.0.0.1:3000"');
  });

  it('prints readable lines through pino-pretty in a terminal', () => {
    const { lines, destination } = collector();
    const log = createLogger('info', { isTTY: true, destination });
    log.info({ url: 'http://127.0.0.1:3000' }, 'listening');
    log.debug('below the level');
    expect(lines).toHaveLength(1);
    // Colours follow the real terminal (none under the test runner); strip them either way.
    // eslint-disable-next-line no-control-regex
    const line = lines[0]!.replace(/\u001b\[[0-9;]*m/g, '');
    expect(() => JSON.parse(line) as unknown).toThrow();
    expect(line).toMatch(/^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: listening\n/);
    expect(line).toContain('url: "http://127.0.0.1:3000"');
  });

  it('prints an error with its stack in a terminal', () => {
    const { lines, destination } = collector();
    createLogger('info', { isTTY: true, destination }).error({ err: new Error('boom') }, 'failed');
    expect(lines.join('')).toMatch(/ERROR: failed[\s\S]*Error: boom[\s\S]*at /);
  });
});
