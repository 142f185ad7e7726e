import { sql, type Kysely } from 'kysely';
import type { Database } from './schema.js';

/** The cheapest round trip to the database: throws unless it answers (readiness checks). */
export async function pingDatabase(db: Kysely<Database>): Promise<void> {
  await sql`select 1`.execute(db);
}
