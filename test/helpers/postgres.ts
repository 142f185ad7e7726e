import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { freePort } from './ports.js';

const run = promisify(execFile);

/** Debian's PostgreSQL server binaries (package `postgresql`). */
const PG_BIN = '/usr/lib/postgresql/15/bin';

/**
 * A real PostgreSQL server from Debian's package, in a temporary folder on a free loopback port,
 * as docs/test-servers.md describes: initdb refuses root, so the server runs as the `postgres` user.
 * `stop()`/`start()` take it down and bring it back with its data (for outage tests); `destroy()`
 * stops it and removes everything.
 */
export interface PostgresServer {
  port: number;
  /** URL of a database on this server. */
  urlOf(database: string): string;
  createDatabase(): Promise<string>;
  dropDatabase(name: string): Promise<void>;
  stop(): Promise<void>;
  start(): Promise<void>;
  destroy(): Promise<void>;
}

export async function startPostgres(): Promise<PostgresServer> {
  await fs.access(path.join(PG_BIN, 'initdb')).catch(() => {
    throw new Error(`PostgreSQL is not installed (${PG_BIN}); apt-get install -y postgresql`);
  });
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'overair-pg-'));
  const data = path.join(dir, 'data');
  const asPostgres = (command: string, args: string[]) =>
    run('runuser', ['-u', 'postgres', '--', path.join(PG_BIN, command), ...args]);
  await run('chown', ['postgres:postgres', dir]);
  await fs.chmod(dir, 0o700);
  await asPostgres('initdb', ['-D', data, '-U', 'postgres', '-A', 'trust', '--no-sync', '-E', 'UTF8']);
  const port = await freePort();
  const pgCtl = (action: 'start' | 'stop') =>
    action === 'start'
      ? asPostgres('pg_ctl', [
          '-D',
          data,
          '-l',
          path.join(dir, 'log'),
          '-w',
          '-o',
          `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300`,
          'start',
        ])
      : asPostgres('pg_ctl', ['-D', data, '-m', 'fast', '-w', 'stop']);
  await pgCtl('start');
  const urlOf = (database: string) => `postgres://postgres@127.0.0.1:${port}/${database}`;
  let counter = 0;
  const admin = async <T>(work: (client: pg.Client) => Promise<T>): Promise<T> => {
    const client = new pg.Client({ connectionString: urlOf('postgres') });
    await client.connect();
    try {
      return await work(client);
    } finally {
      await client.end();
    }
  };
  let running = true;
  return {
    port,
    urlOf,
    async createDatabase() {
      const name = `overair_${process.pid}_${Date.now().toString(36)}_${counter++}`;
      await admin((client) => client.query(`CREATE DATABASE ${name}`));
      return name;
    },
    async dropDatabase(name) {
      if (!/^[a-z0-9_]+$/.test(name)) throw new Error(`unexpected database name ${name}`);
      await admin((client) => client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
    },
    async stop() {
      await pgCtl('stop');
      running = false;
    },
    async start() {
      await pgCtl('start');
      running = true;
    },
    async destroy() {
      if (running) await pgCtl('stop').catch(() => undefined);
      await fs.rm(dir, { recursive: true, force: true });
    },
  };
}
