import { forEachLimited } from '../concurrency.js';
import type { Repos } from '../db/index.js';
import type { BlobStore } from '../storage/blob-store.js';

/** Deletes at once, for a store that deletes one blob a request. */
const DELETES_IN_FLIGHT = 8;

/**
 * Deletes those of `sha256s` that no row references any more (no bundle, bundle file or native
 * build), a few at a time, under the blob lock (db/blob-lock.ts), so that no bundle's files begin
 * to reference one between the question and the deletion. Throws the first failure once all have
 * ended; answers how many it deleted.
 */
export function deleteUnusedBlobs(repos: Repos, store: BlobStore, sha256s: string[]): Promise<number> {
  if (sha256s.length === 0) return Promise.resolve(0);
  return repos.blobLock.run(async () => {
    const unused = await repos.bundles.unreferencedBlobs(sha256s);
    if (store.deleteMany) await store.deleteMany(unused);
    else await forEachLimited(unused, DELETES_IN_FLIGHT, (sha) => store.delete(sha));
    return unused.length;
  });
}
