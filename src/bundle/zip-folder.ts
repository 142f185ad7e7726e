import { createReadStream } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import yazl from 'yazl';
import { hashChunks, writeHashed } from '../crypto/hash.js';

export interface FolderFile {
  /** Path inside the zip, with "/" separators. */
  name: string;
  file: string;
}

/** Every regular file under `root` (symbolic links are not followed: they could leave the folder). */
export async function listFolder(root: string): Promise<FolderFile[]> {
  const entries = await fs.readdir(root, { recursive: true, withFileTypes: true });
  return entries
    .filter((entry) => entry.isFile())
    .map((entry) => {
      const file = path.join(entry.parentPath, entry.name);
      return { name: path.relative(root, file).split(path.sep).join('/'), file };
    })
    .sort((a, b) => a.name.localeCompare(b.name));
}

export interface CodeCheckProblem {
  code: 'index_html_not_found' | 'notify_app_ready_not_found';
  message: string;
}

/**
 * What the plugin needs of a bundle: index.html at the root, and a script that calls
 * notifyAppReady(), without which every device rolls the update back after its timeout.
 */
export async function checkBundleFolder(files: FolderFile[]): Promise<CodeCheckProblem[]> {
  const problems: CodeCheckProblem[] = [];
  if (!files.some((entry) => entry.name === 'index.html')) {
    problems.push({
      code: 'index_html_not_found',
      message: 'there is no index.html at the root of the folder',
    });
  }
  let found = false;
  for (const entry of files) {
    if (!/\.(m?js|cjs)$/.test(entry.name)) continue;
    if ((await fs.readFile(entry.file, 'utf8')).includes('notifyAppReady')) {
      found = true;
      break;
    }
  }
  if (!found) {
    problems.push({
      code: 'notify_app_ready_not_found',
      message:
        'no script calls notifyAppReady(); without it the plugin rolls every update back (call CapacitorUpdater.notifyAppReady() at start-up)',
    });
  }
  return problems;
}

/** Zips the files with the folder's contents at the root, streaming; returns the zip's sha256 and size. */
export async function zipFolder(
  files: FolderFile[],
  target: string,
): Promise<{ sha256: string; size: number }> {
  const zip = new yazl.ZipFile();
  for (const entry of files) zip.addReadStream(createReadStream(entry.file), entry.name);
  zip.end();
  return writeHashed(zip.outputStream, target);
}

/** sha256 and size of a file, streamed. */
export function hashFile(file: string): Promise<{ sha256: string; size: number }> {
  return hashChunks(createReadStream(file));
}
