import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { BlobStoreSpec } from '../storage/blob-store.js';
import type { PackedEntry } from './validate-zip.js';

/** A bundle file's sha256, and the bytes to store: brotli-compressed when it pays, else its own. */
export interface FileDigest {
  fileHash: string;
  /** sha256 of the bytes stored: the blob's name. */
  storedSha256: string;
  storedSize: number;
  brotli: boolean;
  /** The bytes to store; absent when the worker stored them itself (`unpack` with a store). */
  stored?: Buffer;
}

/** A zip entry's data as the zip holds it, and what its central directory declares. */
export interface PackedFile {
  /** Stored (method 0) or deflated (method 8) bytes. */
  data: Uint8Array;
  method: number;
  crc32: number;
  size: number;
}

/**
 * Thrown for a file whose data does not unpack to what its entry declares: a corrupt deflate stream,
 * another size, another CRC-32. The message says what, to follow the entry's name.
 */
export class UnpackError extends Error {}

/**
 * What the pool sends a worker (digest-worker.ts): a file's bytes, packed when `entry` is given, to
 * be stored by the worker itself in `store` when given.
 */
export interface DigestRequest {
  id: number;
  bytes: Uint8Array<ArrayBuffer>;
  entry?: { method: number; crc32: number; size: number };
  store?: BlobStoreSpec;
  /** Instead of bytes (then empty): a local file whose bytes go to `store` under `sha256`. */
  file?: { path: string; sha256: string };
  /** Instead of bytes (then empty): a zip whose entries the worker reads and checks itself. */
  zip?: { path: string; entries: PackedEntry[] };
}

/** An error of the worker's store as plain data: what the HTTP layer tells outages by. */
interface StoreFailure {
  name?: string;
  message: string;
  code?: unknown;
  $metadata?: unknown;
}

/** What a worker answers; `problem` is an UnpackError's message. */
export type DigestReply =
  | {
      id: number;
      fileHash: string;
      storedSha256: string;
      storedSize: number;
      brotli: boolean;
      stored?: Uint8Array<ArrayBuffer>;
    }
  | { id: number; done: true }
  | { id: number; error: string }
  | { id: number; problem: string }
  | { id: number; storeFailure: StoreFailure };

interface Job {
  request: DigestRequest;
  /** null for a `check`, which answers nothing but that the file unpacks. */
  resolve: (digest: FileDigest | null) => void;
  reject: (error: Error) => void;
}

interface Slot {
  worker: Worker;
  /** Jobs sent to it and not answered yet, by id. */
  jobs: Map<number, Job>;
}

/** Jobs a worker is given at once: while some wait for their store, it unpacks the next. */
const JOBS_PER_WORKER = 8;

/**
 * A few worker threads that unpack, check, hash and compress the files of uploaded bundles (inflate,
 * CRC-32, sha256, brotli quality 6), and can store them too, so that a large upload does not hold up
 * the update checks answered on the main thread. Threads start at the first use, at most one fewer
 * than the machine's cores (at least one), at a lower priority where the system allows
 * (digest-worker.ts), each with up to JOBS_PER_WORKER jobs at once; idle ones do not keep the process
 * alive; `close` ends them.
 */
export class DigestPool {
  private readonly slots: Slot[] = [];
  private readonly queue: Job[] = [];
  private nextId = 0;
  private closed = false;

  constructor(readonly size = Math.max(1, availableParallelism() - 1)) {}

  /** Takes over `bytes`: its memory moves to a worker and comes back as `stored` (or is dropped). */
  async digest(bytes: Buffer): Promise<FileDigest & { stored: Buffer }> {
    const digest = (await this.run({ id: this.nextId++, bytes: owned(bytes) }))!;
    return { ...digest, stored: digest.stored! };
  }

  /**
   * Checks that each of a zip's `entries` unpacks to what it declares (size, CRC-32), in one job:
   * the worker reads the zip itself, in the entries' order, so that a bundle of 1,000 files is one
   * message, not 1,000, and the thread that answers update checks reads and copies nothing. An
   * UnpackError starting with the entry's name in quotes when one does not.
   */
  async checkZip(path: string, entries: PackedEntry[]): Promise<void> {
    if (entries.length === 0) return;
    await this.run({ id: this.nextId++, bytes: new Uint8Array(0), zip: { path, entries } });
  }

  /**
   * Stores a local file's bytes (a bundle's file, prepared in a scratch folder) in the store
   * `spec` opens, from a worker thread: what an S3 client does per object (signing, parsing its
   * answers) stays off the thread that answers update checks. The worker reads the whole file.
   */
  async storeFile(path: string, sha256: string, store: BlobStoreSpec): Promise<void> {
    await this.run({ id: this.nextId++, bytes: new Uint8Array(0), file: { path, sha256 }, store });
  }

