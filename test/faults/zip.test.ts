/**
 * Hostile and broken bundle zips against a real server: each is refused with 400 invalid_zip whose
 * message names what was wrong, before or while it is unpacked, and leaves no blob, no staging file
 * and no bundle row behind. The zips are hand-built (test/helpers/hostile-zips.ts).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, uploadBundle, type TestServer } from '../helpers/server.js';
import { stagingEntries, storedBlobs } from '../helpers/stored.js';
import {
  buildZip,
  corruptEntry,
  goodEntries,
  goodFilesThenCorrupt,
  hostileZips,
  overlappingBomb,
} from '../helpers/hostile-zips.js';

const APP = 'com.example.faults';

describe('hostile bundle zips', () => {
  let server: TestServer;
  let version = 0;
  const nextVersion = () => `1.0.${version++}`;

  beforeAll(async () => {
    server = await startTestServer();
    expect((await server.api('POST', '/apps', { id: APP })).status).toBe(201);
  });
  afterAll(() => server?.stop());

  /** Uploads a zip that must be refused, and checks that the store is as it was before. */
  async function refused(zip: Buffer) {
    const before = await storedBlobs(server);
    const attempt = nextVersion();
    const started = Date.now();
    const answer = await uploadBundle(server, APP, zip, { version: attempt });
    const elapsed = Date.now() - started;
    expect(await storedBlobs(server)).toEqual(before);
    expect(await stagingEntries(server)).toEqual([]);
    expect((await server.api('GET', `/apps/${APP}/bundles/${attempt}`)).status).toBe(404);
    return { ...answer, elapsed };
  }

  it.each(Object.entries(hostileZips()))('refuses %s with 400 invalid_zip', async (_name, hostile) => {
    const answer = await refused(hostile.zip);
    expect(answer.status).toBe(400);
    expect(answer.body).toMatchObject({ error: 'invalid_zip' });
    expect(answer.body.message).toMatch(hostile.message);
  });

  it('leaves no blob behind when the last of 101 entries is corrupt', async () => {
    const answer = await refused(goodFilesThenCorrupt());
    expect(answer.status).toBe(400);
    expect(answer.body.error).toBe('invalid_zip');
    expect(answer.body.message).toMatch(/js\/zzz-corrupt\.js/);
  });

  it('refuses the overlapping-entries bomb (3.75 GiB from 30 KB) before unpacking anything', async () => {
    const bomb = overlappingBomb();
    expect(bomb.length).toBeLessThan(64 * 1024);
    const answer = await refused(bomb);
    expect(answer.status).toBe(400);
    expect(answer.body.message).toMatch(/overlap/);
    // Unpacking it took 38 s of CPU; refusing it reads 240 headers.
    expect(answer.elapsed).toBeLessThan(2000);
  });

  it('refuses duplicate names with 400, not 409 version_exists', async () => {
    const answer = await refused(buildZip([...goodEntries(2), ...goodEntries(1)]));
    expect(answer.status).toBe(400);
    expect(answer.body).toMatchObject({ error: 'invalid_zip' });
  });

  it('keeps the blobs another bundle uses when an upload sharing them fails', async () => {
    const shared = goodEntries(5, 'shared');
    const kept = nextVersion();
    expect((await uploadBundle(server, APP, buildZip(shared), { version: kept })).status).toBe(201);
    // The same files again, committed a second time, then a corrupt one: the clean-up must spare them.
    const answer = await refused(buildZip([...shared, corruptEntry('js/zzz-corrupt.js')]));
    expect(answer.status).toBe(400);
    expect((await server.api('GET', `/apps/${APP}/bundles/${kept}`)).status).toBe(200);
  });

  it('still takes a good bundle, deflated and stored entries alike', async () => {
    const answer = await uploadBundle(server, APP, buildZip(goodEntries(10, 'fine')), {
      version: nextVersion(),
    });
    expect(answer.status).toBe(201);
  });
});
