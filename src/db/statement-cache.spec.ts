import SQLite from 'better-sqlite3';
import { Kysely, SqliteDialect } from 'kysely';
import { describe, expect, it } from 'vitest';

interface Tables {
  apps: { id: string; name?: string | null };
}
import { withStatementCache } from './statement-cache.js';

describe('withStatementCache', () => {
  it('prepares a statement once per SQL text', () => {
    const sqlite = new SQLite(':memory:');
    const database = withStatementCache(sqlite);
    const first = database.prepare('select 1 as one');
    expect(database.prepare('select 1 as one')).toBe(first);
    expect(database.prepare('select 2 as two')).not.toBe(first);
    database.close();
    expect(sqlite.open).toBe(false);
  });

  it('keeps at most 256 statements, the least recently used going first', () => {
    const database = withStatementCache(new SQLite(':memory:'));
    const kept = database.prepare('select 0');
    for (let i = 1; i < 256; i++) database.prepare(`select ${i}`);
    // Used again: now the most recent, so the next new statement pushes out "select 1" instead.
    expect(database.prepare('select 0')).toBe(kept);
    const second = database.prepare('select 1');
    database.prepare('select 1000');
    expect(database.prepare('select 0')).toBe(kept);
    expect(database.prepare('select 1')).toBe(second);
    database.prepare('select 1001');
    database.prepare('select 1002');
    // "select 2" was the least recently used of all: prepared anew.
    const third = database.prepare('select 2');
    expect(database.prepare('select 2')).toBe(third);
    database.close();
  });

  it('answers as the uncached connection does through Kysely, across a schema change', async () => {
    const db = new Kysely<Tables>({
      dialect: new SqliteDialect({ database: withStatementCache(new SQLite(':memory:')) }),
    });
    await db.schema
      .createTable('apps')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .execute();
    await db.insertInto('apps').values({ id: 'a' }).execute();
    const select = () => db.selectFrom('apps').selectAll().execute();
    expect(await select()).toEqual([{ id: 'a' }]);
    // The kept "select *" sees the new column: SQLite recompiles a statement after a schema change.
    await db.schema.alterTable('apps').addColumn('name', 'text').execute();
    await db.updateTable('apps').set({ name: 'A' }).execute();
    expect(await select()).toEqual([{ id: 'a', name: 'A' }]);
    const inserted = await db.insertInto('apps').values({ id: 'b', name: 'B' }).executeTakeFirst();
    expect(inserted.numInsertedOrUpdatedRows).toBe(1n);
    await db.destroy();
  });
});
