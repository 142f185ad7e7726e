/**
 * What the HTTP layer answers to requests that are wrong or hostile rather than failed: invalid
 * byte ranges and wrong methods. Real servers, real HTTP.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, startTestServer, uploadBundle, type TestServer } from '../helpers/server.js';
import { makeZip } from '../helpers/zips.js';

const APP = 'com.example.faults';

describe('byte ranges of a download (RFC 9110 §14)', () => {
  let server: TestServer;
  let zip: Buffer;
  let url: string;

  beforeAll(async () => {
    // Overair's own download route; with S3 storage downloads are redirects to the bucket.
    server = await startTestServer({ OVERAIR_STORAGE: 'fs' });
    zip = await makeZip({ 'index.html': '<!doctype html><title>range</title>'.repeat(40) });
    expect((await server.api('POST', '/apps', { id: APP })).status).toBe(201);
    const up = await uploadBundle(server, APP, zip, { version: '1.0.0' });
    expect(up.status).toBe(201);
    url = up.body.url;
  });
  afterAll(() => server.stop());

  it.each(['bytes=10-5', 'bytes=-', 'bytes=x-y', 'bytes=0-1,4-5'])(
    'ignores the invalid or multiple range %s and serves the whole file with 200',
    async (range) => {
      const response = await fetch(url, { headers: { range } });
      expect(response.status).toBe(200);
      expect(response.headers.get('content-range')).toBeNull();
      expect(Buffer.from(await response.arrayBuffer()).equals(zip)).toBe(true);
    },
  );

  it('serves a suffix longer than the file as the whole file', async () => {
    const response = await fetch(url, { headers: { range: `bytes=-${zip.length * 2}` } });
    expect(response.status).toBe(206);
    expect(response.headers.get('content-range')).toBe(`bytes 0-${zip.length - 1}/${zip.length}`);
    expect(Buffer.from(await response.arrayBuffer()).equals(zip)).toBe(true);
  });

  it('answers 416 to a range starting past the end', async () => {
    const response = await fetch(url, { headers: { range: `bytes=${zip.length}-${zip.length + 10}` } });
    expect(response.status).toBe(416);
    expect(response.headers.get('content-range')).toBe(`bytes */${zip.length}`);
    expect(await response.json()).toMatchObject({ error: 'range_not_satisfiable' });
  });
});

describe('wrong methods on known paths', () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer();
    expect((await server.api('POST', '/apps', { id: APP })).status).toBe(201);
  });
  afterAll(() => server.stop());

  async function send(method: string, route: string, token?: string) {
    const response = await fetch(server.url + route, {
      method,
      headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
    });
    const text = await response.text();
    return { status: response.status, allow: response.headers.get('allow'), text };
  }

  it.each([
    ['GET', '/updates', 'POST'],
    ['PUT', '/updates', 'POST'],
    ['GET', '/stats', 'POST'],
    ['PATCH', '/channel_self', 'DELETE, GET, HEAD, POST, PUT'],
    ['DELETE', '/healthz', 'GET, HEAD'],
    ['POST', '/download/abc', 'GET, HEAD'],
    ['POST', `/v1/apps/${APP}/bundles/latest`, 'GET, HEAD'],
  ])('answers %s %s with 405, Allow: %s and a JSON body', async (method, route, allow) => {
    const answer = await send(method, route);
    expect(answer.status).toBe(405);
    expect(answer.allow).toBe(allow);
    expect(JSON.parse(answer.text)).toEqual({ error: 'method_not_allowed', message: expect.any(String) });
  });

  it.each([
    ['PATCH', '/api/v1/apps', 'GET, HEAD, POST'],
    ['PUT', `/api/v1/apps/${APP}`, 'DELETE, GET, HEAD, PATCH'],
    ['GET', `/api/v1/apps/${APP}/channels/main/rollout`, 'POST'],
    ['POST', '/api/v1/whoami', 'GET, HEAD'],
  ])('answers an authenticated %s %s with 405, Allow: %s', async (method, route, allow) => {
    const answer = await send(method, route, ADMIN_TOKEN);
    expect(answer.status).toBe(405);
    expect(answer.allow).toBe(allow);
    expect(JSON.parse(answer.text)).toMatchObject({ error: 'method_not_allowed' });
  });

  it('still authenticates the admin API first, and answers 404 to unknown paths', async () => {
    expect((await send('PATCH', '/api/v1/apps')).status).toBe(401);
    const unknown = await send('POST', '/api/v1/nothing-here', ADMIN_TOKEN);
    expect(unknown).toMatchObject({ status: 404, allow: null });
    expect((await send('POST', '/no/such/path')).status).toBe(404);
  });
});
