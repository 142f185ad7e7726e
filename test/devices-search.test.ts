import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deviceInfo, startTestServer, type TestServer } from './helpers/server.js';

const APP = 'com.example.search';

describe('GET /apps/APP/devices?q=', () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer();
    expect((await server.api('POST', '/apps', { id: APP })).status).toBe(201);
    const devices: [string, string][] = [
      ['a1b2-0001', ''],
      ['a1b2-0002', 'alice@example.com'],
      ['c3d4-0003', 'bob'],
      ['c3d4-0004', 'al_100%'],
      ['e5f6-0005', 'alX100'],
    ];
    for (const [id, custom] of devices) {
      const answer = await server.device(
        'POST',
        '/updates',
        deviceInfo({ app_id: APP, device_id: id, custom_id: custom }),
      );
      expect(answer.status).toBe(200);
    }
  });

  afterAll(async () => {
    await server?.stop();
  });

  const ids = async (query: string) => {
    const { status, body } = await server.api('GET', `/apps/${APP}/devices?${query}`);
    expect(status, query).toBe(200);
    return (body.items as { device_id: string }[]).map((device) => device.device_id).sort();
  };

  it('finds devices whose id or custom id starts with the text', async () => {
    expect(await ids('q=a1b2')).toEqual(['a1b2-0001', 'a1b2-0002']);
    expect(await ids('q=c3d4-0003')).toEqual(['c3d4-0003']);
    expect(await ids('q=bob')).toEqual(['c3d4-0003']);
    expect(await ids('q=al')).toEqual(['a1b2-0002', 'c3d4-0004', 'e5f6-0005']);
    expect(await ids('q=0001')).toEqual([]);
    expect(await ids('q=')).toHaveLength(5);
  });

  it('ignores case, on every database (iOS sends upper-case ids, Android lower-case)', async () => {
    expect(await ids('q=A1B2')).toEqual(['a1b2-0001', 'a1b2-0002']);
    expect(await ids('q=BOB')).toEqual(['c3d4-0003']);
    expect(await ids('q=ALx1')).toEqual(['e5f6-0005']);
  });

  it('takes % and _ literally', async () => {
    expect(await ids(`q=${encodeURIComponent('al_')}`)).toEqual(['c3d4-0004']);
    expect(await ids(`q=${encodeURIComponent('al_100%')}`)).toEqual(['c3d4-0004']);
    expect(await ids(`q=${encodeURIComponent('%')}`)).toEqual([]);
    expect(await ids(`q=${encodeURIComponent('\\')}`)).toEqual([]);
  });

  it('pages through the matches', async () => {
    const first = await server.api('GET', `/apps/${APP}/devices?q=a&limit=1`);
    expect(first.body.items).toHaveLength(1);
    const second = await server.api(
      'GET',
      `/apps/${APP}/devices?q=a&limit=5&cursor=${encodeURIComponent(first.body.next_cursor)}`,
    );
    const all = [...first.body.items, ...second.body.items].map((device: any) => device.device_id).sort();
    expect(all).toEqual(['a1b2-0001', 'a1b2-0002', 'c3d4-0004', 'e5f6-0005']);
  });

  it('refuses an overlong search', async () => {
    const { status, body } = await server.api('GET', `/apps/${APP}/devices?q=${'x'.repeat(300)}`);
    expect(status).toBe(400);
    expect(body.message).toContain('q');
  });
});
