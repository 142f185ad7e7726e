import { crc32, deflateRawSync } from 'node:zlib';

/**
 * Zips built byte by byte (local headers, central directory, end record), so that each one can lie
 * exactly where a hostile client would: zip libraries refuse to write most of these.
 */

export interface RawEntry {
  /** The name in the central directory. */
  name: string;
  /** The name in the local header (the central one unless given). */
  localName?: string;
  /** The bytes as stored: already compressed when `method` is not 0. */
  data: Buffer;
  /** 0 stored, 8 deflate, 14 LZMA... */
  method: number;
  crc: number;
  compressedSize?: number;
  uncompressedSize: number;
  flags?: number;
  /** Unix mode in the high 16 bits when made on Unix. */
  externalAttributes?: number;
  /** Points this central record at the local header of the entry at that index (no data of its own). */
  sharesDataOf?: number;
}

const UNIX = 3 << 8;
const DOS_DATE_1980 = 0x21;

/** An entry as a normal zip tool writes it: deflated unless `stored`, with the right sizes and CRC. */
function entry(name: string, content: string | Buffer, options: { stored?: boolean } = {}): RawEntry {
  const plain = Buffer.from(content);
  return {
    name,
    data: options.stored ? plain : deflateRawSync(plain),
    method: options.stored ? 0 : 8,
    crc: crc32(plain),
    uncompressedSize: plain.length,
    externalAttributes: (0o100644 << 16) >>> 0,
  };
}

export function buildZip(entries: RawEntry[]): Buffer {
  const locals: Buffer[] = [];
  const offsets: number[] = [];
  let offset = 0;
  for (const item of entries) {
    if (item.sharesDataOf !== undefined) {
      offsets.push(offsets[item.sharesDataOf]!);
      continue;
    }
    const name = Buffer.from(item.localName ?? item.name);
    const header = Buffer.alloc(30);
    header.writeUInt32LE(0x04034b50, 0);
    header.writeUInt16LE(20, 4);
    header.writeUInt16LE(item.flags ?? 0, 6);
    header.writeUInt16LE(item.method, 8);
    header.writeUInt16LE(0, 10);
    header.writeUInt16LE(DOS_DATE_1980, 12);
    header.writeUInt32LE(item.crc >>> 0, 14);
    header.writeUInt32LE(item.compressedSize ?? item.data.length, 18);
    header.writeUInt32LE(item.uncompressedSize, 22);
    header.writeUInt16LE(name.length, 26);
    header.writeUInt16LE(0, 28);
    offsets.push(offset);
    locals.push(header, name, item.data);
    offset += header.length + name.length + item.data.length;
  }
  const central: Buffer[] = [];
  let centralSize = 0;
  for (const [index, item] of entries.entries()) {
    const source = item.sharesDataOf === undefined ? item : { ...entries[item.sharesDataOf]!, ...item };
    const name = Buffer.from(item.name);
    const record = Buffer.alloc(46);
    record.writeUInt32LE(0x02014b50, 0);
    record.writeUInt16LE(UNIX | 20, 4);
    record.writeUInt16LE(20, 6);
    record.writeUInt16LE(source.flags ?? 0, 8);
    record.writeUInt16LE(source.method, 10);
    record.writeUInt16LE(0, 12);
    record.writeUInt16LE(DOS_DATE_1980, 14);
    record.writeUInt32LE(source.crc >>> 0, 16);
    record.writeUInt32LE(source.compressedSize ?? source.data.length, 20);
    record.writeUInt32LE(source.uncompressedSize, 24);
    record.writeUInt16LE(name.length, 28);
    record.writeUInt32LE(source.externalAttributes ?? 0, 38);
    record.writeUInt32LE(offsets[index]!, 42);
    central.push(record, name);
    centralSize += record.length + name.length;
  }
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(centralSize, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, ...central, end]);
}

const INDEX = () => entry('index.html', '<html><script src="main.js"></script></html>');

/** `count` distinct small files plus index.html: a valid bundle of `count + 1` blobs. */
export function goodEntries(count: number, tag = 'good'): RawEntry[] {
  return [
    INDEX(),
    ...Array.from({ length: count }, (_, index) =>
      entry(`js/${tag}-${index}.js`, `console.log(${JSON.stringify(`${tag} file ${index}`)});\n`.repeat(20)),
    ),
  ];
}

