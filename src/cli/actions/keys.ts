import fs from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import { createKeyPair, keyIdOf } from '../../crypto/capgo.js';
import { contextOf } from '../context.js';
import { CliError, type CliIo } from '../io.js';
import { PRIVATE_KEY_FILE, PUBLIC_KEY_FILE } from '../key-file-names.js';
import { emit } from '../output.js';

async function exists(file: string): Promise<boolean> {
  return fs.access(file).then(
    () => true,
    () => false,
  );
}

async function writePublicKeyToConfig(cwd: string, publicKey: string): Promise<string> {
  const file = path.join(cwd, 'capacitor.config.json');
  let config: { plugins?: Record<string, Record<string, unknown>> };
  try {
    config = JSON.parse(await fs.readFile(file, 'utf8')) as typeof config;
  } catch {
    throw new CliError(
      `--write-config needs a capacitor.config.json in ${cwd} (for a .ts config, paste the public key)`,
    );
  }
  config.plugins ??= {};
  config.plugins.CapacitorUpdater = { ...config.plugins.CapacitorUpdater, publicKey };
  await fs.writeFile(file, `${JSON.stringify(config, null, 2)}\n`);
  return file;
}

export async function keysCreate(
  io: CliIo,
  options: { keyDir: string; force?: boolean; writeConfig?: boolean },
  command: Command,
): Promise<void> {
  const ctx = contextOf(io, command);
  const dir = path.resolve(io.cwd, options.keyDir);
  const privateFile = path.join(dir, PRIVATE_KEY_FILE);
  const publicFile = path.join(dir, PUBLIC_KEY_FILE);
  if (!options.force) {
    for (const file of [privateFile, publicFile]) {
      if (await exists(file))
        throw new CliError(`${file} exists; pass --force to replace it (bundles made with it stop working)`);
    }
  }
  const pair = createKeyPair();
  await fs.mkdir(dir, { recursive: true });
  // The private key signs releases: readable by its owner only.
  await fs.writeFile(privateFile, pair.privateKey, { mode: 0o600 });
  await fs.chmod(privateFile, 0o600);
  await fs.writeFile(publicFile, pair.publicKey);
  let config: string | undefined;
  if (options.writeConfig) config = await writePublicKeyToConfig(io.cwd, pair.publicKey);
  emit(
    io,
    ctx.json,
    {
      private_key: privateFile,
      public_key: publicFile,
      key_id: keyIdOf(pair.publicKey),
      config: config ?? null,
    },
    (v) =>
      [
        `Wrote ${v.private_key} (keep it secret, out of version control) and ${v.public_key}`,
        v.config
          ? `Set plugins.CapacitorUpdater.publicKey in ${v.config}`
          : `Put the public key in plugins.CapacitorUpdater.publicKey of the Capacitor config (or rerun with --write-config)`,
      ].join('\n'),
  );
}
