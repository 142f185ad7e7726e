import fs from 'node:fs/promises';
import path from 'node:path';
import { inject } from 'vitest';
import { listIncompleteUploads, listKeys } from './radosgw.js';
import type { TestServer } from './server.js';

/**
 * What a test server keeps in its bundle store, whichever store it runs on (the local folder, or
 * its S3 bucket on the suite's radosgw), so that "nothing was left behind" is checked alike on both.
 */

/**
 * Every stored blob: "ab/SHA256 SIZE" files on disk, object keys in S3. For a server in this process,
 * once the files of the bundles uploaded so far are prepared (they are stored after the uploads'
 * answers), so that two lists compare what requests did.
 */
export async function storedBlobs(server: TestServer): Promise<string[]> {
  await server.services?.bundleFiles.settle();
  if (server.config.storage === 's3') return (await listKeys(inject('s3'), bucketOf(server))).sort();
  const root = server.config.blobDir;
  const entries = await fs.readdir(root, { recursive: true, withFileTypes: true }).catch(() => []);
  const files: string[] = [];
  for (const entry of entries) {
    const full = path.join(entry.parentPath, entry.name);
    const relative = path.relative(root, full);
    if (!entry.isFile() || relative.startsWith('.tmp')) continue;
    files.push(`${relative} ${(await fs.stat(full)).size}`);
  }
  return files.sort();
}

/** The sha256 in a line of `storedBlobs`: "ab/SHA SIZE" (fs) or "bundles/ab/SHA" (S3). */
export const shaOf = (listed: string) => /([0-9a-f]{64})/.exec(listed)![1]!;

/** Whether the store holds the blob with this sha256. */
export async function holdsBlob(server: TestServer, sha256: string): Promise<boolean> {
  return (await storedBlobs(server)).some((blob) => blob.includes(sha256));
}

/** Uploads under way or left behind: temporary files, and for S3 unfinished multipart uploads. */
export async function stagingEntries(server: TestServer): Promise<string[]> {
  if (server.config.storage === 's3') {
    const files = await fs.readdir(path.join(server.dataDir, '.tmp-s3')).catch(() => []);
    return [...files, ...(await listIncompleteUploads(inject('s3'), bucketOf(server)))];
  }
  return fs.readdir(path.join(server.config.blobDir, '.tmp')).catch(() => []);
}

function bucketOf(server: TestServer): string {
  const bucket = server.config.s3Bucket;
  if (!bucket) throw new Error('an S3 server without a bucket');
  return bucket;
}
