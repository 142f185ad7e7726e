import yauzl from 'yauzl';
import { errors, type OverairError } from '../errors.js';
import { openZip as openZipFile } from './zip-reader.js';

export interface ZipLimits {
  maxEntries: number;
  /** Sum of the sizes the entries declare once unpacked: a guard against zip bombs on devices. */
  maxUnpackedBytes: number;
}

const DEFAULT_ZIP_LIMITS: ZipLimits = { maxEntries: 50_000, maxUnpackedBytes: 4 * 1024 ** 3 };

export interface ZipSummary {
  entries: number;
  unpackedBytes: number;
  /** "" when index.html is at the root, else the single top folder that holds it. */
  root: string;
  /** Every file entry (no folders), with where its data starts: what checkBundleFiles unpacks. */
  files: PackedEntry[];
}

/** A file entry of a validated zip: where its packed data is, and what it declares. */
export interface PackedEntry {
  name: string;
  /** Offset of its packed data in the zip (after its local header). */
  dataStart: number;
  compressedSize: number;
  /** Unpacked size, as declared. */
  size: number;
  method: number;
  crc32: number;
}

/** Entries the plugin skips when it unpacks a bundle (protocol §2.3). */
const isIgnored = (name: string) => name.startsWith('__MACOSX') || name.startsWith('.');

/** The only methods node's zlib (and every device) can unpack. */
const STORED = 0;
const DEFLATED = 8;
/** Names for the methods a refusal is most likely to meet, so the message says what the tool did. */
const METHOD_NAMES: Record<number, string> = {
  1: 'Shrink',
  6: 'Implode',
  9: 'Deflate64',
  12: 'BZIP2',
  14: 'LZMA',
  93: 'Zstandard',
  95: 'XZ',
  98: 'PPMd',
  99: 'AES-encrypted',
};
/** General purpose flag bit 0: the entry is encrypted (ZipCrypto or AES). */
const FLAG_ENCRYPTED = 0x1;
/** Unix file type bits in the high half of the external attributes. */
const S_IFMT = 0o170000;
const S_IFLNK = 0o120000;

/** 400 invalid_zip: what an unzip would fail on, or refuse, in this bundle. */
export const invalidZip = (problem: string): OverairError => errors.invalidZip({ problem });

/** Why an entry name is unsafe, or undefined. The plugin rejects the same names on the device. */
function entryNameProblem(name: string): string | undefined {
  if (name.length === 0) return 'an entry has an empty name';
  if (name.includes('\\')) return `entry "${name}" contains a backslash`;
  if (name.includes('\0')) return `entry "${name}" contains a NUL character`;
  if (name.startsWith('/') || /^[A-Za-z]:/.test(name)) return `entry "${name}" is an absolute path`;
  if (name.split('/').some((part) => part === '..'))
    return `entry "${name}" leaves the bundle folder with ".."`;
  return undefined;
}

/**
 * Checks a bundle zip without unpacking it, as strictly as a careful unzip would: every entry name
 * is safe and unique, no entry is encrypted, a symlink, or packed with a method other than stored
 * or deflate, each entry's local header agrees with the central directory, no two entries share
 * bytes (the overlapping-entries zip bomb), the declared sizes stay within limits, and index.html
 * sits at the root or in a single top folder (which the plugin flattens). Reads only the headers,
 * never the data, so a bomb is refused before anything is decompressed. The data itself (CRC-32,
 * real sizes, corrupt deflate streams) is checked while it is unpacked (extract-files.ts).
 */
export async function validateBundleZip(
  file: string,
  limits: ZipLimits = DEFAULT_ZIP_LIMITS,
): Promise<ZipSummary> {
  const zip = await openZip(file);
  try {
    const entries = await readCentralDirectory(zip, limits);
    const dataStarts = await checkLocalHeaders(zip, entries);
    const names = entries.map((entry) => entry.fileName);
    return {
      entries: entries.length,
      unpackedBytes: entries.reduce((sum, entry) => sum + entry.uncompressedSize, 0),
      root: findRoot(names),
      files: entries.flatMap((entry, index) =>
        entry.fileName.endsWith('/')
          ? []
          : [
              {
                name: entry.fileName,
                dataStart: dataStarts[index]!,
                compressedSize: entry.compressedSize,
                size: entry.uncompressedSize,
                method: entry.compressionMethod,
                crc32: entry.crc32,
              },
            ],
      ),
    };
  } finally {
    zip.close();
  }
}

