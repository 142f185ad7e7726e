import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import yazl from 'yazl';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BlobStore, StagedBlob } from '../storage/blob-store.js';
import { DigestPool } from './digest-pool.js';
import { extractBundleFiles } from './extract-files.js';

const FILES = 60;

/**
 * A store in memory whose commits (and puts: small files come from memory) take a little while, and
 * whose `failAt`-th one fails.
 */
function slowStore(failAt?: number) {
  const state = {
    commits: 0,
    inFlight: 0,
    peak: 0,
    committed: [] as string[],
    lateCommits: 0,
    answered: false,
    /** Commits that ran beside the large file's (file 30, over 2 MiB before brotli). */
    besideBig: 0,
    bigRunning: false,
  };
  const store = {
    async stage(source: Readable): Promise<StagedBlob> {
      const hash = createHash('sha256');
      let size = 0;
      for await (const chunk of source) {
        hash.update(chunk as Buffer);
        size += (chunk as Buffer).length;
      }
      return { sha256: hash.digest('hex'), size, file: '' };
    },
    commit(staged: StagedBlob): Promise<void> {
      return store.store(staged.sha256, staged.size);
    },
    async put(sha256: string, bytes: Uint8Array): Promise<void> {
      expect(createHash('sha256').update(bytes).digest('hex')).toBe(sha256);
      return store.store(sha256, bytes.length);
    },
    async store(sha256: string, size: number): Promise<void> {
      if (state.answered) state.lateCommits++;
      const n = ++state.commits;
      state.peak = Math.max(state.peak, ++state.inFlight);
      const big = size > 20_000;
      if (big) state.bigRunning = true;
      if (state.inFlight > 1 && state.bigRunning) state.besideBig++;
      try {
        await sleep(big ? 30 : 2 + (n % 5));
        if (n === failAt) throw new Error('disk full');
        state.committed.push(sha256);
      } finally {
        if (big) state.bigRunning = false;
        state.inFlight--;
        if (state.answered) state.lateCommits++;
      }
    },
  };
  return { store: store as unknown as BlobStore, state };
}

describe('extractBundleFiles', () => {
  let dir: string;
  let zipFile: string;
  // File 30 is over 2 MiB: stored alone, nothing beside it.
  const contents = Array.from({ length: FILES }, (_, i) =>
    i === 30
      ? `/* ${i} */\n`.repeat(300_000)
      : i % 4 === 0
        ? `/* ${i} */\n`.repeat(2000)
        : `export const v${i} = ${i};\n`,
  );
  const pool = new DigestPool(2);

  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'overair-extract-'));
    zipFile = path.join(dir, 'bundle.zip');
    const zip = new yazl.ZipFile();
    zip.addBuffer(Buffer.from('<!doctype html>'), 'dist/index.html');
    contents.forEach((text, i) => zip.addBuffer(Buffer.from(text), `dist/js/f-${i}.js`));
    zip.end();
    await fs.writeFile(zipFile, zip.outputStream);
  });
  afterAll(async () => {
    await pool.close();
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('stores the files a few at a time and lists them in the zip order', async () => {
    const { store, state } = slowStore();
    const committed: string[] = [];
    const files = await extractBundleFiles(zipFile, 'dist', store, 1 << 30, pool, committed);
    expect(files.map((file) => file.path)).toEqual(['index.html', ...contents.map((_, i) => `js/f-${i}.js`)]);
    const sha = (text: string) => createHash('sha256').update(text).digest('hex');
    files.slice(1).forEach((file, i) => {
      expect(file.fileHash).toBe(sha(contents[i]!));
      expect(file.brotli).toBe(i % 4 === 0 || i === 30);
    });
    expect(state.peak).toBeGreaterThan(1);
    expect(state.peak).toBeLessThanOrEqual(8);
    expect(files[31]).toMatchObject({ path: 'js/f-30.js', brotli: true });
    expect(state.besideBig).toBe(0);
    // Every file before it was committed before it, every file after it after it.
    expect(state.committed.indexOf(files[31]!.storedSha256)).toBe(31);
    expect(committed.sort()).toEqual([...state.committed].sort());
  });

  it('fails only once no commit is running, with every blob committed before in the list', async () => {
    const { store, state } = slowStore(20);
    const committed: string[] = [];
    await expect(extractBundleFiles(zipFile, 'dist', store, 1 << 30, pool, committed)).rejects.toThrow(
      'disk full',
    );
    state.answered = true;
    expect(state.inFlight).toBe(0);
    expect(committed.sort()).toEqual([...state.committed].sort());
    expect(committed.length).toBeGreaterThanOrEqual(19);
    await sleep(50);
    expect(state.lateCommits).toBe(0);
    // Nothing was started after the failure was seen: at most the tasks already in flight ended.
    expect(state.commits).toBeLessThan(20 + 8);
  });

  it('streams a file too large to hold in memory into the store as it is, unpacked and checked', async () => {
    const big = Buffer.alloc(17 * 1024 * 1024, 'overair ');
    const bigZip = path.join(dir, 'big.zip');
    const zip = new yazl.ZipFile();
    zip.addBuffer(Buffer.from('<!doctype html>'), 'index.html');
    zip.addBuffer(big, 'big.bin');
    zip.end();
    await fs.writeFile(bigZip, zip.outputStream);
    const { store, state } = slowStore();
    const files = await extractBundleFiles(bigZip, '', store, 1 << 30, pool, []);
    const sha = createHash('sha256').update(big).digest('hex');
    expect(files[1]).toEqual({
      path: 'big.bin',
      fileHash: sha,
      storedSha256: sha,
      storedSize: big.length,
      brotli: false,
    });
    expect(state.committed).toContain(sha);
  });
});
