import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';

/** The file in the data folder that kept the generated secret before it moved to the database. */
export const DOWNLOAD_SECRET_FILE = 'download-secret';
/** The settings key of the generated secret. */
export const DOWNLOAD_SECRET_SETTING = 'download_secret';

const MIN_LENGTH = 32;

/** Where the secret is shared between instances (SettingsRepo). */
export interface SecretSettings {
  putIfAbsent(key: string, value: string): Promise<string>;
}

/**
 * The secret that signs private download links when OVERAIR_DOWNLOAD_SECRET is not set. It must
 * outlive a restart (or every link handed out before stops working) and be the same on every
 * instance (a link one instance signs is checked by whichever the device reaches), while instances
 * may have data folders of their own: so it lives in the database. The first instance to start
 * stores 32 random bytes; instances starting together each propose one and all take the one stored
 * first.
 *
 * A DATA/download-secret written by an earlier version is still honoured, so its links keep
 * working, and is copied into the database when that has none, so other instances adopt it.
 */
export async function loadOrCreateDownloadSecret(
  dataDir: string,
  settings: SecretSettings,
  log: Logger,
): Promise<string> {
  const file = path.join(dataDir, DOWNLOAD_SECRET_FILE);
  const fromFile = await readSecretFile(file, log);
  const proposed = fromFile ?? randomBytes(32).toString('base64url');
  const stored = await settings.putIfAbsent(DOWNLOAD_SECRET_SETTING, proposed);
  if (fromFile !== null) {
    if (stored !== fromFile) {
      log.warn(
        { file },
        'this download-link secret file differs from the secret in the database, which other instances use: ' +
          'links signed here fail there; set OVERAIR_DOWNLOAD_SECRET, or delete the file to use the database one',
      );
    }
    return fromFile;
  }
  if (stored.length < MIN_LENGTH) {
    throw new Error(
      `the download secret in the database (settings.${DOWNLOAD_SECRET_SETTING}) is shorter than ${MIN_LENGTH} characters`,
    );
  }
  if (stored === proposed) log.info('generated the download-link secret (kept in the database)');
  return stored;
}

async function readSecretFile(file: string, log: Logger): Promise<string | null> {
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
      `${file} holds a download secret shorter than ${MIN_LENGTH} characters; delete it to use the one in the database`,
    );
  }
  const { mode } = await fs.stat(file);
  if (process.platform !== 'win32' && (mode & 0o077) !== 0) {
    log.warn({ file }, 'the download-link secret file is readable by other users; chmod 600 it');
  }
  return secret;
}
