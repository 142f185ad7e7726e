import fs from 'node:fs/promises';
import path from 'node:path';
import { keyIdOf } from '../crypto/capgo.js';
import { readCapacitorConfig } from './capacitor.js';
import { CliError } from './io.js';
import { PRIVATE_KEY_FILE, PUBLIC_KEY_FILE } from './key-file-names.js';

export interface KeyOptions {
  key?: string;
  keyData?: string;
}

export async function readKeyFile(cwd: string, file: string): Promise<string> {
  try {
    return await fs.readFile(path.resolve(cwd, file), 'utf8');
  } catch {
    throw new CliError(`cannot read the key file ${path.resolve(cwd, file)}`);
  }
}

/** The private key: --key-data, else --key FILE, else ./.capgo_key_v2 (where `keys create` puts it). */
export async function readPrivateKey(cwd: string, options: KeyOptions): Promise<string> {
  const pem = options.keyData ?? (await readKeyFile(cwd, options.key ?? PRIVATE_KEY_FILE));
  if (!pem.includes('PRIVATE KEY-----'))
    throw new CliError('the key is not a PEM private key (-----BEGIN RSA PRIVATE KEY-----)');
  return pem;
}

/**
 * The public key: --key-data, else --key FILE, else the Capacitor config's publicKey, else
 * ./.capgo_key_v2.pub.
 */
export async function readPublicKey(cwd: string, options: KeyOptions): Promise<string> {
  if (options.keyData) return options.keyData;
  if (options.key) return readKeyFile(cwd, options.key);
  const configured = (await readCapacitorConfig(cwd))?.updater.publicKey;
  if (typeof configured === 'string' && configured) return configured;
  return readKeyFile(cwd, PUBLIC_KEY_FILE);
}

/** The key id of the Capacitor config's public key, when it has one. */
export async function configKeyId(cwd: string): Promise<string | undefined> {
  const configured = (await readCapacitorConfig(cwd))?.updater.publicKey;
  return typeof configured === 'string' && configured ? keyIdOf(configured) : undefined;
}
