import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import yazl from 'yazl';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ZipFileReader, openZip } from './zip-reader.js';

describe('ZipFileReader', () => {
  let dir: string;
  let file: string;
  const bytes = randomBytes(300_000);

  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'overair-zip-reader-'));
    file = path.join(dir, 'bytes');
    await fs.writeFile(file, bytes);
  });
  afterAll(() => fs.rm(dir, { recursive: true, force: true }));

  it('reads any range as the file holds it, from blocks or alone, and less only at the end', async () => {
    const reader = await ZipFileReader.open(file);
    expect(reader.size).toBe(bytes.length);
    const ranges = [
      [0, 30],
      [30, 100],
      [100_000, 20],
      [5, 40_000],
      [65_000, 1_000],
      [1_000, 200_000],
      [299_990, 10],
      [299_990, 100],
      [0, 0],
      ...Array.from({ length: 200 }, () => [
        Math.floor(Math.random() * bytes.length),
        Math.floor(Math.random() * 70_000),
      ]),
    ];
    for (const [position, length] of ranges as [number, number][]) {
      const expected = bytes.subarray(position, position + length);
      expect((await reader.bytes(position, length)).equals(expected), `${position}+${length}`).toBe(true);
      const into = Buffer.alloc(length + 2);
      const read = await new Promise<number | undefined>((resolve, reject) =>
        reader.read(into, 1, length, position, (error, count) => (error ? reject(error) : resolve(count))),
      );
      expect(read).toBe(expected.length);
      expect(into.subarray(1, 1 + expected.length).equals(expected)).toBe(true);
    }
    await reader.discard();
  });

  it('serves yauzl: entries, their data and streams, then closes the file with the zip', async () => {
    const zipFile = path.join(dir, 'bundle.zip');
    const contents = Array.from({ length: 300 }, (_, i) =>
      Buffer.from(`file ${i} `.repeat(1 + (i % 50) * 40)),
    );
    const zip = new yazl.ZipFile();
    contents.forEach((content, i) => zip.addBuffer(content, `f/${i}.txt`, { compress: i % 2 === 0 }));
    zip.end();
    await fs.writeFile(zipFile, zip.outputStream);

    const { zip: opened, reader } = await openZip(zipFile, { lazyEntries: true, autoClose: false });
    const seen: string[] = [];
    await new Promise<void>((resolve, reject) => {
      opened.on('error', reject);
      opened.on('end', resolve);
      opened.on('entry', (entry) => {
        seen.push(entry.fileName);
        opened.openReadStream(entry, async (error, stream) => {
          if (error || !stream) return reject(error);
          const chunks: Buffer[] = [];
          for await (const chunk of stream) chunks.push(chunk as Buffer);
          expect(Buffer.concat(chunks).equals(contents[Number(/\d+/.exec(entry.fileName)![0])]!)).toBe(true);
          opened.readEntry();
        });
      });
      opened.readEntry();
    });
    expect(seen).toHaveLength(contents.length);
    const closed = new Promise((resolve) => opened.once('close', resolve));
    opened.close();
    await closed;
    await expect(reader.bytes(0, 10)).rejects.toThrow();
  });

  it('refuses what is not a zip, and leaves no file open', async () => {
    await expect(openZip(file, { lazyEntries: true })).rejects.toThrow(/end of central directory/i);
    await expect(openZip(path.join(dir, 'missing.zip'), { lazyEntries: true })).rejects.toThrow(/ENOENT/);
  });
});
