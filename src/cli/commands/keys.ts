import type { Command } from 'commander';
import type { CliIo } from '../io.js';
import { PRIVATE_KEY_FILE, PUBLIC_KEY_FILE } from '../key-file-names.js';
import { run } from '../lazy.js';

/** `keys create`: the RSA key pair for encrypted bundles. */
export function registerKeysCommands(program: Command, io: CliIo): void {
  const keys = program.command('keys').description('key pairs for encrypted and signed bundles');
  keys
    .command('create')
    .description(
      `create an RSA-2048 key pair as ${PRIVATE_KEY_FILE} and ${PUBLIC_KEY_FILE} (the Capgo CLI's formats)`,
    )
    .option('--key-dir <dir>', 'where to write the keys', '.')
    .option('--force', 'overwrite existing keys')
    .option('--write-config', 'also set plugins.CapacitorUpdater.publicKey in capacitor.config.json')
    .action(run(io, async () => (await import('../actions/keys.js')).keysCreate));
}
