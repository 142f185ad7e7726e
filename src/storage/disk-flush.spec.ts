import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { flushDisk, probeDiskFlush } from './disk-flush.js';

describe('disk flush', () => {
  it('finds syncfs on Linux (coreutils), and flushing a folder then works', async () => {
    const folder = await fs.mkdtemp(path.join(os.tmpdir(), 'overair-flush-'));
    try {
      const how = await probeDiskFlush(folder);
      expect(how).toBe(process.platform === 'linux' ? 'syncfs' : how);
      await expect(flushDisk(how, folder)).resolves.toBeUndefined();
    } finally {
      await fs.rm(folder, { recursive: true, force: true });
    }
  });

  it('fails loudly on a folder that is not there, rather than pretending', async () => {
    await expect(flushDisk('syncfs', path.join(os.tmpdir(), 'overair-no-such-folder-x'))).rejects.toThrow();
  });
});
