import type { Database as SqliteDatabase, Statement } from 'better-sqlite3';
import type { SqliteDatabase as KyselySqliteDatabase } from 'kysely';

/** Statements kept per connection: the update check's and the device writes' few shapes, and more. */
const MAX_STATEMENTS = 256;

/**
 * The SQLite connection as Kysely's dialect sees it, with its prepared statements kept by SQL text.
 * Kysely's SQLite driver prepares every query anew, and SQLite compiling the statement was the larger
 * part of a small query's cost (a batched release reload of many apps, a chunk of device upserts).
 * Safe to share: the driver runs each statement to its end synchronously (all/run), one query at a
 * time; SQLite recompiles a kept statement by itself after a schema change (a migration).
 */
export function withStatementCache(sqlite: SqliteDatabase): KyselySqliteDatabase {
  const statements = new Map<string, Statement>();
  return {
    prepare(sql: string) {
      let statement = statements.get(sql);
      if (statement === undefined) {
        statement = sqlite.prepare(sql);
        // A Map iterates in insertion order, and a used statement is put back last: past the bound,
        // the least recently used goes.
        if (statements.size >= MAX_STATEMENTS) statements.delete(statements.keys().next().value!);
      } else {
        statements.delete(sql);
      }
      statements.set(sql, statement);
      return statement;
    },
    close() {
      statements.clear();
      sqlite.close();
    },
  };
}
