import { createReadStream } from 'node:fs';
import fs, { type FileHandle } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import yauzl from 'yauzl';

/** What one read from the disk brings in at least. */
const BLOCK_BYTES = 64 * 1024;
/** Blocks kept: the files unpacked at once read around a few places of the zip. */
const BLOCKS_KEPT = 4;

interface Block {
  start: number;
  bytes: Buffer;
}

/**
 * A zip file for yauzl, read in blocks of 64 KiB (or more when one read asks for more), the last few
 * kept. yauzl makes two small reads per central directory entry and two per local header, each a
 * round trip through libuv's thread pool when it reads the file itself: 4,000 for a bundle of 1,000
 * files, on the thread that answers update checks. From blocks, a bundle's central directory takes one
 * or two reads and its local headers about one per 64 KiB of zip. Answers still come asynchronously
 * (setImmediate, as yauzl's own buffer reader does), so a long zip never holds up the event loop.
 * Streams (the data of large entries) read the file directly.
 */
export class ZipFileReader extends yauzl.RandomAccessReader {
  private readonly blocks: Block[] = [];

  private constructor(
    private readonly file: string,
    private readonly handle: FileHandle,
    readonly size: number,
  ) {
    super();
  }

  static async open(file: string): Promise<ZipFileReader> {
    const handle = await fs.open(file, 'r');
    try {
      return new ZipFileReader(file, handle, (await handle.stat()).size);
    } catch (error) {
      await handle.close();
      throw error;
    }
  }

  /**
   * `length` bytes at `position` (fewer only at the end of the file): from a block kept, or read with
   * the block that starts there. A read longer than a block is read alone and not kept.
   */
  async bytes(position: number, length: number): Promise<Buffer> {
    const cached = this.cached(position, length);
    if (cached) return cached;
    const bytes = await this.readAt(position, Math.max(length, BLOCK_BYTES));
    if (length > BLOCK_BYTES) return bytes;
    this.blocks.unshift({ start: position, bytes });
    this.blocks.length = Math.min(this.blocks.length, BLOCKS_KEPT);
    return bytes.subarray(0, length);
  }

  private async readAt(position: number, length: number): Promise<Buffer> {
    const bytes = Buffer.allocUnsafe(Math.max(0, Math.min(length, this.size - position)));
    let filled = 0;
    while (filled < bytes.length) {
      const { bytesRead } = await this.handle.read(bytes, filled, bytes.length - filled, position + filled);
      if (bytesRead === 0) break;
      filled += bytesRead;
    }
    return bytes.subarray(0, filled);
  }

  private cached(position: number, length: number): Buffer | undefined {
    for (const [index, block] of this.blocks.entries()) {
      const offset = position - block.start;
      if (offset >= 0 && offset + length <= block.bytes.length) {
        // The most recently used first: the one evicted is the one unused longest.
        if (index > 0) this.blocks.unshift(...this.blocks.splice(index, 1));
        return block.bytes.subarray(offset, offset + length);
      }
    }
    return undefined;
  }

  override read(
    buffer: Buffer,
    offset: number,
    length: number,
    position: number,
    callback: (error: Error | null, bytesRead?: number) => void,
  ): void {
    const cached = this.cached(position, length);
    if (cached) {
      cached.copy(buffer, offset);
      setImmediate(() => callback(null, cached.length));
      return;
    }
    this.bytes(position, length).then(
      (bytes) => callback(null, bytes.copy(buffer, offset)),
      (error: Error) => callback(error),
    );
  }

  override _readStreamForRange(start: number, end: number): Readable {
    // A file descriptor of its own: destroying a stream closes its descriptor, even without
    // autoClose. `end` is exclusive here, inclusive for createReadStream.
    return createReadStream(this.file, { start, end: end - 1 });
  }

  /** Closes the file of a reader yauzl did not take over. */
  discard(): Promise<void> {
    this.blocks.length = 0;
    return this.handle.close();
  }

  override close(callback: (error: Error | null) => void): void {
    this.blocks.length = 0;
    this.handle.close().then(
      () => callback(null),
      (error: Error) => callback(error),
    );
  }
}

/** yauzl over a ZipFileReader: `open` with the same options, fewer reads. */
export async function openZip(
  file: string,
  options: yauzl.Options,
): Promise<{ zip: yauzl.ZipFile; reader: ZipFileReader }> {
  const reader = await ZipFileReader.open(file);
  try {
    const zip = await new Promise<yauzl.ZipFile>((resolve, reject) =>
      yauzl.fromRandomAccessReader(reader, reader.size, options, (error, zip) =>
        error || !zip ? reject(error ?? new Error('unreadable')) : resolve(zip),
      ),
    );
    return { zip, reader };
  } catch (error) {
    // yauzl never closes a reader it failed to open a zip from.
    await reader.discard();
    throw error;
  }
}
