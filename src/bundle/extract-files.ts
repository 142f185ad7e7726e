import { Transform, Writable, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { crc32 } from 'node:zlib';
import type yauzl from 'yauzl';
import { TaskGroup } from '../concurrency.js';
import type { BlobStore } from '../storage/blob-store.js';
import { UnpackError, type DigestPool, type PackedFile } from './digest-pool.js';
import { invalidZip, type PackedEntry, type ZipSummary } from './validate-zip.js';
import { openZip, type ZipFileReader } from './zip-reader.js';

/** One file of a bundle as a device installs it, stored on its own for delta updates. */
export interface BundleFile {
  /** Path inside the installed bundle, "/"-separated (the zip's single top folder stripped). */
  path: string;
  /** sha256 (hex) of the file's own bytes: what the plugin checks after download. */
  fileHash: string;
  /** sha256 of the bytes stored and served (brotli-compressed when `brotli`). */
  storedSha256: string;
  storedSize: number;
  /** Served as "<path>.br": the plugin brotli-decodes it itself. */
  brotli: boolean;
}

/** Files above this (or packed above it) are stored as they are, streamed, not held in memory. */
const IN_MEMORY_MAX_BYTES = 16 * 1024 * 1024;
/** Files unpacked, hashed and stored at once: on S3 each is two round trips. */
const FILES_IN_FLIGHT = 8;
/**
 * Files above this are stored alone, none beside them, so that the bytes held in memory stay under
 * FILES_IN_FLIGHT of these or one file of IN_MEMORY_MAX_BYTES, as before files were stored at once.
 */
const SHARED_MAX_BYTES = 2 * 1024 * 1024;

/**
 * Stores every file of a validated bundle zip in the blob store, content-addressed (a file shared by
 * many releases is stored once), and lists them for the update check's manifest: exactly the files a
 * full install leaves on the device, so a delta install ends with the same tree.
 *
 * Up to FILES_IN_FLIGHT files are stored at once (a large one alone); the list keeps the zip's order.
 * The main thread only reads each file's packed bytes (a block of the zip at a time, zip-reader.ts):
 * `digests` unpacks, checks, hashes and compresses it off the main thread, and stores it there too
 * when the store has a spec to open it again in a worker (BlobStore.spec; else the main thread puts
 * the bytes that come back), so that the store's own work (an S3 client's, per file) is off it too.
 * Files too large to hold in memory are streamed into the store as they are. Each blob's sha256 is
 * pushed to `committed` as soon as it is in the store, so that a caller whose upload fails part-way
 * (a corrupt entry, a full disk) knows every blob to remove, even though this function then throws
 * instead of returning; it throws only once no file is being stored any more, so that list is
 * complete. Data that cannot be unpacked (corrupt deflate stream, wrong size, wrong CRC-32) is a 400
 * invalid_zip naming the entry; a failing store is not.
 */
export async function extractBundleFiles(
  zipFile: string,
  root: string,
  store: BlobStore,
  maxBytes: number,
  digests: DigestPool,
  committed: string[] = [],
): Promise<BundleFile[]> {
  const files: BundleFile[] = [];
  await eachBundleFile(zipFile, root, (path, entry, zip, reader) => {
    const index = files.length;
    files.length++;
    return async () => {
      files[index] = inMemory(entry)
        ? await storeSmall(path, entry, zip, reader, store, digests, committed)
        : await storeLarge(path, checked(await openEntry(zip, entry), entry), store, maxBytes, committed);
    };
  });
  return files;
}

/**
 * Checks that every file of a validated bundle zip unpacks to what its entry declares (its size, its
 * CRC-32), storing nothing: what an upload must know before it answers, so that a corrupt zip is a
 * 400 invalid_zip naming the entry and never reaches a device. extractBundleFiles, run after the
 * answer (services/bundle-files.ts), then stores them. The files a device installs (those under
 * the root folder) that can be held in memory are checked in one job of `digests`, which reads the
 * zip in a worker thread (a message per file cost more than unpacking it); larger ones are
 * streamed through here.
 */
export async function checkBundleFiles(zipFile: string, zip: ZipSummary, digests: DigestPool): Promise<void> {
  const prefix = zip.root ? `${zip.root}/` : '';
  const installed = zip.files.filter((file) => file.name.startsWith(prefix));
  const fits = (file: PackedEntry) =>
    file.size <= IN_MEMORY_MAX_BYTES && file.compressedSize <= IN_MEMORY_MAX_BYTES;
  await digests
    .checkZip(zipFile, installed.filter(fits))
    .catch((error: unknown) =>
      Promise.reject(error instanceof UnpackError ? invalidZip(`entry ${error.message}`) : error),
    );
  if (installed.every(fits)) return;
  await eachBundleFile(zipFile, zip.root, (_path, entry, opened) => async () => {
    if (inMemory(entry)) return;
    const discard = new Writable({ write: (_chunk, _encoding, callback) => callback() });
    await pipeline(checked(await openEntry(opened, entry), entry), discard);
  });
}

/** One file's work: its path in the installed bundle and its entry; answers the task to run. */
type FileTask = (
  path: string,
  entry: yauzl.Entry,
  zip: yauzl.ZipFile,
  reader: ZipFileReader,
) => () => Promise<void>;

/**
 * Calls `task` for each file a full install leaves on the device (entries under the single top
 * folder, that folder stripped), in the zip's order, and runs up to FILES_IN_FLIGHT of the tasks it
 * answers at once (a large file alone). Throws the first failure only once no task runs any more, so
 * that whatever they stored is known to the caller by then.
 */
async function eachBundleFile(zipFile: string, root: string, task: FileTask): Promise<void> {
  const { zip, reader } = await openZip(zipFile, { lazyEntries: true, autoClose: false }).catch(
    (error: Error | undefined) => Promise.reject(invalidZip(error?.message ?? 'unreadable')),
  );
  const prefix = root ? `${root}/` : '';
  const group = new TaskGroup(FILES_IN_FLIGHT);
  try {
    for await (const entry of entries(zip)) {
      if (entry.fileName.endsWith('/')) continue;
      // Outside the single top folder: the plugin drops it when it flattens the bundle.
      if (!entry.fileName.startsWith(prefix)) continue;
      const alone = entry.uncompressedSize > SHARED_MAX_BYTES;
      if (alone) await group.settle();
      await group.add(task(entry.fileName.slice(prefix.length), entry, zip, reader));
      if (alone) await group.settle();
    }
  } finally {
    // Every file started is stored or has failed before the zip closes and the caller cleans up.
    try {
      await group.settle();
    } finally {
      zip.close();
    }
  }
}

/** Held in memory and handed to a worker, rather than streamed through this thread. */
const inMemory = (entry: yauzl.Entry) =>
  entry.uncompressedSize <= IN_MEMORY_MAX_BYTES && entry.compressedSize <= IN_MEMORY_MAX_BYTES;

const entryProblem = (entry: yauzl.Entry, what: string) => invalidZip(`entry "${entry.fileName}" ${what}`);

/** A worker's UnpackError as the 400 naming the entry; any other failure (the store's) as it is. */
const asZipProblem = (entry: yauzl.Entry, error: unknown) =>
  error instanceof UnpackError ? entryProblem(entry, error.message) : error;

/** An entry's data as the zip holds it (packed), with what its central directory declares. */
async function readPacked(
  entry: yauzl.Entry,
  zip: yauzl.ZipFile,
  reader: ZipFileReader,
): Promise<PackedFile> {
  const { fileDataStart } = await zip
    .readLocalFileHeaderPromise(entry, { minimal: true })
    .catch((error: Error) => Promise.reject(entryProblem(entry, `cannot be unpacked: ${error.message}`)));
  const data = await reader.bytes(fileDataStart, entry.compressedSize);
  if (data.length < entry.compressedSize)
    throw entryProblem(entry, 'cannot be unpacked: the zip ends inside it');
  return { data, method: entry.compressionMethod, crc32: entry.crc32, size: entry.uncompressedSize };
}

async function storeSmall(
  path: string,
  entry: yauzl.Entry,
  zip: yauzl.ZipFile,
  reader: ZipFileReader,
  store: BlobStore,
  digests: DigestPool,
  committed: string[],
): Promise<BundleFile> {
  const packed = await readPacked(entry, zip, reader);
  // Stored by the worker itself when the store can be opened there (both of ours can).
  const digest = await digests
    .unpack(packed, store.spec)
    .catch((error: unknown) => Promise.reject(asZipProblem(entry, error)));
  if (digest.stored) await store.put(digest.storedSha256, digest.stored);
  committed.push(digest.storedSha256);
  const { fileHash, storedSha256, storedSize, brotli } = digest;
  return { path, fileHash, storedSha256, storedSize, brotli };
}

async function storeLarge(
  path: string,
  source: Readable,
  store: BlobStore,
  maxBytes: number,
  committed: string[],
): Promise<BundleFile> {
  const staged = await store.stage(source, { maxBytes });
  await store.commit(staged);
  committed.push(staged.sha256);
  return {
    path,
    fileHash: staged.sha256,
    storedSha256: staged.sha256,
    storedSize: staged.size,
    brotli: false,
  };
}

async function* entries(zip: yauzl.ZipFile): AsyncGenerator<yauzl.Entry> {
  while (true) {
    const entry = await new Promise<yauzl.Entry | null>((resolve, reject) => {
      const cleanup = () => {
        zip.off('entry', onEntry);
        zip.off('end', onEnd);
        zip.off('error', onError);
      };
      const onEntry = (value: yauzl.Entry) => (cleanup(), resolve(value));
      const onEnd = () => (cleanup(), resolve(null));
      const onError = (error: Error) => (cleanup(), reject(invalidZip(error.message)));
      zip.on('entry', onEntry);
      zip.on('end', onEnd);
      zip.on('error', onError);
      zip.readEntry();
    });
    if (!entry) return;
    yield entry;
  }
}

function openEntry(zip: yauzl.ZipFile, entry: yauzl.Entry): Promise<Readable> {
  return new Promise((resolve, reject) =>
    zip.openReadStream(entry, (error, stream) =>
      error || !stream
        ? reject(invalidZip(`entry "${entry.fileName}": ${error?.message ?? 'unreadable'}`))
        : resolve(stream),
    ),
  );
}

/**
 * The entry's bytes as they are unpacked, checked against its CRC-32 at the end (yauzl checks the
 * size, not the CRC). Any failure of the zip's side, a corrupt deflate stream or a size that lies,
 * becomes a 400 naming the entry; the consumer's own failures (the store's) stay what they are.
 */
function checked(source: Readable, entry: yauzl.Entry): Readable {
  const problem = (what: string) => entryProblem(entry, what);
  let crc = 0;
  const out = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      crc = crc32(chunk, crc);
      callback(null, chunk);
    },
    flush(callback) {
      if (crc === entry.crc32) return callback();
      const hex = (value: number) => value.toString(16).padStart(8, '0');
      callback(problem(`fails its CRC-32 check (${hex(crc)}, not ${hex(entry.crc32)})`));
    },
  });
  source.once('error', (error: Error) => out.destroy(problem(`cannot be unpacked: ${error.message}`)));
  // A consumer that gives up (the store failed) stops the reading and inflating behind it.
  out.once('close', () => {
    if (!source.readableEnded) source.destroy();
  });
  source.pipe(out);
  return out;
}
