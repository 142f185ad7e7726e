import yauzl from 'yauzl';
import { badRequest } from '../errors.js';

export interface ZipLimits {
  maxEntries: number;
  /** Sum of the sizes the entries declare once unpacked: a guard against zip bombs on devices. */
  maxUnpackedBytes: number;
}

export const DEFAULT_ZIP_LIMITS: ZipLimits = { maxEntries: 50_000, maxUnpackedBytes: 4 * 1024 ** 3 };

export interface ZipSummary {
  entries: number;
  unpackedBytes: number;
  /** "" when index.html is at the root, else the single top folder that holds it. */
  root: string;
}

/** Entries the plugin skips when it unpacks a bundle (protocol §2.3). */
const isIgnored = (name: string) => name.startsWith('__MACOSX') || name.startsWith('.');

/** Why an entry name is unsafe, or undefined. The plugin rejects the same names on the device. */
export function entryNameProblem(name: string): string | undefined {
  if (name.length === 0) return 'an entry has an empty name';
  if (name.includes('\\')) return `entry "${name}" contains a backslash`;
  if (name.includes('\0')) return `entry "${name}" contains a NUL character`;
  if (name.startsWith('/') || /^[A-Za-z]:/.test(name)) return `entry "${name}" is an absolute path`;
  if (name.split('/').some((part) => part === '..'))
    return `entry "${name}" leaves the bundle folder with ".."`;
  return undefined;
}

/**
 * Checks a bundle zip without unpacking it: every entry name is safe, the declared sizes stay within
 * limits, and index.html sits at the root or in a single top folder (which the plugin flattens).
 * Reads only the central directory, so it is quick whatever the bundle's size.
 */
export async function validateBundleZip(
  file: string,
  limits: ZipLimits = DEFAULT_ZIP_LIMITS,
): Promise<ZipSummary> {
  const zip = await openZip(file);
  try {
    const names: string[] = [];
    let unpackedBytes = 0;
    await new Promise<void>((resolve, reject) => {
      zip.on('error', (error: Error) =>
        reject(badRequest('invalid_zip', `The bundle is not a valid zip: ${error.message}`)),
      );
      zip.on('end', () => resolve());
      zip.on('entry', (entry: yauzl.Entry) => {
        const problem = entryNameProblem(entry.fileName);
        if (problem) return reject(badRequest('invalid_zip_entry', `The bundle is unsafe: ${problem}`));
        names.push(entry.fileName);
        unpackedBytes += entry.uncompressedSize;
        if (names.length > limits.maxEntries) {
          return reject(badRequest('zip_too_large', `The bundle has more than ${limits.maxEntries} entries`));
        }
        if (unpackedBytes > limits.maxUnpackedBytes) {
          return reject(
            badRequest('zip_too_large', `The bundle unpacks to more than ${limits.maxUnpackedBytes} bytes`),
          );
        }
        zip.readEntry();
      });
      zip.readEntry();
    });
    return { entries: names.length, unpackedBytes, root: findRoot(names) };
  } finally {
    zip.close();
  }
}

function findRoot(names: string[]): string {
  const visible = names.filter((name) => !isIgnored(name));
  if (visible.includes('index.html')) return '';
  const tops = new Set(visible.map((name) => name.split('/')[0]));
  const [top] = tops;
  if (tops.size === 1 && top && visible.includes(`${top}/index.html`)) return top;
  throw badRequest(
    'index_html_not_found',
    'The bundle has no index.html at its root (or inside a single top folder); zip the contents of the web folder',
  );
}

function openZip(file: string): Promise<yauzl.ZipFile> {
  return new Promise((resolve, reject) => {
    // yauzl already refuses some unsafe names itself (reported through 'error'); we check the rest.
    yauzl.open(
      file,
      { lazyEntries: true, autoClose: false, decodeStrings: true, strictFileNames: false },
      (error, zip) => {
        if (error || !zip)
          reject(
            badRequest('invalid_zip', `The bundle is not a valid zip: ${error?.message ?? 'unreadable'}`),
          );
        else resolve(zip);
      },
    );
  });
}
