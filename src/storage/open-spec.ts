import type { BlobStore, BlobStoreSpec } from './blob-store.js';
import { FsBlobStore } from './fs-store.js';

/**
 * A store opened again from its spec (BlobStore.spec), in a worker thread: the same folder or
 * bucket, its own connections. Nothing is initialised (a store's `init` clears its temporary
 * folder, which the server's own store is using).
 */
export async function openStoreFromSpec(spec: BlobStoreSpec): Promise<BlobStore> {
  if (spec.kind === 'fs') return new FsBlobStore(spec.root);
  // Loaded only when used, as open.ts does: the AWS SDK is large.
  const [{ createS3Client }, { S3BlobStore }] = await Promise.all([
    import('./s3-client.js'),
    import('./s3-store.js'),
  ]);
  const { connection, ...options } = spec;
  return new S3BlobStore(createS3Client(connection), options);
}
