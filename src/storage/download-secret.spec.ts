import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  DOWNLOAD_SECRET_FILE,
  DOWNLOAD_SECRET_SETTING,
  loadOrCreateDownloadSecret,
  type SecretSettings,
} from './download-secret.js';

const folders: string[] = [];
const tempDir = async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'overair-secret-'));
  folders.push(dir);
  return dir;
};
afterEach(async () => {
  for (const dir of folders.splice(0)) await fs.rm(dir, { recursive: true, force: true });
});

/** The settings table's insert-if-absent, in memory. */
function memorySettings(
  initial: Record<string, string> = {},
): SecretSettings & { values: Map<string, string> } {
  const values = new Map(Object.entries(initial));
  return {
    values,
    async putIfAbsent(key, value) {
      if (!values.has(key)) values.set(key, value);
      return values.get(key)!;
    },
  };
}

const silent = () => pino({ level: 'silent' });
const FILE_SECRET = 'a-secret-from-an-earlier-version-0123456789';

describe('loadOrCreateDownloadSecret', () => {
  it('generates one secret into the database, none on disk, and gives it to every later caller', async () => {
    const dir = await tempDir();
    const settings = memorySettings();
    const first = await loadOrCreateDownloadSecret(dir, settings, silent());
    expect(first.length).toBeGreaterThanOrEqual(32);
    expect(settings.values.get(DOWNLOAD_SECRET_SETTING)).toBe(first);
    // Another instance, with a data folder of its own, gets the same one.
    expect(await loadOrCreateDownloadSecret(await tempDir(), settings, silent())).toBe(first);
    expect(await fs.readdir(dir)).toEqual([]);
  });

  it('honours a secret file of an earlier version and copies it into an empty database', async () => {
    const dir = await tempDir();
    await fs.writeFile(path.join(dir, DOWNLOAD_SECRET_FILE), `${FILE_SECRET}\n`, { mode: 0o600 });
    const settings = memorySettings();
    expect(await loadOrCreateDownloadSecret(dir, settings, silent())).toBe(FILE_SECRET);
    expect(await loadOrCreateDownloadSecret(await tempDir(), settings, silent())).toBe(FILE_SECRET);
  });

  it('keeps a secret file that differs from the database one, and warns that instances disagree', async () => {
    const dir = await tempDir();
    await fs.writeFile(path.join(dir, DOWNLOAD_SECRET_FILE), FILE_SECRET, { mode: 0o600 });
    const settings = memorySettings({ [DOWNLOAD_SECRET_SETTING]: 'x'.repeat(43) });
    const log = silent();
    const warn = vi.spyOn(log, 'warn');
    expect(await loadOrCreateDownloadSecret(dir, settings, log)).toBe(FILE_SECRET);
    expect(String(warn.mock.calls[0]?.[1])).toMatch(/differs from the secret in the database/);
    expect(settings.values.get(DOWNLOAD_SECRET_SETTING)).toBe('x'.repeat(43));
  });

  it('refuses a file holding a secret that is too short', async () => {
    const dir = await tempDir();
    await fs.writeFile(path.join(dir, DOWNLOAD_SECRET_FILE), 'short\n', { mode: 0o600 });
    await expect(loadOrCreateDownloadSecret(dir, memorySettings(), silent())).rejects.toThrow(
      /shorter than 32/,
    );
  });
});
