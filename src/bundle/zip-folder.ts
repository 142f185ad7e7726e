import { createReadStream, readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
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
  code: 'index_html_not_found' | 'ready_call_not_found';
  message: string;
}

/** What the code check notes of each script of a build. */
interface ScriptMarks {
  notifyAppReady: boolean;
  liveUpdateReady: boolean;
  /** A bare `.ready()` call, as `LiveUpdate.ready()` becomes once minified (the import renamed). */
  readyCall: boolean;
  /** The Capawesome plugin registering itself under its name (in the same build as the app). */
  registersLiveUpdate: boolean;
}

function marksOf(source: string): ScriptMarks {
  return {
    notifyAppReady: source.includes('notifyAppReady'),
    liveUpdateReady: /\bLiveUpdate\s*\.\s*ready\s*\(/.test(source),
    readyCall: /\.ready\(\s*\)/.test(source),
    registersLiveUpdate: /["'`]LiveUpdate["'`]/.test(source),
  };
}

/**
 * The updater plugins Overair serves, and the call each needs at start-up: without it the plugin
 * takes the new bundle for a broken one and rolls every device back after its timeout.
 */
export const UPDATER_PLUGINS = {
  capgo: {
    package: '@capgo/capacitor-updater',
    call: 'notifyAppReady()',
    // A method name: it survives minification.
    calls: (build: ScriptMarks) => build.notifyAppReady,
  },
  capawesome: {
    package: '@capawesome/capacitor-live-update',
    call: 'LiveUpdate.ready()',
    calls: (build: ScriptMarks) => build.liveUpdateReady || (build.readyCall && build.registersLiveUpdate),
  },
} as const;

export type UpdaterPlugin = keyof typeof UPDATER_PLUGINS;

/**
 * What the plugin needs of a bundle: index.html at the root, and a script that makes the plugin's
 * ready call. `installed` are the updater plugins of the project (its package.json): with one, its
 * call is looked for; with both or neither, either call will do, and the message names both.
 */
export async function checkBundleFolder(
  files: FolderFile[],
  installed: readonly UpdaterPlugin[] = [],
): Promise<CodeCheckProblem[]> {
  const problems: CodeCheckProblem[] = [];
  if (!files.some((entry) => entry.name === 'index.html')) {
    problems.push({
      code: 'index_html_not_found',
      message: 'there is no index.html at the root of the folder',
    });
  }
  const expected: UpdaterPlugin[] = installed.length === 1 ? [...installed] : ['capgo', 'capawesome'];
  // Each script is read once and only its marks kept (a build's scripts can be many megabytes).
  const build: ScriptMarks = {
    notifyAppReady: false,
    liveUpdateReady: false,
    readyCall: false,
    registersLiveUpdate: false,
  };
  const found = () => expected.some((plugin) => UPDATER_PLUGINS[plugin].calls(build));
  for (const entry of files) {
    // Marks only ever turn true: once the call is found, the other scripts cannot change the answer.
    if (found()) break;
    if (!/\.(m?js|cjs)$/.test(entry.name)) continue;
    // Read synchronously: the CLI does nothing else meanwhile, and fs.promises costs several
    // thread-pool round trips per file (1,000 scripts of 10 KiB: 60-90 ms, against 25-30 ms).
    const marks = marksOf(readFileSync(entry.file, 'utf8'));
    for (const key of Object.keys(build) as (keyof ScriptMarks)[]) build[key] ||= marks[key];
  }
  if (!found()) {
    problems.push({ code: 'ready_call_not_found', message: readyCallMissing(expected, installed) });
  }
  return problems;
}

function readyCallMissing(expected: UpdaterPlugin[], installed: readonly UpdaterPlugin[]): string {
  const named = (plugin: UpdaterPlugin) =>
    `${UPDATER_PLUGINS[plugin].call} (${UPDATER_PLUGINS[plugin].package})`;
  const consequence = 'without it the plugin rolls every update back';
  if (installed.length === 1) {
    const [plugin] = expected as [UpdaterPlugin];
    return `no script calls ${UPDATER_PLUGINS[plugin].call}, and package.json's updater plugin is ${UPDATER_PLUGINS[plugin].package}; ${consequence} (call it at start-up)`;
  }
  const which =
    installed.length === 0
      ? 'package.json lists neither updater plugin'
      : 'package.json lists both updater plugins';
  return `no script calls ${expected.map(named).join(' or ')}; ${which}, so either call was looked for; ${consequence} (call the one of the plugin the app uses at start-up)`;
}

/** Zips the files with the folder's contents at the root, streaming; returns the zip's sha256 and size. */
export async function zipFolder(
  files: FolderFile[],
  target: string,
): Promise<{ sha256: string; size: number }> {
  // Imported here: most commands load this module (capacitor.ts reads UPDATER_PLUGINS), few zip.
  const { default: yazl } = await import('yazl');
  const zip = new yazl.ZipFile();
  for (const entry of files) zip.addReadStream(createReadStream(entry.file), entry.name);
  zip.end();
  return writeHashed(zip.outputStream, target);
}

/** sha256 and size of a file, streamed. */
export function hashFile(file: string): Promise<{ sha256: string; size: number }> {
  return hashChunks(createReadStream(file));
}
