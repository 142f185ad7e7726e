/**
 * Migrations on data written before them: a database at an older migration, with rows in it, is
 * migrated to the latest and keeps every value under its new name. On each project's database.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import SQLite from 'better-sqlite3';
import { Kysely, PostgresDialect, SqliteDialect } from 'kysely';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { migrateTo } from '../src/db/migrations.js';
import { TEST_BACKEND, backendForServer } from './helpers/backends.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** An empty database of this project's backend, not migrated. */
async function emptyDatabase(): Promise<Kysely<any>> {
  let db: Kysely<any>;
  if (TEST_BACKEND === 'postgres') {
    const backend = await backendForServer();
    cleanups.push(() => backend.cleanup());
    db = new Kysely({
      dialect: new PostgresDialect({
        pool: new pg.Pool({ connectionString: backend.env.OVERAIR_DATABASE_URL }),
      }),
    });
  } else {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'overair-migrate-'));
    cleanups.push(() => fs.rm(dir, { recursive: true, force: true }));
    db = new Kysely({ dialect: new SqliteDialect({ database: new SQLite(path.join(dir, 'overair.db')) }) });
  }
  cleanups.push(() => db.destroy());
  return db;
}

describe('migration 0015: one name per concept', () => {
  it('keeps the channel a device asks for, the one it assigned itself, and the native-version policy', async () => {
    const db = await emptyDatabase();
    await migrateTo(db, TEST_BACKEND, '0014_devices_assigned');
    const at = new Date().toISOString();
    await db.insertInto('apps').values({ id: 'com.example.old', name: 'Old', created_at: at }).execute();
    await db
      .insertInto('channels')
      .values({
        app_id: 'com.example.old',
        name: 'beta',
        is_default: 0,
        allow_self_assign: 1,
        created_at: at,
        updated_at: at,
        disable_auto_update: 'major',
      })
      .execute();
    await db
      .insertInto('devices')
      .values({
        app_id: 'com.example.old',
        device_id: 'device-1',
        platform: 'android',
        version_name: '1.0.0',
        version_build: '1.0',
        version_code: '1',
        version_os: '14',
        plugin_version: '7.0.0',
        custom_id: '',
        default_channel: 'beta',
        channel: 'beta',
        is_emulator: 0,
        is_prod: 1,
        self_channel: 'beta',
        first_seen: at,
        last_seen: at,
      })
      .execute();

    await migrateTo(db, TEST_BACKEND);

    expect(
      await db.selectFrom('devices').select(['requested_channel', 'self_assigned_channel']).execute(),
    ).toEqual([{ requested_channel: 'beta', self_assigned_channel: 'beta' }]);
    expect(
      await db.selectFrom('channels').select('native_policy').where('name', '=', 'beta').execute(),
    ).toEqual([{ native_policy: 'major' }]);
  });
});

describe('migration 0016: release safety', () => {
  it('gives existing apps no requirement and no key', async () => {
    const db = await emptyDatabase();
    await migrateTo(db, TEST_BACKEND, '0015_one_name_per_concept');
    const at = new Date().toISOString();
    await db.insertInto('apps').values({ id: 'com.example.old', name: 'Old', created_at: at }).execute();

    await migrateTo(db, TEST_BACKEND);

    expect(await db.selectFrom('apps').selectAll().execute()).toEqual([
      {
        id: 'com.example.old',
        name: 'Old',
        created_at: at,
        require_signature: 0,
        require_encryption: 0,
        signing_public_key: null,
        encryption_public_key: null,
        // 0018_retention
        keep_bundles: null,
      },
    ]);
  });
});

describe('migration 0017: native layers', () => {
  it('leaves earlier bundles with an unknown native layer and channels serving unregistered binaries', async () => {
    const db = await emptyDatabase();
    await migrateTo(db, TEST_BACKEND, '0015_one_name_per_concept');
    const at = new Date().toISOString();
    await db.insertInto('apps').values({ id: 'com.example.old', name: 'Old', created_at: at }).execute();
    await db
      .insertInto('bundles')
      .values({
        app_id: 'com.example.old',
        version: '1.0.0',
        sha256: 'a'.repeat(64),
        location: 'blob',
        checksum: 'a'.repeat(64),
        created_at: at,
      })
      .execute();
    await db
      .insertInto('channels')
      .values({ app_id: 'com.example.old', name: 'production', created_at: at, updated_at: at })
      .execute();

    await migrateTo(db, TEST_BACKEND);

    expect(await db.selectFrom('bundles').select(['native_layer', 'native_fingerprint']).execute()).toEqual([
      { native_layer: null, native_fingerprint: null },
    ]);
    expect(await db.selectFrom('channels').select('unregistered_binaries').execute()).toEqual([
      { unregistered_binaries: 'serve' },
    ]);
    expect(await db.selectFrom('native_binaries').selectAll().execute()).toEqual([]);
  });
});

describe('migration 0018: retention', () => {
  it('leaves existing apps keeping every bundle', async () => {
    const db = await emptyDatabase();
    await migrateTo(db, TEST_BACKEND, '0017_native_layers');
    const at = new Date().toISOString();
    await db.insertInto('apps').values({ id: 'com.example.old', name: 'Old', created_at: at }).execute();

    await migrateTo(db, TEST_BACKEND);

    expect(await db.selectFrom('apps').select(['id', 'keep_bundles']).execute()).toEqual([
      { id: 'com.example.old', keep_bundles: null },
    ]);
    await db.updateTable('apps').set({ keep_bundles: 5 }).execute();
    expect(await db.selectFrom('apps').select('keep_bundles').execute()).toEqual([{ keep_bundles: 5 }]);
  });
});
