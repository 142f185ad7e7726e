import yazl from 'yazl';

/**
 * A zip with the given files. Names yazl itself refuses (such as "../evil.js") are written under a
 * same-length placeholder and patched into the bytes afterwards, the way a hostile client would.
 */
export async function makeZip(files: Record<string, string>): Promise<Buffer> {
  const zip = new yazl.ZipFile();
  const patches: [Buffer, Buffer][] = [];
  for (const [name, content] of Object.entries(files)) {
    const safe = name.replace(/\.\.|\\|^\//g, (part) => 'z'.repeat(part.length));
    if (safe !== name) patches.push([Buffer.from(safe), Buffer.from(name)]);
    zip.addBuffer(Buffer.from(content), safe, { compress: false });
  }
  zip.end();
  const chunks: Buffer[] = [];
  const bytes = await new Promise<Buffer>((resolve, reject) => {
    zip.outputStream.on('data', (chunk: Buffer) => chunks.push(chunk));
    zip.outputStream.on('end', () => resolve(Buffer.concat(chunks)));
    zip.outputStream.on('error', reject);
  });
  for (const [from, to] of patches) {
    for (let at = bytes.indexOf(from); at !== -1; at = bytes.indexOf(from, at + 1)) to.copy(bytes, at);
  }
  return bytes;
}
