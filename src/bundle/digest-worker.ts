import { createHash } from 'node:crypto';
import { parentPort } from 'node:worker_threads';
import { brotliCompressSync, constants as zlib } from 'node:zlib';
import { owned, type DigestReply, type DigestRequest } from './digest-pool.js';

/** Files below this are sent as they are, as the Capgo CLI does; larger ones are brotli-compressed when it pays. */
const BROTLI_MIN_BYTES = 8192;

/**
 * One thread of the digest pool (digest-pool.ts): hashes a bundle file's bytes and brotli-compresses
 * them when it pays, off the thread that answers requests. The bytes come and go back transferred.
 */
parentPort?.on('message', ({ id, bytes }: DigestRequest) => {
  try {
    const fileHash = createHash('sha256').update(bytes).digest('hex');
    let stored = bytes;
    let brotli = false;
    if (bytes.length >= BROTLI_MIN_BYTES) {
      const packed = brotliCompressSync(bytes, {
        params: { [zlib.BROTLI_PARAM_QUALITY]: 6, [zlib.BROTLI_PARAM_SIZE_HINT]: bytes.length },
      });
      if (packed.length < bytes.length - 10) {
        // Brotli's output may share a pooled buffer, which cannot be transferred: then it is copied.
        stored = owned(packed);
        brotli = true;
      }
    }
    const reply: DigestReply = { id, fileHash, stored, brotli };
    parentPort!.postMessage(reply, [stored.buffer]);
  } catch (error) {
    const reply: DigestReply = { id, error: error instanceof Error ? error.message : String(error) };
    parentPort!.postMessage(reply);
  }
});
