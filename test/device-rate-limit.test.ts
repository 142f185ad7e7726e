import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deviceInfo, startTestServer, type TestServer } from './helpers/server.js';

const APP = 'com.example.limited';

describe('the deliberate device rate limit', () => {
  let limited: TestServer;
  let open: TestServer;

  beforeAll(async () => {
    [limited, open] = await Promise.all([
      startTestServer({ OVERAIR_DEVICE_RATE_LIMIT: '5', OVERAIR_DEVICE_RATE_WINDOW: '1m' }),
      startTestServer(),
    ]);
    for (const server of [limited, open]) await server.api('POST', '/apps', { id: APP });
  });
  afterAll(() => Promise.all([limited.stop(), open.stop()]));

  it('answers 429 with Retry-After past the limit, across the device routes, in the shape the plugin reads', async () => {
    const info = deviceInfo({ app_id: APP });
    for (let i = 0; i < 4; i++) expect((await limited.device('POST', '/updates', info)).status).toBe(200);
    expect((await limited.device('POST', '/stats', { ...info, action: 'set' })).status).toBe(200);
    const refused = await limited.device('POST', '/updates', info);
    expect(refused.status).toBe(429);
    const seconds = Number(refused.headers.get('retry-after'));
    expect(seconds).toBeGreaterThan(0);
    expect(seconds).toBeLessThanOrEqual(60);
    expect(refused.body).toEqual({
      error: 'too_many_requests',
      message: expect.any(String),
      retryAfterSeconds: seconds,
      kind: 'failed',
    });
    const stats = await limited.device('POST', '/stats', { ...info, action: 'set' });
    expect(stats.status).toBe(429);
    expect(stats.headers.get('retry-after')).toBeTruthy();
    expect((await limited.device('PUT', '/channel_self', info)).status).toBe(429);
    // Admin routes have their own, separate limit (failed logins only).
    expect((await limited.api('GET', '/apps')).status).toBe(200);
  });

  it('never answers 429 to devices when no limit is set', async () => {
    const info = deviceInfo({ app_id: APP });
    const statuses = await Promise.all(
      Array.from({ length: 50 }, () => open.device('POST', '/updates', info)),
    );
    expect(statuses.every((answer) => answer.status === 200)).toBe(true);
  });

  it('names the setting when its value is wrong', async () => {
    await expect(startTestServer({ OVERAIR_DEVICE_RATE_LIMIT: 'lots' })).rejects.toThrow(
      'OVERAIR_DEVICE_RATE_LIMIT',
    );
  });
});
