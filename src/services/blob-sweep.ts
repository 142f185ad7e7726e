import type { Repos } from '../db/index.js';
import type { BlobStore, ListedBlob } from '../storage/blob-store.js';

export interface SweepOptions {
  /**
   * Blobs committed less than this long ago are kept whatever the database says: an upload in
   * progress commits its files' blobs before it writes the rows that reference them.
   */
  graceMs: number;
  /** Now, in ms since the epoch (tests). */
  now?: number;
  /** Stops the sweep between batches (shutdown). */
  signal?: AbortSignal;
}

export interface SweepResult {
  /** Blobs listed in the store. */
  scanned: number;
  /** sha256 of every blob deleted. */
  deleted: string[];
  freedBytes: number;
}

/** Candidates looked up in the database at once. */
const BATCH = 500;

/**
 * Deletes the stored blobs that no row references (no bundle zip, bundle file or native build:
 * BundlesRepo.unreferencedBlobs) and that are older than the grace period. Such blobs are left by
 * an upload cut off by a crash or a kill between committing its files and writing its rows, or by
 * a clean-up that could not reach the database; nothing else ever removes them.
 */
export async function sweepOrphanBlobs(
  repos: Repos,
  store: BlobStore,
  options: SweepOptions,
): Promise<SweepResult> {
  const cutoff = (options.now ?? Date.now()) - options.graceMs;
  const result: SweepResult = { scanned: 0, deleted: [], freedBytes: 0 };
  let batch: ListedBlob[] = [];
  // Under the blob lock (db/blob-lock.ts): no bundle's files begin to reference one of these
  // between the question and the deletion.
  const sweep = () =>
    repos.blobLock.run(async () => {
      const unreferenced = new Set(await repos.bundles.unreferencedBlobs(batch.map((blob) => blob.sha256)));
      const gone = batch.filter((blob) => unreferenced.has(blob.sha256));
      if (store.deleteMany) await store.deleteMany(gone.map((blob) => blob.sha256));
      else for (const blob of gone) await store.delete(blob.sha256);
      for (const blob of gone) {
        result.deleted.push(blob.sha256);
        result.freedBytes += blob.size;
      }
      batch = [];
    });
  for await (const blob of store.list()) {
    result.scanned++;
    if (blob.modifiedAt >= cutoff) continue;
    batch.push(blob);
    if (batch.length >= BATCH) {
      await sweep();
      if (options.signal?.aborted) return result;
    }
  }
  await sweep();
  return result;
}
