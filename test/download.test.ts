import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VECTORS, startTestServer, uploadBundle, type TestServer } from './helpers/server.js';

// Overair's own download route, which serves bundles from local storage. With S3 storage the same
// route redirects to a presigned URL instead: test/s3-server.test.ts.
describe('bundle downloads from local storage', () => {
  let server: TestServer;
  let zip: Buffer;
  let url: string;
  let sha: string;

  beforeAll(async () => {
    server = await startTestServer({ OVERAIR_STORAGE: 'fs' });
    zip = await fs.readFile(path.join(VECTORS, 'bundle.zip'));
    await server.api('POST', '/apps', { id: 'com.example.dl' });
    const up = await uploadBundle(server, 'com.example.dl', zip, { version: '1.0.0' });
    ({ url, sha256: sha } = up.body);
  });
  afterAll(() => server.stop());

  it('serves the whole bundle with length, strong ETag and immutable caching, never encoded', async () => {
    const response = await fetch(url, { headers: { 'accept-encoding': 'gzip, br' } });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-length')).toBe(String(zip.length));
    expect(response.headers.get('etag')).toBe(`"${sha}"`);
    expect(response.headers.get('cache-control')).toContain('immutable');
    expect(response.headers.get('accept-ranges')).toBe('bytes');
    expect(response.headers.get('content-encoding')).toBeNull();
    expect(Buffer.from(await response.arrayBuffer()).equals(zip)).toBe(true);
  });

  it('resumes with a byte range', async () => {
    const response = await fetch(url, { headers: { range: 'bytes=1000-' } });
    expect(response.status).toBe(206);
    expect(response.headers.get('content-range')).toBe(`bytes 1000-${zip.length - 1}/${zip.length}`);
    expect(Buffer.from(await response.arrayBuffer()).equals(zip.subarray(1000))).toBe(true);

    const middle = await fetch(url, { headers: { range: 'bytes=10-19' } });
    expect(Buffer.from(await middle.arrayBuffer()).equals(zip.subarray(10, 20))).toBe(true);
  });

  it('answers 416 for a range past the end', async () => {
    const response = await fetch(url, { headers: { range: `bytes=${zip.length}-` } });
    expect(response.status).toBe(416);
    expect(response.headers.get('content-range')).toBe(`bytes */${zip.length}`);
  });

  it('answers HEAD with the headers only, and 304 to a matching If-None-Match', async () => {
    const head = await fetch(url, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-length')).toBe(String(zip.length));
    const cached = await fetch(url, { headers: { 'if-none-match': `"${sha}"` } });
    expect(cached.status).toBe(304);
  });

  it('answers a JSON 404 for an unknown or malformed digest', async () => {
    for (const file of ['0'.repeat(64), 'not-a-digest', '..%2F..%2Fetc%2Fpasswd']) {
      const response = await fetch(`${server.url}/download/${file}`);
      expect(response.status).toBe(404);
      expect(await response.json()).toMatchObject({ error: 'bundle_not_found' });
    }
  });
});
