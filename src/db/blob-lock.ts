import { PostgresAdapter, sql, type Kysely } from 'kysely';
import { Mutex } from '../concurrency.js';
import type { Database } from './schema.js';

/** The advisory lock's key on PostgreSQL: any constant no other lock of Overair's uses. */
const POSTGRES_KEY = 0x0ae1b10b;

/**
 * One at a time, across instances: deciding which blobs no row references and deleting them, and
 * writing the rows that start to reference blobs already stored (a bundle's files, whose rows come
 * after the upload's answer: services/bundle-files.ts). Blobs are content-addressed and shared, so
 * without it a deletion that found a file blob unreferenced could remove it just as a new bundle's
 * rows begin to name it. Within an instance a mutex; on PostgreSQL also a session advisory lock
 * held on a connection of its own (released by PostgreSQL if that connection dies). SQLite serves
 * one instance, so the mutex is enough there, and no transaction is held open while blobs go.
 */
export class BlobLock {
  private static readonly byDatabase = new WeakMap<Kysely<Database>, BlobLock>();
  private readonly local = new Mutex();

  private constructor(private readonly db: Kysely<Database>) {}

  /** The lock of this database handle: one per process and database, however many Repos use it. */
  static of(db: Kysely<Database>): BlobLock {
    let lock = BlobLock.byDatabase.get(db);
    if (!lock) {
      lock = new BlobLock(db);
      BlobLock.byDatabase.set(db, lock);
    }
    return lock;
  }

  run<T>(work: () => Promise<T>): Promise<T> {
    return this.local.run(() =>
      this.db.getExecutor().adapter instanceof PostgresAdapter
        ? this.db.connection().execute(async (connection) => {
            await sql`select pg_advisory_lock(${POSTGRES_KEY})`.execute(connection);
            try {
              return await work();
            } finally {
              await sql`select pg_advisory_unlock(${POSTGRES_KEY})`.execute(connection);
            }
          })
        : work(),
    );
  }
}
