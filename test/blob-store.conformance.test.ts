import { createCipheriv, createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { BlobStore, StagedBlob } from '../src/storage/blob-store.js';
import { FsBlobStore } from '../src/storage/fs-store.js';
import { S3BlobStore } from '../src/storage/s3-store.js';
import { createBucket, deleteBucket, listIncompleteUploads, listKeys, s3Client } from './helpers/radosgw.js';

/** One backend under test: the store, and a way to see everything it holds (blobs and staging). */
interface Backend {
  store: BlobStore;
  /** Every blob or object stored, and any half-finished multipart upload. */
  stored(): Promise<string[]>;
  /** Files in the staging folder. */
  staging(): Promise<string[]>;
  close(): Promise<void>;
}

async function listFiles(dir: string, skip?: string): Promise<string[]> {
  const entries = await fs.readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries
    .filter((entry) => entry.isFile())
    .map((entry) => path.relative(dir, path.join(entry.parentPath, entry.name)))
    .filter((name) => !skip || !name.startsWith(skip));
}

async function fsBackend(): Promise<Backend> {
  const root = await fs.mkdtemp(path.join(os.tmpdir(), 'overair-fs-store-'));
  const store = new FsBlobStore(root);
  await store.init();
  return {
    store,
    stored: () => listFiles(root, '.tmp'),
    staging: () => listFiles(path.join(root, '.tmp')),
    close: () => fs.rm(root, { recursive: true, force: true }),
  };
}

async function s3Backend(): Promise<Backend> {
  const info = inject('s3');
  const bucket = await createBucket(info);
  const tmpDir = await fs.mkdtemp(path.join(os.tmpdir(), 'overair-s3-staging-'));
  // Refreshing at every commit lets the listing test see a re-commit make a blob young again.
  const store = new S3BlobStore(s3Client(info), {
    bucket,
    tmpDir,
    prefix: 'conformance/',
    refreshAfterMs: 0,
  });
  await store.init();
  return {
    store,
    stored: async () => [
      ...(await listKeys(info, bucket)),
      ...(await listIncompleteUploads(info, bucket)).map((key) => `incomplete upload: ${key}`),
    ],
    staging: () => listFiles(tmpDir),
    async close() {
      await store.close();
      await deleteBucket(info, bucket);
      await fs.rm(tmpDir, { recursive: true, force: true });
    },
  };
}

const sha = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** `size` bytes of deterministic noise, 1 MiB at a time (memory stays flat), and their sha256. */
function generated(size: number): { stream: Readable; sha256: string } {
  // AES-CTR over zeros: fast, incompressible, and the same bytes for the same chunk index.
  const chunkOf = (index: number) => {
    const iv = Buffer.alloc(16);
    iv.writeUInt32BE(index, 0);
    const cipher = createCipheriv('aes-128-ctr', Buffer.alloc(16, 7), iv);
    return cipher.update(Buffer.alloc(Math.min(1024 * 1024, size - index * 1024 * 1024)));
  };
  const count = Math.ceil(size / (1024 * 1024));
  const hash = createHash('sha256');
  for (let index = 0; index < count; index++) hash.update(chunkOf(index));
  return {
    stream: Readable.from(
      (function* () {
        for (let index = 0; index < count; index++) yield chunkOf(index);
      })(),
    ),
    sha256: hash.digest('hex'),
  };
}

/** A source that sends some bytes, then fails, as a client that drops the connection mid-upload. */
function interrupted(bytes: number): Readable {
  return new Readable({
    read() {
      if (this.readableLength === 0 && !(this as { sent?: boolean }).sent) {
        (this as { sent?: boolean }).sent = true;
        this.push(Buffer.alloc(bytes, 1));
        setTimeout(() => this.destroy(new Error('connection reset')), 10);
      }
    },
  });
}

describe.each([
  { name: 'fs', open: fsBackend },
  { name: 's3', open: s3Backend },
])('BlobStore conformance: $name', ({ open }) => {
  let backend: Backend;
  let store: BlobStore;
  const bytes = Buffer.from(Array.from({ length: 5000 }, (_, i) => (i * 7) % 256));

  beforeAll(async () => {
    backend = await open();
    store = backend.store;
  });
  afterAll(() => backend?.close());

  async function put(data: Buffer, allowEmpty = false): Promise<StagedBlob> {
    const staged = await store.stage(Readable.from([data]), { maxBytes: 1024 * 1024, allowEmpty });
    await store.commit(staged);
    return staged;
  }

  it('answers a ping', async () => {
    await expect(store.ping!()).resolves.toBeUndefined();
  });

  it('stages with the sha256 and size, commits, and reads the bytes back whole and in ranges', async () => {
    const staged = await store.stage(Readable.from([bytes.subarray(0, 1000), bytes.subarray(1000)]), {
      maxBytes: 1024 * 1024,
    });
    expect(staged).toMatchObject({ sha256: sha(bytes), size: bytes.length });
    expect(await store.size(staged.sha256)).toBeNull();
    await store.commit(staged);
    expect(await backend.staging()).toEqual([]);
    expect(await store.size(staged.sha256)).toBe(bytes.length);
    expect((await collect(store.read(staged.sha256))).equals(bytes)).toBe(true);
    for (const [start, end] of [
      [0, 0],
      [10, 19],
      [4000, 4999],
      [4999, 4999],
    ] as const) {
      const part = await collect(store.read(staged.sha256, { start, end }));
      expect(part.equals(bytes.subarray(start, end + 1)), `${start}-${end}`).toBe(true);
    }
  });

  it('stores the same content once, however often it is committed', async () => {
    const first = await put(bytes);
    const second = await put(bytes);
    expect(second.sha256).toBe(first.sha256);
    expect((await backend.stored()).filter((name) => name.endsWith(first.sha256))).toHaveLength(1);
  });

  it('deletes a blob, and deleting one that is not there is no error', async () => {
    const data = Buffer.from('to be deleted');
    const { sha256 } = await put(data);
    await store.delete(sha256);
    expect(await store.size(sha256)).toBeNull();
    await expect(store.delete(sha256)).resolves.toBeUndefined();
    await expect(store.delete('f'.repeat(64))).resolves.toBeUndefined();
  });

  it('deletes many blobs at once where the store can, those not there included', async () => {
    const blobs = await Promise.all(Array.from({ length: 5 }, (_, i) => put(Buffer.from(`many ${i}`))));
    const kept = await put(Buffer.from('kept beside them'));
    const gone = [...blobs.map((blob) => blob.sha256), 'e'.repeat(64)];
    if (store.deleteMany) await store.deleteMany(gone);
    else for (const sha256 of gone) await store.delete(sha256);
    for (const { sha256 } of blobs) expect(await store.size(sha256)).toBeNull();
    expect(await store.size(kept.sha256)).not.toBeNull();
  });

  it('discards a staged upload, leaving nothing', async () => {
    const before = await backend.stored();
    const data = Buffer.from('staged then discarded');
    const staged = await store.stage(Readable.from([data]), { maxBytes: 1024 });
    expect(await backend.staging()).toHaveLength(1);
    await store.discard(staged);
    expect(await store.size(staged.sha256)).toBeNull();
    expect(await backend.staging()).toEqual([]);
    expect(await backend.stored()).toEqual(before);
  });

  it('refuses an oversized upload with 413, leaving neither a temporary file nor a blob', async () => {
    const before = await backend.stored();
    await expect(store.stage(Readable.from([bytes]), { maxBytes: 100 })).rejects.toMatchObject({
      status: 413,
      code: 'payload_too_large',
    });
    expect(await backend.staging()).toEqual([]);
    expect(await backend.stored()).toEqual(before);
  });

  it('refuses bytes that do not match the expected checksum', async () => {
    const before = await backend.stored();
    await expect(
      store.stage(Readable.from([bytes]), { maxBytes: 1024 * 1024, expectedSha256: 'a'.repeat(64) }),
    ).rejects.toMatchObject({ status: 400, code: 'checksum_mismatch' });
    expect(await backend.staging()).toEqual([]);
    expect(await backend.stored()).toEqual(before);
  });

  it('refuses an empty upload, unless empty is allowed (a bundle file may be empty)', async () => {
    await expect(store.stage(Readable.from([]), { maxBytes: 1024 })).rejects.toMatchObject({
      status: 400,
      code: 'empty_body',
    });
    expect(await backend.staging()).toEqual([]);
    const empty = await put(Buffer.alloc(0), true);
    expect(empty.sha256).toBe(sha(Buffer.alloc(0)));
    expect(await store.size(empty.sha256)).toBe(0);
    expect((await collect(store.read(empty.sha256))).length).toBe(0);
    await store.delete(empty.sha256);
  });

  it('leaves nothing when the source stream breaks off mid-upload', async () => {
    const before = await backend.stored();
    // The client's stream failing is the client's doing (never a database or storage outage), and
    // the cause is kept for the log.
    await expect(store.stage(interrupted(64 * 1024), { maxBytes: 1024 * 1024 })).rejects.toMatchObject({
      code: 'client_aborted',
      cause: expect.objectContaining({ message: expect.stringContaining('connection reset') }),
    });
    expect(await backend.staging()).toEqual([]);
    expect(await backend.stored()).toEqual(before);
  });

  it('round-trips a 20 MiB blob (several multipart parts on S3), checked by sha256', async () => {
    const size = 20 * 1024 * 1024;
    const source = generated(size);
    const staged = await store.stage(source.stream, { maxBytes: size, expectedSha256: source.sha256 });
    await store.commit(staged);
    expect(await store.size(source.sha256)).toBe(size);
    const hash = createHash('sha256');
    let read = 0;
    for await (const chunk of store.read(source.sha256)) {
      hash.update(chunk as Buffer);
      read += (chunk as Buffer).length;
    }
    expect(read).toBe(size);
    expect(hash.digest('hex')).toBe(source.sha256);
    const tail = await collect(store.read(source.sha256, { start: size - 10, end: size - 1 }));
    expect(tail.length).toBe(10);
    await store.delete(source.sha256);
    expect(await store.size(source.sha256)).toBeNull();
  });

  it('lists every committed blob with its size and when it was committed, never a staged one', async () => {
    const listed = async () => {
      const all = new Map<string, { size: number; modifiedAt: number }>();
      for await (const blob of store.list()) all.set(blob.sha256, blob);
      return all;
    };
    const started = Date.now();
    const a = await put(Buffer.from('listed blob a'));
    const b = await put(Buffer.from('listed blob b, a little longer'));
    const staged = await store.stage(Readable.from([Buffer.from('staged, not committed')]), {
      maxBytes: 1024,
    });
    const all = await listed();
    expect(all.get(a.sha256)?.size).toBe(a.size);
    expect(all.get(b.sha256)?.size).toBe(b.size);
    expect(all.has(staged.sha256)).toBe(false);
    // S3 keeps the time to the second.
    expect(all.get(a.sha256)!.modifiedAt).toBeGreaterThanOrEqual(Math.floor(started / 1000) * 1000 - 1000);
    expect(all.get(a.sha256)!.modifiedAt).toBeLessThanOrEqual(Date.now() + 1000);
    expect([...all.keys()].sort()).toEqual(
      (await backend.stored())
        .filter((name) => !name.startsWith('incomplete'))
        .map((name) => name.slice(-64))
        .sort(),
    );
    await store.discard(staged);
    await store.delete(b.sha256);
    expect((await listed()).has(b.sha256)).toBe(false);
  });

  it('makes a blob young again when the same bytes are committed again (the sweep goes by age)', async () => {
    const data = Buffer.from('committed twice');
    await put(data);
    const first = await ageOf(sha(data));
    await new Promise((resolve) => setTimeout(resolve, 1100));
    await put(data);
    expect(await ageOf(sha(data))).toBeGreaterThan(first);
  });

  async function ageOf(sha256: string): Promise<number> {
    for await (const blob of store.list()) if (blob.sha256 === sha256) return blob.modifiedAt;
    throw new Error(`${sha256} is not listed`);
  }

  it('puts bytes held in memory under their sha256 in one step, once, leaving no temporary file', async () => {
    const data = Buffer.from('a small file of a bundle, put from memory\n'.repeat(100));
    const empty = Buffer.alloc(0);
    expect(await store.size(sha(data))).toBeNull();
    await store.put(sha(data), data);
    await store.put(sha(data), data);
    await store.put(sha(empty), empty);
    expect(await backend.staging()).toEqual([]);
    expect((await backend.stored()).filter((name) => name.endsWith(sha(data)))).toHaveLength(1);
    expect(await store.size(sha(data))).toBe(data.length);
    expect((await collect(store.read(sha(data)))).equals(data)).toBe(true);
    expect((await collect(store.read(sha(data), { start: 10, end: 19 }))).equals(data.subarray(10, 20))).toBe(
      true,
    );
    expect(await store.size(sha(empty))).toBe(0);
    await store.delete(sha(data));
    await store.delete(sha(empty));
    await expect(store.put('../../etc/passwd', data)).rejects.toThrow(/not a sha256/);
  });

  it('makes a blob young again when the same bytes are put again', async () => {
    const data = Buffer.from('put twice');
    await store.put(sha(data), data);
    const first = await ageOf(sha(data));
    await new Promise((resolve) => setTimeout(resolve, 1100));
    await store.put(sha(data), data);
    expect(await ageOf(sha(data))).toBeGreaterThan(first);
  });

  it('fails reading a blob that is not there, and refuses anything but a sha256', async () => {
    await expect(collect(store.read('e'.repeat(64)))).rejects.toThrow();
    expect(() => store.read('../../etc/passwd')).toThrow(/not a sha256/);
    await expect(store.size('ABC')).rejects.toThrow(/not a sha256/);
  });
});

describe('FsBlobStore only: putSync, from a worker thread', () => {
  it('puts as put does, making again the folders removed behind its back', async () => {
    const root = await fs.mkdtemp(path.join(os.tmpdir(), 'overair-fs-sync-'));
    try {
      const store = new FsBlobStore(root);
      await store.init();
      const data = Buffer.from('written in blocking calls\n'.repeat(40));
      store.putSync(sha(data), data);
      store.putSync(sha(data), data);
      expect((await collect(store.read(sha(data)))).equals(data)).toBe(true);
      // The blob's folder and the temporary folder gone: both made again.
      await fs.rm(path.join(root, sha(data).slice(0, 2)), { recursive: true });
      await fs.rm(path.join(root, '.tmp'), { recursive: true });
      store.putSync(sha(data), data);
      expect(await store.size(sha(data))).toBe(data.length);
      expect(await listFiles(path.join(root, '.tmp'))).toEqual([]);
      expect(() => store.putSync('not-a-sha', data)).toThrow(/not a sha256/);
    } finally {
      await fs.rm(root, { recursive: true, force: true });
    }
  });
});

describe('S3BlobStore only: presigned URLs, key prefix, aborted uploads', () => {
  let backend: Backend;
  let store: S3BlobStore;
  const bytes = Buffer.from('presigned bytes '.repeat(100));
  let sha256: string;

  beforeAll(async () => {
    backend = await s3Backend();
    store = backend.store as S3BlobStore;
    const staged = await store.stage(Readable.from([bytes]), { maxBytes: 1024 * 1024 });
    await store.commit(staged);
    sha256 = staged.sha256;
  });
  afterAll(() => backend?.close());

  it('keeps every key under its prefix, content-addressed', async () => {
    expect(await backend.stored()).toEqual([`conformance/bundles/${sha256.slice(0, 2)}/${sha256}`]);
  });

  it('makes a presigned URL that plain fetch can read, with ranges and the file name hint', async () => {
    const url = await store.presignedUrl(sha256, {
      expiresInSeconds: 60,
      fileName: 'app-1.0.apk',
      contentType: 'application/vnd.android.package-archive',
    });
    const response = await fetch(url);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-disposition')).toBe('attachment; filename="app-1.0.apk"');
    expect(response.headers.get('content-type')).toBe('application/vnd.android.package-archive');
    expect(Buffer.from(await response.arrayBuffer()).equals(bytes)).toBe(true);
    const range = await fetch(url, { headers: { range: 'bytes=5-9' } });
    expect(range.status).toBe(206);
    expect(Buffer.from(await range.arrayBuffer()).equals(bytes.subarray(5, 10))).toBe(true);

    const head = await store.presignedUrl(sha256, { expiresInSeconds: 60, method: 'HEAD' });
    const answer = await fetch(head, { method: 'HEAD' });
    expect(answer.status).toBe(200);
    expect(answer.headers.get('content-length')).toBe(String(bytes.length));
  });

  it('gives the same URL for the same signing time (so caches can hit)', async () => {
    const signedAt = Date.now() - 5000;
    const a = await store.presignedUrl(sha256, { expiresInSeconds: 600, signedAt });
    const b = await store.presignedUrl(sha256, { expiresInSeconds: 600, signedAt });
    expect(a).toBe(b);
    expect((await fetch(a)).status).toBe(200);
  });

  it('is refused by the gateway when one character of the signature is changed (403)', async () => {
    const url = new URL(await store.presignedUrl(sha256, { expiresInSeconds: 60 }));
    const signature = url.searchParams.get('X-Amz-Signature')!;
    const flipped = signature.slice(0, -1) + (signature.endsWith('0') ? '1' : '0');
    url.searchParams.set('X-Amz-Signature', flipped);
    const response = await fetch(url);
    expect(response.status).toBe(403);
    expect(await response.text()).not.toContain('presigned bytes');
    // Nor may the signed response overrides be changed.
    const original = new URL(await store.presignedUrl(sha256, { expiresInSeconds: 60, fileName: 'a.zip' }));
    original.searchParams.set('response-content-disposition', 'attachment; filename="evil.exe"');
    expect((await fetch(original)).status).toBe(403);
  });

  it('is refused once expired (403)', async () => {
    const url = await store.presignedUrl(sha256, { expiresInSeconds: 2, signedAt: Date.now() - 10_000 });
    const response = await fetch(url);
    expect(response.status).toBe(403);
    expect(await response.text()).not.toContain('presigned bytes');
  });

  it('refuses lifetimes SigV4 cannot sign and unsafe file names', async () => {
    await expect(store.presignedUrl(sha256, { expiresInSeconds: 8 * 86_400 })).rejects.toThrow(/1 to 604800/);
    await expect(store.presignedUrl(sha256, { expiresInSeconds: 0 })).rejects.toThrow();
    await expect(
      store.presignedUrl(sha256, { expiresInSeconds: 60, fileName: 'a"; x=".apk' }),
    ).rejects.toThrow(/unsafe file name/);
  });

  it('aborts a multipart upload that fails half-way: no object, no parts, no temporary file', async () => {
    const size = 20 * 1024 * 1024;
    const source = generated(size);
    const staged = await store.stage(source.stream, { maxBytes: size });
    // The file loses its second half before the upload: the part count no longer matches the
    // length, so the upload fails after its first parts went up.
    await fs.truncate(staged.file, 10 * 1024 * 1024);
    await expect(store.commit(staged)).rejects.toThrow();
    expect(await store.size(staged.sha256)).toBeNull();
    expect(await backend.staging()).toEqual([]);
    expect(await backend.stored()).toEqual([`conformance/bundles/${sha256.slice(0, 2)}/${sha256}`]);
  });

  it('removes only long-abandoned staging files at start (other instances may share the folder)', async () => {
    const tmpDir = await fs.mkdtemp(path.join(os.tmpdir(), 'overair-s3-sweep-'));
    try {
      await fs.writeFile(path.join(tmpDir, 'upload-old'), 'left by a crash');
      const longAgo = new Date(Date.now() - 7 * 3600 * 1000);
      await fs.utimes(path.join(tmpDir, 'upload-old'), longAgo, longAgo);
      await fs.writeFile(path.join(tmpDir, 'upload-in-progress'), 'another instance is receiving this');
      await new S3BlobStore(s3Client(inject('s3')), { bucket: 'unused', tmpDir }).init();
      expect(await fs.readdir(tmpDir)).toEqual(['upload-in-progress']);
    } finally {
      await fs.rm(tmpDir, { recursive: true, force: true });
    }
  });

  it('refuses a key prefix that could escape or confuse the layout', () => {
    for (const prefix of ['/abs/', '../x/', 'a//b/', 'a b/']) {
      expect(() => new S3BlobStore(s3Client(inject('s3')), { bucket: 'x', tmpDir: '/tmp', prefix })).toThrow(
        /key prefix/,
      );
    }
  });
});
