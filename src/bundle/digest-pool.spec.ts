import { createHash, randomBytes } from 'node:crypto';
import { brotliCompressSync, brotliDecompressSync, constants as zlib } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { DigestPool } from './digest-pool.js';

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

  it('refuses work once closed', async () => {
    const closed = new DigestPool(1);
    await closed.digest(Buffer.from('x'));
    await closed.close();
    await expect(closed.digest(Buffer.from('x'))).rejects.toThrow('closed');
  });
});
