import { CompiledQuery, PostgresAdapter } from 'kysely';
import type { RunningServer } from '../../src/server.js';

/**
 * Runs SQL on a server's own database, whichever dialect it is (for what the API cannot do, such
 * as expiring something now, and to look at what is stored). `?` placeholders, as in SQLite; they
 * become `$1, $2...` for PostgreSQL. Statements here never contain a literal `?`.
 */
export async function runSql(server: RunningServer, statement: string, ...params: unknown[]): Promise<any[]> {
  const isPostgres = server.db.getExecutor().adapter instanceof PostgresAdapter;
  let index = 0;
  const text = isPostgres ? statement.replace(/\?/g, () => `$${++index}`) : statement;
  const result = await server.db.executeQuery(CompiledQuery.raw(text, params));
  return result.rows as any[];
}

/** The names of the server's tables (Kysely's own migration tables left out). */
export async function tableNames(server: RunningServer): Promise<string[]> {
  const tables = await server.db.introspection.getTables();
  return tables.map((table) => table.name).sort();
}