/** A deflate stream whose first block has the reserved type 3: any inflater fails on it at once. */
export function corruptEntry(name: string): RawEntry {
  const good = entry(name, 'export const answer = 42;\n'.repeat(200));
  const data = Buffer.from(good.data);
  data[0] = 0xff;
  return { ...good, data };
}

/** 240 central entries over one 16 MiB deflated run of zeros: 3.75 GiB declared, ~30 KB of zip. */
export function overlappingBomb(): Buffer {
  const zeros = Buffer.alloc(16 * 1024 * 1024);
  const bomb: RawEntry = {
    name: 'bomb/0.bin',
    data: deflateRawSync(zeros, { level: 9 }),
    method: 8,
    crc: crc32(zeros),
    uncompressedSize: zeros.length,
  };
  const entries: RawEntry[] = [INDEX(), bomb];
  for (let index = 1; index < 240; index++) {
    entries.push({ ...bomb, name: `bomb/${index}.bin`, sharesDataOf: 1 });
  }
  return buildZip(entries);
}

/** Each hostile zip the server must refuse with 400 invalid_zip, and a word the message must hold. */
export function hostileZips(): Record<string, { zip: Buffer; message: RegExp }> {
  const script = 'console.log("payload");\n'.repeat(50);
  const lying = entry('js/lies.js', script);
  const wrongCrc = entry('js/crc.js', script, { stored: true });
  const encrypted = entry('js/secret.js', script, { stored: true });
  return {
    'corrupt deflate data': {
      zip: buildZip([...goodEntries(3), corruptEntry('js/corrupt.js')]),
      message: /js\/corrupt\.js.*cannot be unpacked/,
    },
    'an LZMA entry': {
      zip: buildZip([
        INDEX(),
        { ...entry('js/lzma.js', script, { stored: true }), method: 14, uncompressedSize: 9999 },
      ]),
      message: /js\/lzma\.js.*method 14 \(LZMA\)/,
    },
    'an entry whose size lies': {
      zip: buildZip([INDEX(), { ...lying, uncompressedSize: lying.uncompressedSize - 100 }]),
      message: /js\/lies\.js.*cannot be unpacked/,
    },
    'a stored entry whose sizes disagree': {
      zip: buildZip([INDEX(), { ...wrongCrc, name: 'js/sizes.js', uncompressedSize: 10 }]),
      message: /js\/sizes\.js.*declares/,
    },
    'a password-protected entry': {
      // ZipCrypto: a 12-byte header before the data, flag bit 0.
      zip: buildZip([
        INDEX(),
        {
          ...encrypted,
          data: Buffer.concat([Buffer.alloc(12, 0x5a), encrypted.data]),
          compressedSize: encrypted.data.length + 12,
          flags: 1,
        },
      ]),
      message: /js\/secret\.js.*encrypted/,
    },
    'a wrong CRC-32': {
      zip: buildZip([INDEX(), { ...wrongCrc, crc: (wrongCrc.crc ^ 0x1) >>> 0 }]),
      message: /js\/crc\.js.*CRC-32/,
    },
    'duplicate entry names': {
      zip: buildZip([INDEX(), entry('main.js', 'one'), entry('main.js', 'two')]),
      message: /main\.js.*more than once/,
    },
    'a local header name that differs from the central directory': {
      zip: buildZip([INDEX(), { ...entry('js/fine.js', script), localName: '../../evil.js' }]),
      message: /js\/fine\.js.*\.\.\/\.\.\/evil\.js/,
    },
    'a symlink entry': {
      zip: buildZip([
        INDEX(),
        {
          ...entry('js/link.js', '../../../../etc/passwd', { stored: true }),
          externalAttributes: (0o120777 << 16) >>> 0,
        },
      ]),
      message: /js\/link\.js.*symbolic link/,
    },
    'overlapping entries (a zip bomb)': { zip: overlappingBomb(), message: /overlap/ },
    'a truncated zip': {
      zip: buildZip(goodEntries(3)).subarray(0, 200),
      message: /not a valid zip/,
    },
  };
}

/** 100 good files, then one whose deflate data is corrupt: what used to leave 101 blobs behind. */
export function goodFilesThenCorrupt(): Buffer {
  return buildZip([...goodEntries(100, 'before-corrupt'), corruptEntry('js/zzz-corrupt.js')]);
}
