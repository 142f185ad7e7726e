import fs from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveInside } from '../src/http/dashboard.js';
import { startTestServer, type TestServer } from './helpers/server.js';

/** A raw GET whose path is sent exactly as given (fetch would normalise `..` and backslashes). */
function rawGet(
  server: TestServer,
  route: string,
  headers: Record<string, string> = {},
  method = 'GET',
): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const request = http.request(
      { host: '127.0.0.1', port: server.port, path: route, method, headers },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () =>
          resolve({ status: response.statusCode!, headers: response.headers, body: Buffer.concat(chunks) }),
        );
        response.on('error', reject);
      },
    );
    request.on('error', reject);
    request.end();
  });
}

const INDEX =
  '<!doctype html><html><head><script type="module" src="/assets/app-3f9a.js"></script></head></html>';
const SCRIPT = `console.log(${JSON.stringify('x'.repeat(5000))});`;
const SECRET = 'outside the dashboard folder';

describe('the dashboard, served by the server', () => {
  let root: string;
  let server: TestServer;

  beforeAll(async () => {
    root = await fs.mkdtemp(path.join(os.tmpdir(), 'overair-web-'));
    await fs.mkdir(path.join(root, 'web', 'assets'), { recursive: true });
    await fs.writeFile(path.join(root, 'web', 'index.html'), INDEX);
    await fs.writeFile(path.join(root, 'web', 'assets', 'app-3f9a.js'), SCRIPT);
    await fs.writeFile(path.join(root, 'web', 'favicon.svg'), '<svg xmlns="http://www.w3.org/2000/svg"/>');
    await fs.writeFile(path.join(root, 'web', '.env'), SECRET);
    await fs.writeFile(path.join(root, 'secret.txt'), SECRET);
    server = await startTestServer({}, { dashboardDir: path.join(root, 'web') });
  });

  afterAll(async () => {
    await server?.stop();
    await fs.rm(root, { recursive: true, force: true });
  });

  it('answers / with index.html, never cached, with the security headers', async () => {
    const answer = await rawGet(server, '/');
    expect(answer.status).toBe(200);
    expect(answer.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(answer.body.toString()).toBe(INDEX);
    expect(answer.headers['cache-control']).toBe('no-cache');
    expect(answer.headers['content-security-policy']).toContain("default-src 'self'");
    expect(answer.headers['content-security-policy']).toContain("frame-ancestors 'none'");
    expect(answer.headers['x-frame-options']).toBe('DENY');
    expect(answer.headers['referrer-policy']).toBe('no-referrer');
    expect(answer.headers['x-content-type-options']).toBe('nosniff');
  });

  it("answers the dashboard's own paths with index.html (dots in app ids and versions included)", async () => {
    for (const route of [
      '/apps',
      '/apps/com.example.app',
      '/apps/com.example.app/bundles/1.0.1',
      '/tokens?x=1',
    ]) {
      const answer = await rawGet(server, route);
      expect(answer.status, route).toBe(200);
      expect(answer.body.toString(), route).toBe(INDEX);
      expect(answer.headers['cache-control'], route).toBe('no-cache');
    }
  });

  it('serves hashed assets for a year, gzipped for clients that accept it, with ETags', async () => {
    const plain = await rawGet(server, '/assets/app-3f9a.js');
    expect(plain.status).toBe(200);
    expect(plain.headers['content-type']).toBe('text/javascript; charset=utf-8');
    expect(plain.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    expect(plain.body.toString()).toBe(SCRIPT);
    expect(plain.headers['content-encoding']).toBeUndefined();

    const gzipped = await rawGet(server, '/assets/app-3f9a.js', { 'accept-encoding': 'gzip, br' });
    expect(gzipped.headers['content-encoding']).toBe('gzip');
    expect(gzipped.body.length).toBeLessThan(SCRIPT.length / 10);
    expect(gunzipSync(gzipped.body).toString()).toBe(SCRIPT);

    const again = await rawGet(server, '/assets/app-3f9a.js', { 'if-none-match': plain.headers.etag! });
    expect(again.status).toBe(304);
    expect(again.body.length).toBe(0);

    const icon = await rawGet(server, '/favicon.svg');
    expect(icon.headers['content-type']).toBe('image/svg+xml');
    expect(icon.headers['cache-control']).toBe('no-cache');
  });

  it('answers HEAD like GET, without a body', async () => {
    const answer = await rawGet(server, '/apps/com.example.app', {}, 'HEAD');
    expect(answer.status).toBe(200);
    expect(answer.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(answer.body.length).toBe(0);
  });

  it('answers a missing asset with a 404, not with index.html', async () => {
    const answer = await rawGet(server, '/assets/gone-1234.js');
    expect(answer.status).toBe(404);
    expect(JSON.parse(answer.body.toString())).toMatchObject({ error: 'not_found' });
  });

  it('never serves a file outside the folder, nor hidden files', async () => {
    const attempts = [
      '/../secret.txt',
      '/..%2fsecret.txt',
      '/%2e%2e/secret.txt',
      '/%2E%2E%2Fsecret.txt',
      '/assets/..%2f..%2fsecret.txt',
      '/assets/%2e%2e/%2e%2e/secret.txt',
      '/..%5csecret.txt',
      '/..\\secret.txt',
      '/%00/secret.txt',
      `/${encodeURIComponent(path.join(root, 'secret.txt'))}`,
      '//etc/passwd',
      '/.env',
      '/%2eenv',
      '/%',
    ];
    for (const route of attempts) {
      const answer = await rawGet(server, route);
      expect(answer.body.toString(), route).not.toContain(SECRET);
      expect(answer.body.toString(), route).not.toContain('root:');
      expect([200, 400, 404], route).toContain(answer.status);
    }
    expect(resolveInside('/srv/web', '/a/../../secret')).toBeNull();
    expect(resolveInside('/srv/web', '/%2e%2e/secret')).toBeNull();
    expect(resolveInside('/srv/web', '/assets/x.js')).toBe(path.join('/srv/web', 'assets', 'x.js'));
  });

  it('leaves the API and the device routes alone', async () => {
    expect((await server.device('GET', '/healthz')).body).toEqual({ status: 'ok' });
    for (const route of [
      '/api',
      '/api/v1/nope',
      '/updates',
      '/stats',
      '/channel_self/x',
      '/check',
      '/download',
      // Dot segments, which the URL parser resolves (to /) before routing.
      '/download/..',
      '/download/%2e%2e',
      '/api/v1/..',
      '/apps/../..',
    ]) {
      const answer = await rawGet(server, route);
      expect(answer.status, route).toBeGreaterThanOrEqual(400);
      expect(answer.headers['content-type'], route).toMatch(/^application\/json/);
      expect(answer.body.toString(), route).not.toContain('<html');
    }
  });
});

describe('without a built dashboard', () => {
  it('answers / with a 503 that says to build it, and the API still works', async () => {
    const server = await startTestServer({}, { dashboardDir: path.join(os.tmpdir(), 'overair-no-such-dir') });
    try {
      const answer = await server.device('GET', '/');
      expect(answer.status).toBe(503);
      expect(answer.body.error).toBe('dashboard_not_built');
      expect(answer.body.message).toContain('npm run build');
      expect((await server.device('GET', '/apps/x')).status).toBe(503);
      expect((await server.api('GET', '/apps')).status).toBe(200);
    } finally {
      await server.stop();
    }
  });
});
