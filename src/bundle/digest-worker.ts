import { createHash } from 'node:crypto';
import { closeSync, openSync, readSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import { parentPort } from 'node:worker_threads';
import { brotliCompressSync, crc32, inflateRawSync, constants as zlib } from 'node:zlib';
import type { BlobStore, BlobStoreSpec } from '../storage/blob-store.js';
import { FsBlobStore } from '../storage/fs-store.js';
import { openStoreFromSpec } from '../storage/open-spec.js';
import { owned, type DigestReply, type DigestRequest } from './digest-pool.js';
import type { PackedEntry } from './validate-zip.js';

/** Files below this are sent as they are, as the Capgo CLI does; larger ones are brotli-compressed when it pays. */
const BROTLI_MIN_BYTES = 8192;
/** The zip methods validate-zip.ts lets through. */
const STORED = 0;
const DEFLATED = 8;

/**
 * Publishing is background work: on Linux, where a thread has a nice value of its own, this thread
 * runs at nice 10, so that when the update checks need the core they get about nine tenths of it and
 * an upload takes the rest. Not the lowest priority (19): that starves uploads behind any other busy
 * process on the host (beside one busy process on its core, a 20-file upload took 4 to 7 s at 19 and
 * 0.7 to 1.2 s at 10; beside two, up to 2 minutes at 19, when the client gave up). Elsewhere `setPriority(0, …)` would lower the whole process, the main
 * thread with it, so it is left alone. Failing to is harmless.
 */
if (process.platform === 'linux') {
  try {
    os.setPriority(0, os.constants.priority.PRIORITY_BELOW_NORMAL);
  } catch {
    // A sandbox may forbid it; the work is the same at the default priority.
  }
}

/** A file's data that does not unpack to what its zip entry declares. */
class Unpacking extends Error {}

/** The file's own bytes from a zip entry's data, checked against its declared size and CRC-32. */
function unpack(data: Uint8Array, entry: NonNullable<DigestRequest['entry']>): Uint8Array {
  let bytes: Uint8Array;
  if (entry.method === STORED) bytes = data;
  else if (entry.method === DEFLATED) {
    try {
      // One byte more than declared is enough to tell that it holds more.
      bytes = inflateRawSync(data, { maxOutputLength: entry.size + 1 });
    } catch (error) {
      const tooLarge = (error as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE';
      throw new Unpacking(
        `cannot be unpacked: ${tooLarge ? `it holds more than the ${entry.size} bytes it declares` : (error as Error).message}`,
      );
    }
  } else throw new Unpacking(`uses compression method ${entry.method}`);
  if (bytes.length !== entry.size) {
    throw new Unpacking(
      `cannot be unpacked: it holds ${bytes.length > entry.size ? 'more than' : `only ${bytes.length} of`} the ${entry.size} bytes it declares`,
    );
  }
  const crc = crc32(bytes);
  if (crc !== entry.crc32) {
    const hex = (value: number) => value.toString(16).padStart(8, '0');
    throw new Unpacking(`fails its CRC-32 check (${hex(crc)}, not ${hex(entry.crc32)})`);
  }
  return bytes;
}

/**
 * Reads each entry's packed data from the zip (in order of its place in the file, into one buffer
 * grown to the largest) and unpacks it against what it declares; the first problem, prefixed with
 * the entry's quoted name, or undefined. Blocking reads: this thread does nothing else meanwhile.
 */
function checkZip(path: string, entries: PackedEntry[]): string | undefined {
  const fd = openSync(path, 'r');
  try {
    let buffer = Buffer.alloc(0);
    for (const entry of [...entries].sort((a, b) => a.dataStart - b.dataStart)) {
      if (buffer.length < entry.compressedSize) buffer = Buffer.allocUnsafe(entry.compressedSize);
      let filled = 0;
      while (filled < entry.compressedSize) {
        const read = readSync(fd, buffer, filled, entry.compressedSize - filled, entry.dataStart + filled);
        if (read === 0) return `"${entry.name}" cannot be unpacked: the zip ends inside it`;
        filled += read;
      }
      try {
        unpack(buffer.subarray(0, entry.compressedSize), entry);
      } catch (error) {
        if (error instanceof Unpacking) return `"${entry.name}" ${error.message}`;
        throw error;
      }
    }
    return undefined;
  } finally {
    closeSync(fd);
  }
}

/** The stores this thread has opened, by their spec: one client (and its connections) each. */
const stores = new Map<string, Promise<BlobStore>>();

function storeOf(spec: BlobStoreSpec): Promise<BlobStore> {
  const key = JSON.stringify(spec);
  let store = stores.get(key);
  if (!store) {
    store = openStoreFromSpec(spec);
    stores.set(key, store);
  }
  return store;
}

/** A file's sha256, and the bytes to store: brotli-compressed when it pays. */
function digest(bytes: Uint8Array) {
  const fileHash = createHash('sha256').update(bytes).digest('hex');
  let stored = bytes;
  let brotli = false;
  if (bytes.length >= BROTLI_MIN_BYTES) {
    const packed = brotliCompressSync(bytes, {
      params: { [zlib.BROTLI_PARAM_QUALITY]: 6, [zlib.BROTLI_PARAM_SIZE_HINT]: bytes.length },
    });
    if (packed.length < bytes.length - 10) {
      stored = packed;
      brotli = true;
    }
  }
  const storedSha256 = stored === bytes ? fileHash : createHash('sha256').update(stored).digest('hex');
  return { fileHash, stored, storedSha256, brotli };
}

/**
 * One thread of the digest pool (digest-pool.ts): unpacks a bundle file when given its zip entry's
 * data, hashes it, brotli-compresses it when it pays, and hashes what is to be stored, off the thread
 * that answers requests; then stores it itself when given a store, or sends the bytes back
 * (transferred, as they came). Several requests may be in flight: the next is unpacked while one
 * waits for its store.
 */
parentPort?.on('message', ({ id, bytes: input, entry, store, file, zip }: DigestRequest) => {
  if (zip) {
    let reply: DigestReply;
    try {
      const problem = checkZip(zip.path, zip.entries);
      reply = problem === undefined ? { id, done: true } : { id, problem };
    } catch (error) {
      reply = { id, error: error instanceof Error ? error.message : String(error) };
    }
    parentPort!.postMessage(reply);
    return;
  }
  if (file && store) {
    readFile(file.path)
      .then(async (bytes) => (await storeOf(store)).put(file.sha256, bytes))
      .then(
        () => parentPort!.postMessage({ id, done: true } satisfies DigestReply),
        (error: unknown) => parentPort!.postMessage(storeFailure(id, error)),
      );
    return;
  }
  let result: ReturnType<typeof digest>;
  try {
    result = digest(entry ? unpack(input, entry) : input);
  } catch (error) {
    const reply: DigestReply =
      error instanceof Unpacking
        ? { id, problem: error.message }
        : { id, error: error instanceof Error ? error.message : String(error) };
    parentPort!.postMessage(reply);
    return;
  }
  const { fileHash, stored, storedSha256, brotli } = result;
  const answer = { id, fileHash, storedSha256, storedSize: stored.length, brotli };
  if (!store) {
    // What goes back must own its ArrayBuffer to be transferred: brotli's output or inflate's may
    // share a pooled one, and is then copied.
    const reply: DigestReply = { ...answer, stored: owned(stored) };
    parentPort!.postMessage(reply, [reply.stored!.buffer]);
    return;
  }
  storeOf(store)
    // On disk, written from this thread, in blocking calls (FsBlobStore.putSync).
    .then((target) =>
      target instanceof FsBlobStore ? target.putSync(storedSha256, stored) : target.put(storedSha256, stored),
    )
    .then(
      () => parentPort!.postMessage(answer satisfies DigestReply),
      (error: unknown) => parentPort!.postMessage(storeFailure(id, error)),
    );
});

/** A store's error as plain data for the pool (an Error's own fields do not cross threads). */
function storeFailure(id: number, error: unknown): DigestReply {
  const e = error as { name?: string; message?: string; code?: unknown; $metadata?: unknown } | null;
  return {
    id,
    storeFailure: {
      name: e?.name,
      message: e?.message ?? String(error),
      code: e?.code,
      // Plain data (attempts, HTTP status): what tells a storage outage from a bug.
      $metadata: e?.$metadata === undefined ? undefined : JSON.parse(JSON.stringify(e.$metadata)),
    },
  };
}
