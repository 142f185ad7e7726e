import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import {
  brotliCompressSync,
  brotliDecompressSync,
  crc32,
  deflateRawSync,
  constants as zlib,
} from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { DigestPool, UnpackError } from './digest-pool.js';

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');
/** What extract-files did on the main thread before the pool. */
const mainThreadBrotli = (bytes: Buffer) =>
  brotliCompressSync(bytes, {
    params: { [zlib.BROTLI_PARAM_QUALITY]: 6, [zlib.BROTLI_PARAM_SIZE_HINT]: bytes.length },
  });

describe('DigestPool', () => {
  const pool = new DigestPool(2);
  afterAll(() => pool.close());

  it('hashes and compresses a compressible file as the main thread does', async () => {
    const bytes = Buffer.from('console.log("hello, world");\n'.repeat(2000));
    const expected = { hash: sha256(bytes), packed: mainThreadBrotli(bytes) };
    const digest = await pool.digest(Buffer.from(bytes));
    expect(digest.fileHash).toBe(expected.hash);
    expect(digest.brotli).toBe(true);
    expect(digest.stored.equals(expected.packed)).toBe(true);
    expect(brotliDecompressSync(digest.stored).equals(bytes)).toBe(true);
  });

  it('keeps the bytes as they are when brotli does not pay, or the file is small', async () => {
    const random = randomBytes(20_000);
    const small = Buffer.from('a'.repeat(8191));
    for (const bytes of [random, small]) {
      const digest = await pool.digest(Buffer.from(bytes));
      expect(digest.brotli).toBe(false);
      expect(digest.fileHash).toBe(sha256(bytes));
      expect(digest.stored.equals(bytes)).toBe(true);
    }
  });

  it('takes small pooled Buffers (copied, the shared pool is left intact) and empty files', async () => {
    const neighbour = Buffer.from('neighbour');
    const tiny = Buffer.from('tiny');
    const empty = Buffer.alloc(0);
    expect(tiny.buffer.byteLength).toBeGreaterThan(tiny.length);
    const [a, b] = await Promise.all([pool.digest(tiny), pool.digest(empty)]);
    expect(a).toMatchObject({ fileHash: sha256(Buffer.from('tiny')), brotli: false });
    expect(b.fileHash).toBe(sha256(empty));
    expect(b.stored.length).toBe(0);
    expect(neighbour.toString()).toBe('neighbour');
    expect(tiny.toString()).toBe('tiny');
  });

  it('answers many files at once, each its own, in whatever order the workers finish', async () => {
    const files = Array.from({ length: 40 }, (_, i) => Buffer.from(`file ${i} `.repeat(1000 + i * 50)));
    const digests = await Promise.all(files.map((bytes) => pool.digest(Buffer.from(bytes))));
    digests.forEach((digest, i) => expect(digest.fileHash).toBe(sha256(files[i]!)));
  });

  it('unpacks a zip entry (deflated or stored) and digests it as it digests the bytes themselves', async () => {
    const bytes = Buffer.from('export const x = 1;\n'.repeat(1000));
    const expected = await pool.digest(Buffer.from(bytes));
    for (const [method, data] of [
      [8, deflateRawSync(bytes)],
      [0, bytes],
    ] as const) {
      // A view into a larger buffer, as a block of the zip: copied, the buffer is left intact.
      const block = Buffer.concat([Buffer.from('before'), data, Buffer.from('after')]);
      const view = block.subarray(6, 6 + data.length);
      const digest = await pool.unpack({ data: view, method, crc32: crc32(bytes), size: bytes.length });
      expect(digest).toMatchObject({ fileHash: expected.fileHash, brotli: true });
      expect(digest.stored!.equals(expected.stored)).toBe(true);
      expect(digest.storedSha256).toBe(sha256(expected.stored));
      expect(block.subarray(0, 6).toString()).toBe('before');
      expect(view.equals(data)).toBe(true);
    }
  });

  it('names the blob by the bytes stored: the file itself when brotli does not pay', async () => {
    const bytes = randomBytes(10_000);
    const digest = await pool.unpack({ data: bytes, method: 0, crc32: crc32(bytes), size: bytes.length });
    expect(digest).toMatchObject({ brotli: false, fileHash: sha256(bytes), storedSha256: sha256(bytes) });
  });

  it('refuses data that does not unpack to what the entry declares, saying what is wrong', async () => {
    const bytes = Buffer.from('console.log("payload");\n'.repeat(50));
    const deflated = deflateRawSync(bytes);
    const entry = { data: deflated, method: 8, crc32: crc32(bytes), size: bytes.length };
    const corrupt = Buffer.from(deflated);
    corrupt[0] = 0xff;
    const cases: [Parameters<DigestPool['unpack']>[0], RegExp][] = [
      [{ ...entry, data: corrupt }, /^cannot be unpacked: /],
      [{ ...entry, data: deflated.subarray(0, deflated.length - 4) }, /^cannot be unpacked: /],
      [{ ...entry, size: bytes.length - 100 }, /more than the 1100 bytes it declares/],
      [{ ...entry, size: bytes.length + 100 }, /only 1200 of the 1300 bytes it declares/],
      [{ ...entry, crc32: (entry.crc32 ^ 1) >>> 0 }, /fails its CRC-32 check/],
      [
        { ...entry, data: bytes, method: 0, crc32: 0 },
        /fails its CRC-32 check \([0-9a-f]{8}, not 00000000\)/,
      ],
    ];
    for (const [file, message] of cases) {
      const failure = await pool.unpack(file).catch((error: unknown) => error);
      expect(failure).toBeInstanceOf(UnpackError);
      expect((failure as Error).message).toMatch(message);
    }
    // The worker is still there for the next file.
    expect((await pool.unpack(entry)).fileHash).toBe(sha256(bytes));
  });

  it('stores the file itself, in a store opened from its spec, and sends no bytes back', async () => {
    const root = await fs.mkdtemp(path.join(os.tmpdir(), 'overair-digest-store-'));
    try {
      await fs.mkdir(path.join(root, '.tmp'));
      const bytes = Buffer.from('export const stored = "by the worker";\n'.repeat(500));
      const file = { data: deflateRawSync(bytes), method: 8, crc32: crc32(bytes), size: bytes.length };
      const digest = await pool.unpack(file, { kind: 'fs', root });
      expect(digest.stored).toBeUndefined();
      expect(digest).toMatchObject({ fileHash: sha256(bytes), brotli: true });
      const blob = await fs.readFile(path.join(root, digest.storedSha256.slice(0, 2), digest.storedSha256));
      expect(blob.length).toBe(digest.storedSize);
      expect(sha256(blob)).toBe(digest.storedSha256);
      expect(brotliDecompressSync(blob).equals(bytes)).toBe(true);
      expect(await fs.readdir(path.join(root, '.tmp'))).toEqual([]);

      // A store that fails: its error comes back as the store threw it, code included.
      const notAFolder = path.join(root, 'file');
      await fs.writeFile(notAFolder, 'x');
      const failure = await pool
        .unpack(file, { kind: 'fs', root: notAFolder })
        .catch((error: unknown) => error as NodeJS.ErrnoException);
      expect(failure).toBeInstanceOf(Error);
      expect(failure).not.toBeInstanceOf(UnpackError);
      expect(failure).toMatchObject({ code: 'ENOTDIR' });
    } finally {
      await fs.rm(root, { recursive: true, force: true });
    }
  });

  it('refuses work once closed', async () => {
    const closed = new DigestPool(1);
    await closed.digest(Buffer.from('x'));
    await closed.close();
    await expect(closed.digest(Buffer.from('x'))).rejects.toThrow('closed');
  });
});