/** Every entry of the central directory, each checked on what the directory alone says. */
function readCentralDirectory(zip: yauzl.ZipFile, limits: ZipLimits): Promise<yauzl.Entry[]> {
  const entries: yauzl.Entry[] = [];
  const names = new Set<string>();
  let unpackedBytes = 0;
  return new Promise((resolve, reject) => {
    zip.on('error', (error: Error) => reject(invalidZip(error.message)));
    zip.on('end', () => resolve(entries));
    zip.on('entry', (entry: yauzl.Entry) => {
      const name = entry.fileName;
      const problem = entryNameProblem(name);
      if (problem) return reject(errors.invalidZipEntry({ problem }));
      // Which of two same-named entries a device keeps depends on its unzip: refuse the ambiguity.
      if (names.has(name)) return reject(invalidZip(`entry "${name}" appears more than once`));
      names.add(name);
      const entryProblem = centralEntryProblem(entry);
      if (entryProblem) return reject(invalidZip(`entry "${name}" ${entryProblem}`));
      entries.push(entry);
      unpackedBytes += entry.uncompressedSize;
      if (entries.length > limits.maxEntries) {
        return reject(errors.zipTooLarge({ limit: `${limits.maxEntries} entries` }));
      }
      if (unpackedBytes > limits.maxUnpackedBytes) {
        return reject(errors.zipTooLarge({ limit: `${limits.maxUnpackedBytes} unpacked bytes` }));
      }
      zip.readEntry();
    });
    zip.readEntry();
  });
}

function centralEntryProblem(entry: yauzl.Entry): string | undefined {
  if (entry.generalPurposeBitFlag & FLAG_ENCRYPTED) return 'is encrypted (password-protected)';
  const method = entry.compressionMethod;
  if (method !== STORED && method !== DEFLATED) {
    const known = METHOD_NAMES[method];
    return `uses compression method ${method}${known ? ` (${known})` : ''}; only stored and deflate are supported`;
  }
  // Checked here rather than by yauzl, whose message would not name the entry.
  if (method === STORED && entry.compressedSize !== entry.uncompressedSize) {
    return `is stored uncompressed but declares ${entry.compressedSize} bytes packed and ${entry.uncompressedSize} unpacked`;
  }
  // A symlink could point a device's unzip outside the bundle folder; a web bundle never needs one.
  if (((entry.externalFileAttributes >>> 16) & S_IFMT) === S_IFLNK) return 'is a symbolic link';
  return undefined;
}

/**
 * Reads each entry's local header (the one a streaming unzip such as Java's ZipInputStream trusts)
 * and checks that it says what the central directory says, and that no two entries' bytes overlap:
 * a zip whose entries all point at the same compressed data unpacks to gigabytes from kilobytes.
 */
async function checkLocalHeaders(zip: yauzl.ZipFile, entries: yauzl.Entry[]): Promise<number[]> {
  // One at a time, in the central directory's order (the zip's own, as zips are written): most come
  // from the block of the zip the one before was read with (zip-reader.ts).
  const headers: yauzl.LocalFileHeader[] = [];
  for (const entry of entries) {
    headers.push(
      await zip
        .readLocalFileHeaderPromise(entry)
        .catch((error: Error) => Promise.reject(invalidZip(`entry "${entry.fileName}": ${error.message}`))),
    );
  }
  const spans = entries.map((entry, index) => ({
    start: entry.relativeOffsetOfLocalHeader,
    end: headers[index]!.fileDataStart + entry.compressedSize,
    entry,
  }));
  spans.sort((a, b) => a.start - b.start);
  for (let index = 1; index < spans.length; index++) {
    const [before, after] = [spans[index - 1]!, spans[index]!];
    if (after.start < before.end) {
      throw invalidZip(
        `entries "${before.entry.fileName}" and "${after.entry.fileName}" overlap (a zip bomb's trick)`,
      );
    }
  }
  for (const [index, entry] of entries.entries()) {
    const header = headers[index]!;
    const name = entry.fileName;
    if (!header.fileName.equals(entry.fileNameRaw)) {
      throw invalidZip(
        `entry "${name}" is named ${JSON.stringify(header.fileName.toString('utf8'))} in its local header`,
      );
    }
    if (header.compressionMethod !== entry.compressionMethod) {
      throw invalidZip(`entry "${name}" has a different compression method in its local header`);
    }
    if (header.generalPurposeBitFlag & FLAG_ENCRYPTED) {
      throw invalidZip(`entry "${name}" is encrypted (password-protected)`);
    }
  }
  return headers.map((header) => header.fileDataStart);
}

function findRoot(names: string[]): string {
  const visible = names.filter((name) => !isIgnored(name));
  if (visible.includes('index.html')) return '';
  const tops = new Set(visible.map((name) => name.split('/')[0]));
  const [top] = tops;
  if (tops.size === 1 && top && visible.includes(`${top}/index.html`)) return top;
  throw errors.indexHtmlNotFound();
}

async function openZip(file: string): Promise<yauzl.ZipFile> {
  // yauzl already refuses some unsafe names itself (reported through 'error'); we check the rest.
  // Its own size check is off here only because its message does not name the entry; ours does.
  const opened = await openZipFile(file, {
    lazyEntries: true,
    autoClose: false,
    decodeStrings: true,
    strictFileNames: false,
    validateEntrySizes: false,
  }).catch((error: Error | undefined) => Promise.reject(invalidZip(error?.message ?? 'unreadable')));
  return opened.zip;
}
