/**
 * Uploads are limited by idleness, not by their total time: a slow but steady upload goes through
 * however long it takes, a stalled one is cut after the idle timeout, and one the client abandons
 * is neither answered nor audited as a database outage, and leaves no staged file. Other requests
 * keep a total time limit (slowloris). Short limits here, so that this runs in seconds: the
 * request timeout 1 s, the upload idle timeout 3 s. Real servers, real sockets.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, filesSettled, startTestServer, type TestServer } from '../helpers/server.js';
import { makeZip } from '../helpers/zips.js';

const APP = 'com.example.uploads';
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Sent {
  /** The answer, or null when the connection was cut before one came. */
  status: number | null;
  body: string;
  /** Milliseconds from the last byte sent to the answer or the cut. */
  afterLastByte: number;
}

/**
 * Sends `body` to `route` in `pieces` with `pauseMs` between them; `stopAfter` pieces sent, it
 * stalls (`'stall'`: sends nothing more, waits for the server) or goes away (`'abort'`).
 */
function sendSlowly(
  server: TestServer,
  route: string,
  body: Buffer,
  options: { pieces: number; pauseMs: number; stopAfter?: number; then?: 'stall' | 'abort' },
): Promise<Sent> {
  return new Promise((resolve, reject) => {
    let lastByte = Date.now();
    const request = http.request(`${server.url}${route}`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${ADMIN_TOKEN}`,
        'content-type': 'application/octet-stream',
        'content-length': String(body.length),
      },
    });
    const done = (status: number | null, text = '') =>
      resolve({ status, body: text, afterLastByte: Date.now() - lastByte });
    request.on('response', (response) => {
      let text = '';
      response.on('data', (chunk: Buffer) => (text += chunk.toString()));
      response.on('end', () => done(response.statusCode ?? null, text));
      response.on('error', () => done(response.statusCode ?? null, text));
    });
    request.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'ECONNRESET' || error.message === 'socket hang up') done(null);
      else reject(error);
    });
    void (async () => {
      const size = Math.ceil(body.length / options.pieces);
      for (let piece = 0; piece < options.pieces; piece++) {
        if (piece === options.stopAfter) {
          if (options.then === 'abort') {
            request.destroy();
            done(null);
          }
          return;
        }
        if (piece > 0) await sleep(options.pauseMs);
        request.write(body.subarray(piece * size, (piece + 1) * size));
        lastByte = Date.now();
      }
      request.end();
    })();
  });
}

/** Files being staged anywhere in the data folder (uploads in flight write `upload-<uuid>`). */
async function stagedFiles(server: TestServer): Promise<string[]> {
  const entries = await fs.readdir(server.dataDir, { recursive: true });
  return entries.filter((entry) => /(^|\/)upload-[0-9a-f-]{36}$/.test(entry));
}

/** The audit entry of the newest request to a path. */
async function lastAudited(server: TestServer, path: string) {
  const { body } = await server.api('GET', '/audit?limit=50');
  return (body.items as Array<{ action: string; detail: any }>).find(
    (entry) => entry.action === 'http.request' && entry.detail.path === path,
  )?.detail;
}

describe('upload time limits', () => {
  let server: TestServer;
  let zip: Buffer;
  const route = (version: string) => `/api/v1/apps/${APP}/bundles/upload?version=${version}`;
  const uploadPath = `/api/v1/apps/${APP}/bundles/upload`;

  beforeAll(async () => {
    server = await startTestServer({ OVERAIR_REQUEST_TIMEOUT: '1s', OVERAIR_UPLOAD_IDLE_TIMEOUT: '3s' });
    expect((await server.api('POST', '/apps', { id: APP })).status).toBe(201);
    // About 2 MB that do not compress, as a real bundle's images would not.
    zip = await makeZip({
      'index.html': '<!doctype html>',
      'big.bin': randomBytes(2_000_000).toString('base64'),
    });
  });
  afterAll(() => server.stop());

  it('takes a slow but steady upload, however far past the request timeout', async () => {
    const started = Date.now();
    const sent = await sendSlowly(server, route('1.0.0'), zip, { pieces: 5, pauseMs: 1500 });
    expect(Date.now() - started).toBeGreaterThan(5000); // five times the request timeout
    expect(sent.status, sent.body).toBe(201);
    expect(JSON.parse(sent.body)).toMatchObject({ version: '1.0.0', size: zip.length, files: 'preparing' });
    // Its files are prepared after the answer, in the staging folder; nothing is left once they are.
    expect(await filesSettled(server, APP, '1.0.0')).toMatchObject({ files: 'ready' });
    expect(await stagedFiles(server)).toEqual([]);
  });

  it('cuts a stalled upload after the idle timeout, leaving no staged file nor a database error', async () => {
    const sent = await sendSlowly(server, route('1.0.1'), zip, {
      pieces: 5,
      pauseMs: 200,
      stopAfter: 2,
      then: 'stall',
    });
    expect(sent.status).toBeNull();
    expect(sent.afterLastByte).toBeGreaterThanOrEqual(2900);
    expect(sent.afterLastByte).toBeLessThan(6000);
    await sleep(200);
    expect(await stagedFiles(server)).toEqual([]);
    const audited = await lastAudited(server, uploadPath);
    expect(audited).toMatchObject({ status: 400, error: 'client_aborted' });
    expect((await server.api('GET', `/apps/${APP}/bundles/1.0.1`)).status).toBe(404);
  });

  it('treats an upload the client abandons as such: no 503, no database error, no staged file', async () => {
    const sent = await sendSlowly(server, route('1.0.2'), zip, {
      pieces: 5,
      pauseMs: 200,
      stopAfter: 2,
      then: 'abort',
    });
    expect(sent.status).toBeNull();
    await sleep(500);
    expect(await stagedFiles(server)).toEqual([]);
    const audited = await lastAudited(server, uploadPath);
    expect(audited).toMatchObject({ status: 400, error: 'client_aborted' });
    expect(JSON.stringify(audited)).not.toMatch(/database/);
    // The server is as it was.
    expect((await fetch(`${server.url}/readyz`)).status).toBe(200);
  });

  it('still cuts a small body trickled past the request timeout (slowloris)', async () => {
    const body = Buffer.from(JSON.stringify({ id: 'com.example.slowloris' }));
    const sent = await sendSlowly(server, '/api/v1/apps', body, { pieces: 4, pauseMs: 800 });
    // Cut about a second after the request began, before the last piece went out.
    expect(sent.status).toBeNull();
    expect((await server.api('GET', '/apps/com.example.slowloris')).status).toBe(404);
  });
});
