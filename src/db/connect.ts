import fs from 'node:fs';
import path from 'node:path';
import SQLite from 'better-sqlite3';
import { Kysely, PostgresDialect, SqliteDialect, type LogEvent } from 'kysely';
import pg from 'pg';
import type { DatabaseLocation } from '../config.js';
import { type DialectName, migrateToLatest } from './migrations.js';
import type { Database } from './schema.js';
import { withStatementCache } from './statement-cache.js';

export interface DatabaseHandle {
  db: Kysely<Database>;
  dialect: DialectName;
  /** The connection pool's counts (PostgreSQL; SQLite has one connection and no pool). */
  poolStats?: () => { total: number; idle: number; waiting: number };
  close(): Promise<void>;
}

export interface DatabaseOptions {
  /** Called with the error of every failed query (for the metrics; the error still reaches the caller). */
  onQueryError?: (error: unknown) => void;
}

/** Opens (and migrates) the configured database. */
export function openDatabase(
  location: DatabaseLocation,
  options: DatabaseOptions = {},
): Promise<DatabaseHandle> {
  return location.kind === 'postgres'
    ? openPostgres(location.url, options)
    : openSqlite(location.file, options);
}

/** Kysely's log hook, for failed queries only (a hook also gets every query's time, ignored here). */
function queryErrors(options: DatabaseOptions) {
  const onError = options.onQueryError;
  if (!onError) return undefined;
  return (event: LogEvent) => {
    if (event.level === 'error') onError(event.error);
  };
}

/** Opens the SQLite database file (creating its folder), tuned for one writer and many readers. */
export async function openSqlite(file: string, options: DatabaseOptions = {}): Promise<DatabaseHandle> {
  if (file !== ':memory:') fs.mkdirSync(path.dirname(file), { recursive: true });
  const sqlite = new SQLite(file);
  // WAL lets readers run while the device-upsert batch writes; NORMAL sync is durable across
  // process crashes, which is what WAL mode needs.
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('synchronous = NORMAL');
  sqlite.pragma('busy_timeout = 5000');
  sqlite.pragma('foreign_keys = ON');
  const db = new Kysely<Database>({
    dialect: new SqliteDialect({ database: withStatementCache(sqlite) }),
    log: queryErrors(options),
  });
  await migrateToLatest(db, 'sqlite');
  return { db, dialect: 'sqlite', close: () => db.destroy() };
}

/** int8 (bigint columns, count(*)): numbers, as SQLite gives them; sizes stay far below 2^53. */
const INT8_OID = 20;
const NUMERIC_OID = 1700;

/**
 * A client whose server went away emits 'error'. pg-pool listens only while a client is idle (and
 * re-emits on the pool); a client checked out for a transaction, between two of its queries, or one
 * the pool is closing, has no listener, and an unheard 'error' event ends the process. So every
 * client gets one for its whole life: the failure reaches the unit of work through its next query
 * ("not queryable", a 503 or a retry), and pg-pool drops the broken client when it is released.
 */
export function hearClientErrors(pool: pg.Pool): void {
  pool.on('connect', (client) => client.on('error', () => {}));
  pool.on('error', () => {});
}

/**
 * Opens a pool on a PostgreSQL server. Several `overair serve` instances may share the database:
 * migrations take Kysely's migration lock, so instances starting together migrate once.
 */
export async function openPostgres(
  url: string,
  options: DatabaseOptions & { max?: number } = {},
): Promise<DatabaseHandle> {
  const pool = new pg.Pool({
    connectionString: url,
    max: options.max ?? 10,
    // A server that is gone should fail a request within seconds (503), not hang it.
    connectionTimeoutMillis: 5_000,
    idleTimeoutMillis: 30_000,
    // A server that vanished without closing the connection (a host lost, a network cut) is
    // noticed by TCP keep-alive instead of leaving a query waiting forever.
    keepAlive: true,
    types: {
      getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
        oid === INT8_OID || oid === NUMERIC_OID
          ? (value: string) => Number(value)
          : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
    },
  });
  hearClientErrors(pool);
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }), log: queryErrors(options) });
  try {
    await migrateToLatest(db, 'postgres');
  } catch (error) {
    await db.destroy();
    throw error;
  }
  return {
    db,
    dialect: 'postgres',
    poolStats: () => ({ total: pool.totalCount, idle: pool.idleCount, waiting: pool.waitingCount }),
    close: () => db.destroy(),
  };
}
