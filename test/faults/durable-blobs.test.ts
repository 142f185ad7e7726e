/**
 * A blob on disk is durable before the server says it is there: after the bundle's zip is renamed
 * into place, it and its folder are flushed to the disk (fsync), and only then is the row written
 * and the 201 sent; after the last of its files for delta updates (prepared after the
 * answer) is renamed into place, the file system holding them is flushed (syncfs) before the
 * bundle says `files: ready`.
 * Without this, a power cut after a 201 (whose row PostgreSQL made durable) can leave a bundle whose
 * zip or delta files are missing or empty. A power cut cannot be simulated here; what the server
 * asks of the kernel can be seen: the server runs under strace (following its children: the flush
 * is coreutils' `sync --file-system`), and the trace is read in order up to the moment the 201, then
 * the first answer saying the files are ready, was written to the socket.
 *
 * The fs store only (the S3 store's durability is the S3 server's), on SQLite, in faults-sqlite.
 * strace is one of the test servers' Debian packages (scripts/test-prerequisites.sh).
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, filesSettled, sendJson, uploadBundle } from '../helpers/server.js';
import { spawnServer, type SpawnedServer } from '../helpers/spawned-server.js';
import { makeZip } from '../helpers/zips.js';

const APP = 'com.example.durable';
const onPostgres = process.env.OVERAIR_TEST_BACKEND === 'postgres';

/** One traced call: the thread, the call, its arguments as strace printed them. */
interface Call {
  line: number;
  name: string;
  args: string;
}

/** The calls of a `strace -f -y` trace, in order (split calls are read at their start). */
function parseTrace(text: string): Call[] {
  const calls: Call[] = [];
  for (const [line, raw] of text.split('\n').entries()) {
    const match = /^\d+\s+(\w+)\((.*)$/.exec(raw);
    if (match) calls.push({ line, name: match[1]!, args: match[2]! });
  }
  return calls;
}

function lastIndex<T>(items: T[], test: (item: T) => boolean): number {
  for (let i = items.length - 1; i >= 0; i--) if (test(items[i]!)) return i;
  return -1;
}

/** The path strace -y shows for the call's first argument (a file descriptor): `fsync(7</a/b>)`. */
const fdPath = (call: Call) => /^\d+<([^>]+)>/.exec(call.args)?.[1];

describe.skipIf(onPostgres)('blobs on disk are durable before the upload is answered', () => {
  let dataDir: string;
  let traceFile: string;
  let server: SpawnedServer;

  beforeAll(async () => {
    dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'overair-durable-'));
    traceFile = path.join(dataDir, 'trace.txt');
    server = await spawnServer(
      { OVERAIR_DATA_DIR: dataDir, OVERAIR_ADMIN_TOKEN: ADMIN_TOKEN },
      [],
      [
        'strace',
        '-f',
        '-qq',
        '-y',
        '-s',
        '4000',
        '--seccomp-bpf',
        '-e',
        'trace=syncfs,sync,fsync,rename,renameat,renameat2,write,writev',
        '-o',
        traceFile,
      ],
    );
  }, 120_000);

  afterAll(async () => {
    await server?.kill();
    // strace is gone; the server it traced is detached and killed by its pid (in every log line).
    const pid = /"pid":(\d+)/.exec(server?.output() ?? '')?.[1];
    if (pid) {
      try {
        process.kill(Number(pid), 'SIGKILL');
      } catch {
        // already gone
      }
    }
    await fs.rm(dataDir, { recursive: true, force: true });
  });

  it('flushes the disk after the zip is named, before the 201, and after its files, before they are ready', async () => {
    const admin = { authorization: `Bearer ${ADMIN_TOKEN}` };
    const created = await sendJson(`${server.url}/api/v1/apps`, 'POST', { id: APP, name: 'Durable' }, admin);
    expect(created.status).toBe(201);
    // Files that brotli shrinks, files it does not, and one above the size stored in memory.
    const files: Record<string, string> = { 'index.html': '<html>durable</html>' };
    for (let i = 0; i < 30; i++) files[`assets/text-${i}.js`] = `console.log(${i});\n`.repeat(200 + i);
    for (let i = 0; i < 10; i++) files[`assets/noise-${i}.bin`] = randomBytes(3000).toString('base64');
    const upload = await uploadBundle(
      server,
      APP,
      await makeZip(files),
      { version: '1.0.0' },
      { waitFiles: false },
    );
    expect(upload.status).toBe(201);
    expect(await filesSettled(server, APP, '1.0.0')).toMatchObject({ files: 'ready' });
    await new Promise((resolve) => setTimeout(resolve, 300)); // strace writes its last lines

    const calls = parseTrace(await fs.readFile(traceFile, 'utf8'));
    // The upload's 201 is the last one (creating the app was answered 201 too).
    const answered = lastIndex(
      calls,
      (call) => call.name.startsWith('write') && call.args.includes('HTTP/1.1 201'),
    );
    expect(answered, 'the 201 written to the socket').toBeGreaterThan(0);
    // The first answer (to the poll above) that says the files are ready; strace escapes the quotes.
    const ready = calls.findIndex(
      (call, index) =>
        index > answered && call.name.startsWith('write') && /files\\?":\\?"ready/.test(call.args),
    );
    expect(ready, 'the answer saying the files are ready').toBeGreaterThan(answered);

    const root = path.join(dataDir, 'bundles');
    const blobs = (await fs.readdir(root, { recursive: true }))
      .filter((name) => /^[0-9a-f]{2}\/[0-9a-f]{64}$/.test(name))
      .map((name) => path.join(root, name));
    // The zip and one blob per distinct file.
    expect(blobs.length).toBeGreaterThan(40);
    const zip = path.join(root, upload.body.sha256.slice(0, 2), upload.body.sha256);
    const flushedBetween = (from: number, to: number) =>
      calls
        .slice(from + 1, to)
        .some((call) => (call.name === 'syncfs' && fdPath(call) === root) || call.name === 'sync');
    /** Where the last of `names` was renamed into place, each before `until`. */
    const lastRenamed = (names: string[], until: number, what: string) => {
      let last = -1;
      for (const name of names) {
        const renamed = lastIndex(
          calls.slice(0, until),
          (call) => call.name.startsWith('rename') && call.args.includes(`"${name}"`),
        );
        expect(renamed, `${name} renamed into place before ${what}`).toBeGreaterThanOrEqual(0);
        last = Math.max(last, renamed);
      }
      return last;
    };
    const zipNamed = lastRenamed([zip], answered, 'the 201');
    // The zip alone: an fsync of it and of its folder (its name), or a flush of the whole disk.
    const fsynced = (target: string) =>
      calls.slice(zipNamed + 1, answered).some((call) => call.name === 'fsync' && fdPath(call) === target);
    expect(
      (fsynced(zip) && fsynced(path.dirname(zip))) || flushedBetween(zipNamed, answered),
      `the zip and its folder flushed after it was named, before the 201`,
    ).toBe(true);
    const filesNamed = lastRenamed(
      blobs.filter((blob) => blob !== zip),
      ready,
      'the files are ready',
    );
    expect(filesNamed, 'the files are stored after the answer').toBeGreaterThan(answered);
    expect(
      flushedBetween(filesNamed, ready),
      `${root} flushed after the last file was named, before the files are ready`,
    ).toBe(true);
  });
});