  /**
   * A zip entry's file, unpacked and checked against its declared size and CRC-32 in a worker, then
   * digested as `digest` does; an UnpackError when it does not unpack to what it declares. With
   * `store`, the worker also stores it there (BlobStore.put) and sends back no bytes; a failure of
   * that store comes back with its name, code and $metadata. Copies `file.data` (it may be a view of
   * a larger buffer).
   */
  async unpack(file: PackedFile, store?: BlobStoreSpec): Promise<FileDigest> {
    const { method, crc32, size } = file;
    const digest = await this.run({
      id: this.nextId++,
      bytes: new Uint8Array(file.data),
      entry: { method, crc32, size },
      ...(store && { store }),
    });
    return digest!;
  }

  private run(request: DigestRequest): Promise<FileDigest | null> {
    if (this.closed) return Promise.reject(new Error('the digest pool is closed'));
    return new Promise((resolve, reject) => {
      this.queue.push({ request, resolve, reject });
      this.dispatch();
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    const slots = this.slots.splice(0);
    const stopped = new Error('the digest pool is closed');
    for (const job of this.queue.splice(0)) job.reject(stopped);
    for (const slot of slots) for (const job of slot.jobs.values()) job.reject(stopped);
    await Promise.all(slots.map((slot) => slot.worker.terminate()));
  }

  /** Each job to the least busy worker, a new one while there are fewer than `size` and all are busy. */
  private dispatch(): void {
    while (this.queue.length > 0) {
      let slot = this.slots.reduce<Slot | undefined>(
        (best, candidate) => (!best || candidate.jobs.size < best.jobs.size ? candidate : best),
        undefined,
      );
      if ((!slot || slot.jobs.size > 0) && this.slots.length < this.size) slot = this.spawn();
      if (!slot || slot.jobs.size >= JOBS_PER_WORKER) return;
      const job = this.queue.shift()!;
      slot.jobs.set(job.request.id, job);
      slot.worker.ref();
      slot.worker.postMessage(job.request, [job.request.bytes.buffer]);
    }
  }

  private spawn(): Slot {
    const worker = startWorker();
    const slot: Slot = { worker, jobs: new Map() };
    worker.on('message', (reply: DigestReply) => {
      const job = slot.jobs.get(reply.id);
      if (!job) return;
      slot.jobs.delete(reply.id);
      if (slot.jobs.size === 0) worker.unref();
      if ('error' in reply) job.reject(new Error(`digest worker: ${reply.error}`));
      else if ('problem' in reply) job.reject(new UnpackError(reply.problem));
      else if ('done' in reply) job.resolve(null);
      else if ('storeFailure' in reply) {
        const { message, ...fields } = reply.storeFailure;
        const given = Object.entries(fields).filter(([, value]) => value !== undefined);
        job.reject(Object.assign(new Error(message), Object.fromEntries(given)));
      } else {
        const { fileHash, storedSha256, storedSize, brotli, stored } = reply;
        job.resolve({
          fileHash,
          storedSha256,
          storedSize,
          brotli,
          ...(stored && { stored: Buffer.from(stored.buffer, stored.byteOffset, stored.byteLength) }),
        });
      }
      this.dispatch();
    });
    // A worker that dies (out of memory, say) fails its jobs and is replaced at the next dispatch.
    const lost = (error: Error) => {
      const index = this.slots.indexOf(slot);
      if (index < 0) return;
      this.slots.splice(index, 1);
      for (const job of slot.jobs.values()) job.reject(error);
      slot.jobs.clear();
      this.dispatch();
    };
    worker.on('error', lost);
    worker.on('exit', (code) => lost(new Error(`digest worker exited (code ${code})`)));
    this.slots.push(slot);
    return slot;
  }
}

/**
 * The compiled worker beside this module (dist), or, when this module runs from its TypeScript
 * source (tests, `tsx`), the .ts source loaded through tsx in the new thread.
 */
function startWorker(): Worker {
  if (!import.meta.url.endsWith('.ts')) {
    return new Worker(new URL('./digest-worker.js', import.meta.url));
  }
  const source = new URL('./digest-worker.ts', import.meta.url).href;
  const bootstrap = `import('tsx/esm/api').then((tsx) => tsx.tsImport(${JSON.stringify(source)}, ${JSON.stringify(import.meta.url)}))`;
  return new Worker(bootstrap, { eval: true });
}

/** `bytes` on an ArrayBuffer of its own, so it can be transferred (small Buffers share a pooled one). */
export function owned(bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  const { buffer } = bytes;
  if (buffer instanceof ArrayBuffer && bytes.byteOffset === 0 && bytes.byteLength === buffer.byteLength) {
    return new Uint8Array(buffer);
  }
  return new Uint8Array(bytes);
}
