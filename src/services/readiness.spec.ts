import { describe, expect, it } from 'vitest';
import { createLogger } from '../log.js';
import { Readiness } from './readiness.js';

const log = createLogger('silent');
const never = () => new Promise<void>(() => undefined);

describe('readiness', () => {
  it('is ready when every probe answers', async () => {
    const readiness = new Readiness({ database: async () => {}, storage: async () => {} }, log);
    expect(await readiness.check()).toEqual({ ready: true, checks: { database: 'ok', storage: 'ok' } });
  });

  it('names the probes that failed or did not answer in time', async () => {
    const readiness = new Readiness(
      { database: async () => Promise.reject(new Error('down')), storage: never, other: async () => {} },
      log,
      50,
    );
    expect(await readiness.check()).toEqual({
      ready: false,
      message: 'Not ready: database unreachable, storage timed out',
      checks: { database: 'unavailable', storage: 'timeout', other: 'ok' },
    });
  });

  it('shares one check between probes that arrive together', async () => {
    let calls = 0;
    const readiness = new Readiness(
      {
        database: async () => {
          calls++;
          await new Promise((resolve) => setTimeout(resolve, 20));
        },
      },
      log,
    );
    await Promise.all([readiness.check(), readiness.check(), readiness.check()]);
    expect(calls).toBe(1);
    await readiness.check();
    expect(calls).toBe(2);
  });

  it('is not ready once draining, without probing anything', async () => {
    let calls = 0;
    const readiness = new Readiness({ database: async () => void calls++ }, log);
    readiness.startDraining();
    expect(await readiness.check()).toEqual({
      ready: false,
      message: 'The server is shutting down',
      checks: { server: 'draining' },
    });
    expect(calls).toBe(0);
  });
});
