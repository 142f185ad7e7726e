import { createHash, randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { OverairError, badRequest } from '../errors.js';
import type { StageOptions, StagedBlob } from './blob-store.js';

/**
 * Streams an upload into a temporary file in `tmpDir` while hashing and counting it. Memory stays
 * flat whatever the size. On any failure (too large, checksum mismatch, client gone) the temporary
 * file is removed before the error propagates.
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
        callback(
          new OverairError(
            413,
            'payload_too_large',
            `The upload exceeds the limit of ${options.maxBytes} bytes`,
          ),
        );
        return;
      }
      hash.update(chunk);
      callback(null, chunk);
    },
  });
  try {
    await pipeline(source, meter, createWriteStream(file, { flags: 'wx' }));
    const sha256 = hash.digest('hex');
    if (size === 0 && !options.allowEmpty) throw badRequest('empty_body', 'The upload is empty');
    if (options.expectedSha256 && options.expectedSha256 !== sha256) {
      throw badRequest(
        'checksum_mismatch',
        `The upload's sha256 is ${sha256}, not ${options.expectedSha256}`,
      );
    }
    return { sha256, size, file };
  } catch (error) {
    await fs.rm(file, { force: true });
    throw error;
  }
}
