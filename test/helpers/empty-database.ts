import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import SQLite from 'better-sqlite3';
import { Kysely, PostgresDialect, SqliteDialect } from 'kysely';
import pg from 'pg';
import { hearClientErrors } from '../../src/db/connect.js';
import type { Database } from '../../src/db/schema.js';
import { TEST_BACKEND, backendForServer } from './backends.js';

/**
 * An empty database of this run's backend (a new PostgreSQL database on the suite's server, or a
 * new SQLite file), not migrated, for tests that migrate it themselves. Its clean-ups (closing it,
 * dropping it or its folder) are pushed to `cleanups`, to run in reverse order after the test.
 */
export async function emptyDatabase(cleanups: Array<() => Promise<void>>): Promise<Kysely<Database>> {
  let db: Kysely<Database>;
  if (TEST_BACKEND === 'postgres') {
    const backend = await backendForServer();
    cleanups.push(() => backend.cleanup());
    const pool = new pg.Pool({ connectionString: backend.env.OVERAIR_DATABASE_URL });
    // Its database is dropped WITH (FORCE) after the test, which can reach a connection the pool
    // is still closing: that error must not end the test run.
    hearClientErrors(pool);
    db = new Kysely({ dialect: new PostgresDialect({ pool }) });
  } else {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'overair-empty-db-'));
    cleanups.push(() => fs.rm(dir, { recursive: true, force: true }));
    db = new Kysely({ dialect: new SqliteDialect({ database: new SQLite(path.join(dir, 'overair.db')) }) });
  }
  cleanups.push(() => db.destroy());
  return db;
}
