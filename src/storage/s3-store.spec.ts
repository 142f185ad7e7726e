import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../test/helpers/ports.js';
import { createS3Client } from './s3-client.js';
import { S3BlobStore } from './s3-store.js';

describe('S3BlobStore with its bucket unreachable', () => {
  let tmpDir: string;
  let store: S3BlobStore;
  beforeAll(async () => {
    tmpDir = await fs.mkdtemp(path.join(os.tmpdir(), 'overair-s3-down-'));
    const client = createS3Client({
      // Nobody listens there: connections are refused at once, as by a store that went down.
      endpoint: `http://127.0.0.1:${await freePort()}`,
      region: 'us-east-1',
      forcePathStyle: true,
      accessKeyId: 'key',
      secretAccessKey: 'secret',
    });
    store = new S3BlobStore(client, { bucket: 'bundles', tmpDir });
  });
  afterAll(async () => {
    await fs.rm(tmpDir, { recursive: true, force: true });
  });

  const stage = () => store.stage(Readable.from([Buffer.alloc(4096, 7)]), { maxBytes: 1 << 20 });

  it('fails a commit with the connection error and removes the staged file', async () => {
    const staged = await stage();
    await expect(store.commit(staged)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    expect(await fs.readdir(tmpDir)).toEqual([]);
  });

  // The upload's staged file is removed whatever happens to the commit. A read stream opened on it
  // before the store answered, and abandoned when the store failed, still opened the file later:
  // once it was gone, that open's ENOENT had no listener and ended the process (seen in CI with the
  // gateway stopped under upload load). Here the file is gone before the open, deterministically.
  it('never leaves an unhandled error behind when the staged file is gone before the store answers', async () => {
    const staged = await stage();
    await fs.rm(staged.file);
    const unhandled: unknown[] = [];
    const record = (error: unknown) => unhandled.push(error);
    process.on('uncaughtException', record);
    try {
      await expect(store.commit(staged)).rejects.toBeInstanceOf(Error);
      await new Promise((resolve) => setTimeout(resolve, 200));
    } finally {
      process.off('uncaughtException', record);
    }
    expect(unhandled).toEqual([]);
  });
});
