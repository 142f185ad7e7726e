import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { DOWNLOAD_SECRET_FILE, loadOrCreateDownloadSecret } from './download-secret.js';

const log = pino({ level: 'silent' });
const folders: string[] = [];
const tempDir = async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'overair-secret-'));
  folders.push(dir);
  return dir;
};
afterEach(async () => {
  for (const dir of folders.splice(0)) await fs.rm(dir, { recursive: true, force: true });
});

describe('loadOrCreateDownloadSecret', () => {
  it('creates one secret, mode 0600, and gives the same one to every later or concurrent caller', async () => {
    const dir = path.join(await tempDir(), 'not-yet');
    const secrets = await Promise.all(Array.from({ length: 8 }, () => loadOrCreateDownloadSecret(dir, log)));
    expect(new Set(secrets).size).toBe(1);
    expect(secrets[0]!.length).toBeGreaterThanOrEqual(32);
    expect(await loadOrCreateDownloadSecret(dir, log)).toBe(secrets[0]);
    const { mode } = await fs.stat(path.join(dir, DOWNLOAD_SECRET_FILE));
    if (process.platform !== 'win32') expect(mode & 0o777).toBe(0o600);
    expect((await fs.readdir(dir)).filter((name) => name.endsWith('.tmp'))).toEqual([]);
  });

  it('refuses a file holding a secret that is too short', async () => {
    const dir = await tempDir();
    await fs.writeFile(path.join(dir, DOWNLOAD_SECRET_FILE), 'short\n', { mode: 0o600 });
    await expect(loadOrCreateDownloadSecret(dir, log)).rejects.toThrow(/shorter than 32/);
  });
});
