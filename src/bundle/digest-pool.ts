import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';

/** A bundle file's sha256, and the bytes to store: brotli-compressed when it pays, else its own. */
export interface FileDigest {
  fileHash: string;
  stored: Buffer;
  /** sha256 of `stored`: the blob's name. */
  storedSha256: string;
  brotli: boolean;
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

/** What the pool sends a worker (digest-worker.ts): a file's bytes, packed when `entry` is given. */
export interface DigestRequest {
  id: number;
  bytes: Uint8Array<ArrayBuffer>;
  entry?: { method: number; crc32: number; size: number };
}

/** What a worker answers; `problem` is an UnpackError's message. */
export type DigestReply =
  | {
      id: number;
      fileHash: string;
      stored: Uint8Array<ArrayBuffer>;
      storedSha256: string;
      brotli: boolean;
    }
  | { id: number; error: string }
  | { id: number; problem: string };

interface Job {
  request: DigestRequest;
  resolve: (digest: FileDigest) => void;
  reject: (error: Error) => void;
}

interface Slot {
  worker: Worker;
  job?: Job;
}

/**
 * A few worker threads that unpack, check, hash and compress the files of uploaded bundles (inflate,
 * CRC-32, sha256, brotli quality 6), so that a large upload does not hold up the update checks
 * answered on the main thread. Threads start at the first use, at most one fewer than the machine's
 * cores (at least one), at a low priority where the system allows (digest-worker.ts); idle ones do
 * not keep the process alive; `close` ends them.
 */
export class DigestPool {
  private readonly slots: Slot[] = [];
  private readonly queue: Job[] = [];
  private nextId = 0;
  private closed = false;

  constructor(readonly size = Math.max(1, availableParallelism() - 1)) {}

  /** Takes over `bytes`: its memory moves to a worker and comes back as `stored` (or is dropped). */
  digest(bytes: Buffer): Promise<FileDigest> {
    return this.run({ id: this.nextId++, bytes: owned(bytes) });
  }

  /**
   * A zip entry's file, unpacked and checked against its declared size and CRC-32 in a worker, then
   * digested as `digest` does; an UnpackError when it does not unpack to what it declares. Copies
   * `file.data` (it may be a view of a larger buffer).
   */
  unpack(file: PackedFile): Promise<FileDigest> {
    const { method, crc32, size } = file;
    return this.run({ id: this.nextId++, bytes: new Uint8Array(file.data), entry: { method, crc32, size } });
  }

  private run(request: DigestRequest): Promise<FileDigest> {
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
    for (const slot of slots) slot.job?.reject(stopped);
    await Promise.all(slots.map((slot) => slot.worker.terminate()));
  }

  private dispatch(): void {
    while (this.queue.length > 0) {
      let slot = this.slots.find((candidate) => !candidate.job);
      if (!slot && this.slots.length < this.size) slot = this.spawn();
      if (!slot) return;
      const job = this.queue.shift()!;
      slot.job = job;
      slot.worker.ref();
      slot.worker.postMessage(job.request, [job.request.bytes.buffer]);
    }
  }

  private spawn(): Slot {
    const worker = startWorker();
    const slot: Slot = { worker };
    worker.on('message', (reply: DigestReply) => {
      const job = slot.job;
      if (!job || job.request.id !== reply.id) return;
      slot.job = undefined;
      worker.unref();
      if ('error' in reply) job.reject(new Error(`digest worker: ${reply.error}`));
      else if ('problem' in reply) job.reject(new UnpackError(reply.problem));
      else {
        const stored = Buffer.from(reply.stored.buffer, reply.stored.byteOffset, reply.stored.byteLength);
        job.resolve({
          fileHash: reply.fileHash,
          stored,
          storedSha256: reply.storedSha256,
          brotli: reply.brotli,
        });
      }
      this.dispatch();
    });
    // A worker that dies (out of memory, say) fails its job and is replaced at the next dispatch.
    const lost = (error: Error) => {
      const index = this.slots.indexOf(slot);
      if (index < 0) return;
      this.slots.splice(index, 1);
      slot.job?.reject(error);
      slot.job = undefined;
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
