import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';

/** The file in the data folder that keeps the generated download-link secret. */
export const DOWNLOAD_SECRET_FILE = 'download-secret';

const MIN_LENGTH = 32;

/**
 * The secret that signs private download links when OVERAIR_DOWNLOAD_SECRET is not set: read from
 * DATA/download-secret, or generated (32 random bytes) and written there with mode 0600. It must
 * outlive a restart, or every link handed out before would stop working, and instances that share
 * the data folder must agree on it. The file is created under a temporary name and hard-linked into
 * place, which fails if it already exists: two instances starting together both end up with the
 * one that won, and no reader ever sees a half-written file.
 */
export async function loadOrCreateDownloadSecret(dataDir: string, log: Logger): Promise<string> {
  const file = path.join(dataDir, DOWNLOAD_SECRET_FILE);
  const existing = await readSecret(file, log);
  if (existing !== null) return existing;

  await fs.mkdir(dataDir, { recursive: true });
  const temporary = `${file}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  await fs.writeFile(temporary, `${randomBytes(32).toString('base64url')}\n`, { mode: 0o600, flag: 'wx' });
  try {
    await fs.link(temporary, file);
    log.info({ file }, 'generated the download-link secret');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  } finally {
    await fs.rm(temporary, { force: true });
  }
  const secret = await readSecret(file, log);
  if (secret === null) throw new Error(`could not create ${file}`);
  return secret;
}

async function readSecret(file: string, log: Logger): Promise<string | null> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
  const secret = text.trim();
  if (secret.length < MIN_LENGTH) {
    throw new Error(
      `${file} holds a download secret shorter than ${MIN_LENGTH} characters; delete it to generate a new one`,
    );
  }
  const { mode } = await fs.stat(file);
  if (process.platform !== 'win32' && (mode & 0o077) !== 0) {
    log.warn({ file }, 'the download-link secret file is readable by other users; chmod 600 it');
  }
  return secret;
}
