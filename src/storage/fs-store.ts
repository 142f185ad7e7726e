import { randomUUID } from 'node:crypto';
import { createReadStream, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { SHA256_HEX } from '../crypto/hash.js';
import type {
  BlobStore,
  BlobStoreSpec,
  ByteRange,
  ListedBlob,
  StageOptions,
  StagedBlob,
} from './blob-store.js';
import { flushDisk, probeDiskFlush, type DiskFlush } from './disk-flush.js';
import { stageToTempFile } from './staging.js';

/**
 * Bundles on the local disk, under `root/ab/<sha256>`. The temporary folder sits inside `root` so
 * that committing is an atomic rename on the same file system. Blobs are written without waiting
 * for the disk; `persist` flushes them all at once before the row that names them is written.
 */
export class FsBlobStore implements BlobStore {
  readonly tmpDir: string;
  /** The `root/ab/` folders known to exist, so that storing a blob is not a mkdir each time. */
  private readonly folders = new Set<string>();
  /** How `persist` flushes the disk: found by `init` (a store opened in a worker never persists). */
  private diskFlush: DiskFlush = 'none';

  constructor(private readonly root: string) {
    this.tmpDir = path.join(root, '.tmp');
  }

  /** How this store makes blobs durable; 'none' when this machine offers no way (logged at start). */
  get flushMethod(): DiskFlush {
    return this.diskFlush;
  }

  get spec(): BlobStoreSpec {
    return { kind: 'fs', root: this.root };
  }

  /** Removes temporary files left by a crash during an upload. */
  async init(): Promise<void> {
    await fs.rm(this.tmpDir, { recursive: true, force: true });
    await fs.mkdir(this.tmpDir, { recursive: true });
    this.diskFlush = await probeDiskFlush(this.root);
  }

  /**
   * A few blobs (an upload's zip): an fsync of each file and of its folder, which waits for those
   * bytes only. Else (a bundle's 1,000 files) one syncfs of the store's file system (disk-flush.ts),
   * which waits for everything written to it: far cheaper than 1,000 fsyncs, but as slow as the
   * busiest writer on that disk, so not for one file (measured in bench/publish.ts: an upload's
   * syncfs took 0.3-1 s beside a database loading rows on the same disk).
   */
  async persist(sha256s?: string[]): Promise<void> {
    if (sha256s === undefined || sha256s.length > FSYNC_EACH_MAX || this.diskFlush === 'none') {
      await flushDisk(this.diskFlush, this.root);
      return;
    }
    const targets = sha256s.map((sha256) => this.pathOf(sha256));
    await Promise.all([...targets, ...new Set(targets.map((target) => path.dirname(target)))].map(fsyncPath));
  }

  stage(source: Readable, options: StageOptions): Promise<StagedBlob> {
    return stageToTempFile(source, this.tmpDir, options);
  }

  async commit(staged: StagedBlob): Promise<void> {
    await this.moveInto(staged.file, this.pathOf(staged.sha256));
  }

  /** Written to a temporary file, then renamed to its name: a blob is never seen half-written. */
  async put(sha256: string, bytes: Uint8Array): Promise<void> {
    const target = this.pathOf(sha256);
    const file = path.join(this.tmpDir, `put-${randomUUID()}`);
    try {
      await fs.writeFile(file, bytes, { flag: 'wx' }).catch(async (error: NodeJS.ErrnoException) => {
        if (error.code !== 'ENOENT') throw error;
        // The temporary folder was removed behind this store's back: made again, as staging does.
        await fs.mkdir(this.tmpDir, { recursive: true });
        await fs.writeFile(file, bytes, { flag: 'wx' });
      });
      await this.moveInto(file, target);
    } catch (error) {
      await fs.rm(file, { force: true });
      throw error;
    }
  }

  /**
   * `put` in blocking calls, for a worker thread (digest-worker.ts) that has nothing else to do
   * meanwhile: the writes then run on that thread, at its priority, instead of going through libuv's
   * thread pool, which the thread answering update checks shares, 4 round trips a file.
   */
  putSync(sha256: string, bytes: Uint8Array): void {
    const target = this.pathOf(sha256);
    const file = path.join(this.tmpDir, `put-${randomUUID()}`);
    const again = (error: unknown, folder: string, action: () => void) => {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      // The folder was removed behind this store's back (by hand): made again.
      mkdirSync(folder, { recursive: true });
      action();
    };
    try {
      const write = () => writeFileSync(file, bytes, { flag: 'wx' });
      try {
        write();
      } catch (error) {
        again(error, this.tmpDir, write);
      }
      const folder = path.dirname(target);
      if (!this.folders.has(folder)) {
        mkdirSync(folder, { recursive: true });
        this.folders.add(folder);
      }
      const move = () => renameSync(file, target);
      try {
        move();
      } catch (error) {
        again(error, folder, move);
      }
    } catch (error) {
      rmSync(file, { force: true });
      throw error;
    }
  }

  private async moveInto(file: string, target: string): Promise<void> {
    const folder = path.dirname(target);
    if (!this.folders.has(folder)) {
      await fs.mkdir(folder, { recursive: true });
      this.folders.add(folder);
    }
    try {
      // Same content under the same name: renaming over an existing blob is harmless and atomic.
      await fs.rename(file, target);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      // The folder was removed behind this store's back (by hand): made again.
      await fs.mkdir(folder, { recursive: true });
      await fs.rename(file, target);
    }
  }

  async discard(staged: StagedBlob): Promise<void> {
    await fs.rm(staged.file, { force: true });
  }

  async size(sha256: string): Promise<number | null> {
    try {
      return (await fs.stat(this.pathOf(sha256))).size;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw error;
    }
  }

  read(sha256: string, range?: ByteRange): Readable {
    return createReadStream(this.pathOf(sha256), range ? { start: range.start, end: range.end } : {});
  }

  async delete(sha256: string): Promise<void> {
    await fs.rm(this.pathOf(sha256), { force: true });
  }

  /**
   * Walks `root/ab/` folders. A commit is a rename of a file just written, so its mtime is the
   * time of the latest commit, which is what the sweep's grace period needs.
   */
  async *list(): AsyncIterable<ListedBlob> {
    for (const folder of await fs.readdir(this.root)) {
      if (!/^[0-9a-f]{2}$/.test(folder)) continue;
      const names = await fs.readdir(path.join(this.root, folder)).catch(() => []);
      for (const name of names) {
        if (!SHA256_HEX.test(name) || !name.startsWith(folder)) continue;
        // Gone since the folder was read (deleted by a bundle's deletion): not listed.
        const stat = await fs.stat(path.join(this.root, folder, name)).catch(() => null);
        if (stat?.isFile()) yield { sha256: name, size: stat.size, modifiedAt: stat.mtimeMs };
      }
    }
  }

  /** Ready when the folder is there (a lost mount or a deleted folder is not). */
  async ping(): Promise<void> {
    if (!(await fs.stat(this.root)).isDirectory()) throw new Error(`${this.root} is not a folder`);
  }

  /** The only way a path is built here: from a validated hex digest, never from user text. */
  pathOf(sha256: string): string {
    if (!SHA256_HEX.test(sha256)) throw new Error(`not a sha256: ${sha256}`);
    return path.join(this.root, sha256.slice(0, 2), sha256);
  }
}

/** Blobs flushed one fsync each by `persist`; more are flushed with one syncfs. */
const FSYNC_EACH_MAX = 8;

/** fsync of a file or a folder (a folder's fsync makes the names in it durable). */
async function fsyncPath(target: string): Promise<void> {
  const handle = await fs.open(target, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
