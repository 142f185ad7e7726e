import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { CliError, type CliIo } from './io.js';

/** What `overair login` remembers: the server and its token, in a file only the user can read. */
export interface SavedLogin {
  server: string;
  token: string;
}

function settingsFile(env: NodeJS.ProcessEnv): string {
  if (env.OVERAIR_CONFIG) return path.resolve(env.OVERAIR_CONFIG);
  const base = env.XDG_CONFIG_HOME || path.join(env.HOME || os.homedir(), '.config');
  return path.join(base, 'overair', 'config.json');
}

async function readLogin(env: NodeJS.ProcessEnv): Promise<Partial<SavedLogin>> {
  try {
    const saved = JSON.parse(await fs.readFile(settingsFile(env), 'utf8')) as Partial<SavedLogin>;
    return { server: saved.server, token: saved.token };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw new CliError(`cannot read ${settingsFile(env)}: ${(error as Error).message}`);
  }
}

export async function saveLogin(env: NodeJS.ProcessEnv, login: SavedLogin): Promise<string> {
  const file = settingsFile(env);
  await fs.mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  // Written to a private temporary file first, so the token is never readable by others, even briefly.
  const temporary = `${file}.${process.pid}.tmp`;
  await fs.writeFile(temporary, `${JSON.stringify(login, null, 2)}\n`, { mode: 0o600 });
  await fs.rename(temporary, file);
  await fs.chmod(file, 0o600);
  return file;
}

export interface Connection {
  server: string;
  token: string;
}

/** Server and token: flags, then OVERAIR_SERVER / OVERAIR_TOKEN, then what `overair login` saved. */
export async function resolveConnection(
  io: CliIo,
  flags: { server?: string; token?: string },
): Promise<Connection> {
  const saved = await readLogin(io.env);
  const server = flags.server ?? io.env.OVERAIR_SERVER ?? saved.server;
  const token = flags.token ?? io.env.OVERAIR_TOKEN ?? saved.token;
  if (!server) throw new CliError('no server: pass --server URL, set OVERAIR_SERVER, or run `overair login`');
  if (!token) throw new CliError('no token: pass --token, set OVERAIR_TOKEN, or run `overair login`');
  return { server: normaliseServer(server), token };
}

export function normaliseServer(server: string): string {
  let url: URL;
  try {
    url = new URL(server);
  } catch {
    throw new CliError(`"${server}" is not a URL; expected something like https://updates.example.com`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new CliError(`"${server}" is not an http(s) URL`);
  return url.toString().replace(/\/+$/, '');
}
