import { createHash, randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ClientAborted, OverairError, errors } from '../errors.js';
import type { StageOptions, StagedBlob } from './blob-store.js';

/**
 * Streams an upload into a temporary file in `tmpDir` while hashing and counting it. Memory stays
 * flat whatever the size. On any failure (too large, checksum mismatch, client gone) the temporary
 * file is removed before the error propagates. A failure of `source` itself (the client's request
 * stream: reset, closed early, cut for idling) is thrown as ClientAborted, so that it is never taken
 * for a fault of the server or its database (ECONNRESET is also what a lost database says).
 */
export async function stageToTempFile(
  source: Readable,
  tmpDir: string,
  options: StageOptions,
): Promise<StagedBlob> {
  await fs.mkdir(tmpDir, { recursive: true });
  const file = path.join(tmpDir, `upload-${randomUUID()}`);
  const hash = createHash('sha256');
  let size = 0;
  const meter = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      size += chunk.length;
      if (size > options.maxBytes) {
        callback(errors.payloadTooLarge({ what: 'The upload', limit: `${options.maxBytes} bytes` }));
        return;
      }
      hash.update(chunk);
      callback(null, chunk);
    },
  });
  // Which stream failed first: pipeline passes the first error on to the others, so a full disk
  // also shows as an error of the source afterwards.
  let failedFirst: 'source' | 'other' | undefined;
  const writer = createWriteStream(file, { flags: 'wx' });
  source.once('error', () => (failedFirst ??= 'source'));
  for (const stream of [meter, writer]) stream.once('error', () => (failedFirst ??= 'other'));
  try {
    await pipeline(source, meter, writer).catch((error: unknown) => {
      throw failedFirst === 'source' && !(error instanceof OverairError) ? new ClientAborted(error) : error;
    });
    const sha256 = hash.digest('hex');
    if (size === 0 && !options.allowEmpty) throw errors.emptyBody({ what: 'file' });
    if (options.expectedSha256 && options.expectedSha256 !== sha256) {
      throw errors.checksumMismatch({ actual: sha256, declared: options.expectedSha256 });
    }
    return { sha256, size, file };
  } catch (error) {
    await fs.rm(file, { force: true });
    throw error;
  }
}
