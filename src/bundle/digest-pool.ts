import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';

/** A bundle file's sha256, and the bytes to store: brotli-compressed when it pays, else its own. */
export interface FileDigest {
  fileHash: string;
  stored: Buffer;
  brotli: boolean;
}

/** What the pool sends a worker (digest-worker.ts). */
export interface DigestRequest {
  id: number;
  bytes: Uint8Array<ArrayBuffer>;
}

/** What a worker answers. */
export type DigestReply =
  | { id: number; fileHash: string; stored: Uint8Array<ArrayBuffer>; brotli: boolean }
  | { id: number; error: string };

interface Job {
  id: number;
  bytes: Uint8Array<ArrayBuffer>;
  resolve: (digest: FileDigest) => void;
  reject: (error: Error) => void;
}

interface Slot {
  worker: Worker;
  job?: Job;
}

/**
 * A few worker threads that hash and compress the files of uploaded bundles (sha256, brotli quality
 * 6), so that a large upload does not hold up the update checks answered on the main thread. Threads
 * start at the first use, at most one fewer than the machine's cores (at least one); idle ones do
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
    if (this.closed) return Promise.reject(new Error('the digest pool is closed'));
    return new Promise((resolve, reject) => {
      this.queue.push({ id: this.nextId++, bytes: owned(bytes), resolve, reject });
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
      const request: DigestRequest = { id: job.id, bytes: job.bytes };
      slot.worker.postMessage(request, [job.bytes.buffer]);
    }
  }

  private spawn(): Slot {
    const worker = startWorker();
    const slot: Slot = { worker };
    worker.on('message', (reply: DigestReply) => {
      const job = slot.job;
      if (!job || job.id !== reply.id) return;
      slot.job = undefined;
      worker.unref();
      if ('error' in reply) job.reject(new Error(`digest worker: ${reply.error}`));
      else {
        const stored = Buffer.from(reply.stored.buffer, reply.stored.byteOffset, reply.stored.byteLength);
        job.resolve({ fileHash: reply.fileHash, stored, brotli: reply.brotli });
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
