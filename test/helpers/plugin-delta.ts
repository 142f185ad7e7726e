import { createHash } from 'node:crypto';
import { brotliDecompressSync } from 'node:zlib';

export interface ManifestEntry {
  file_name: string;
  file_hash: string;
  download_url: string;
}

/**
 * What @capgo/capacitor-updater 8.x does with a manifest (DownloadService.handleManifestDownload,
 * protocol-capgo.md §7.3), re-derived independently of src/: validate every entry first, reuse a
 * file it already holds with the same sha256, download the others, brotli-decode "*.br", check the
 * sha256 of every file. Returns the new bundle tree and what was downloaded.
 */
export async function pluginApplyManifest(
  manifest: ManifestEntry[],
  local: Map<string, Buffer>,
): Promise<{ tree: Map<string, Buffer>; downloaded: string[]; bytes: number }> {
  const sha = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');
  const byHash = new Map([...local.values()].map((bytes) => [sha(bytes), bytes]));
  const targets = new Set<string>();
  for (const entry of manifest) {
    const target = entry.file_name.replace(/\.br$/, '');
    if (!entry.file_hash || target.includes('..') || target.includes('\\') || target.startsWith('/')) {
      throw new Error(`manifest_path_fail: ${entry.file_name}`);
    }
    if (targets.has(target)) throw new Error(`duplicate target ${target}`);
    targets.add(target);
    new URL(entry.download_url); // must parse
  }
  const tree = new Map<string, Buffer>();
  const downloaded: string[] = [];
  let bytes = 0;
  for (const entry of manifest) {
    const target = entry.file_name.replace(/\.br$/, '');
    const cached = byHash.get(entry.file_hash.toLowerCase());
    if (cached) {
      tree.set(target, cached);
      continue;
    }
    const response = await fetch(entry.download_url);
    if (response.status !== 200 && response.status !== 206)
      throw new Error(`download_manifest_file_fail: ${target}`);
    if (response.headers.get('content-encoding')) throw new Error('the plugin expects raw bytes');
    const raw = Buffer.from(await response.arrayBuffer());
    bytes += raw.length;
    downloaded.push(target);
    const content = entry.file_name.endsWith('.br') ? brotliDecompressSync(raw) : raw;
    if (sha(content) !== entry.file_hash.toLowerCase())
      throw new Error(`download_manifest_checksum_fail: ${target}`);
    tree.set(target, content);
  }
  return { tree, downloaded, bytes };
}
