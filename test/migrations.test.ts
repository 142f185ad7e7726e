/**
 * Migrations on data written before them: a database at an older migration, with rows in it, is
 * migrated to the latest and keeps every value under its new name. On each project's database.
 */
import type { Kysely } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { Repos } from '../src/db/index.js';
import { migrateTo } from '../src/db/migrations.js';
import { grantsOfRow } from '../src/db/grants.js';
import { grantsFromScope, may, ROLES } from '../src/domain/roles.js';
import { TEST_BACKEND } from './helpers/backends.js';
import { emptyDatabase as newEmptyDatabase } from './helpers/empty-database.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** An empty database of this project's backend, not migrated, dropped after the test. */
const emptyDatabase = async (): Promise<Kysely<any>> => newEmptyDatabase(cleanups);

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
        release_stamp: 0,
        // 0022_protected_channels
        release_approval: 0,
      },
    ]);
  });
});

describe('migration 0022: protected channels', () => {
  it('leaves existing channels unprotected and apps without four-eyes releases', async () => {
    const db = await emptyDatabase();
    await migrateTo(db, TEST_BACKEND, '0020_totp_sessions');
    const at = new Date().toISOString();
    await db.insertInto('apps').values({ id: 'com.example.old', name: 'Old', created_at: at }).execute();
    await db
      .insertInto('channels')
      .values({
        app_id: 'com.example.old',
        name: 'production',
        is_default: 1,
        created_at: at,
        updated_at: at,
      })
      .execute();

    await migrateTo(db, TEST_BACKEND);

    expect(await db.selectFrom('channels').select(['name', 'protected']).execute()).toEqual([
      { name: 'production', protected: 0 },
    ]);
    expect(await db.selectFrom('apps').select('release_approval').execute()).toEqual([
      { release_approval: 0 },
    ]);
    expect(await db.selectFrom('release_requests').selectAll().execute()).toEqual([]);
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

describe('migration 0019: release stamps', () => {
  const APP = 'com.example.old';
  const OTHER = 'com.example.other';
  const device = (id: string, channelOverride: string | null = null) => ({
    app_id: APP,
    device_id: id,
    platform: 'android',
    version_name: '1.0.0',
    version_build: '1.0',
    version_code: '1',
    version_os: '14',
    plugin_version: '7.0.0',
    custom_id: '',
    requested_channel: 'production',
    channel: 'production',
    is_emulator: 0,
    is_prod: 1,
    channel_override: channelOverride,
    first_seen: new Date().toISOString(),
    last_seen: new Date().toISOString(),
  });

  it('starts existing apps at 0, and bumps an app at each change of what its release is made of', async () => {
    const db = await emptyDatabase();
    await migrateTo(db, TEST_BACKEND, '0017_native_layers');
    const at = new Date().toISOString();
    for (const id of [APP, OTHER])
      await db.insertInto('apps').values({ id, name: id, created_at: at }).execute();
    await db.insertInto('devices').values(device('plain')).execute();

    await migrateTo(db, TEST_BACKEND);

    const stamps = async () =>
      Object.fromEntries(
        (await db.selectFrom('apps').select(['id', 'release_stamp']).execute()).map((row) => [
          row.id,
          row.release_stamp,
        ]),
      );
    expect(await stamps()).toEqual({ [APP]: 0, [OTHER]: 0 });
    let expected = 0;
    /** Runs a write and expects it to have bumped APP's stamp (only APP's) or left it alone. */
    const expectBump = async (bumps: boolean, write: () => Promise<unknown>) => {
      await write();
      if (bumps) expected = (await stamps())[APP];
      expect(await stamps()).toEqual({ [APP]: expected, [OTHER]: 0 });
      return expected;
    };
    let last = 0;
    const bumped = async (write: () => Promise<unknown>) => {
      const stamp = await expectBump(true, write);
      expect(stamp).toBeGreaterThan(last);
      last = stamp;
    };
    const unchanged = (write: () => Promise<unknown>) => expectBump(false, write);

    // The app's own flag, not its other columns.
    await bumped(() => db.updateTable('apps').set({ require_signature: 1 }).where('id', '=', APP).execute());
    await unchanged(() => db.updateTable('apps').set({ name: 'Renamed' }).where('id', '=', APP).execute());
    await unchanged(() =>
      db.updateTable('apps').set({ require_signature: 1 }).where('id', '=', APP).execute(),
    );
    // Bundles and channels, every change.
    const bundle = { app_id: APP, sha256: 'a'.repeat(64), location: 'blob', checksum: 'c', created_at: at };
    await bumped(() =>
      db
        .insertInto('bundles')
        .values({ ...bundle, version: '1.0.0' })
        .execute(),
    );
    const { id: bundleId } = await db.selectFrom('bundles').select('id').executeTakeFirstOrThrow();
    await bumped(() => db.updateTable('bundles').set({ notes: 'n' }).where('id', '=', bundleId).execute());
    await bumped(() =>
      db
        .insertInto('channels')
        .values({ app_id: APP, name: 'production', created_at: at, updated_at: at })
        .execute(),
    );
    await bumped(() => db.updateTable('channels').set({ bundle_id: bundleId }).execute());
    await bumped(() => db.deleteFrom('bundles').where('id', '=', bundleId).execute());
    // Devices: only while they have a server-side channel; the reported columns never.
    await unchanged(() => db.insertInto('devices').values(device('other')).execute());
    await unchanged(() =>
      db
        .updateTable('devices')
        .set({ version_name: '1.0.1', last_seen: at })
        .where('device_id', '=', 'plain')
        .execute(),
    );
    await bumped(() => db.insertInto('devices').values(device('assigned', 'production')).execute());
    await unchanged(() =>
      db.updateTable('devices').set({ version_name: '1.0.1' }).where('device_id', '=', 'assigned').execute(),
    );
    await unchanged(() =>
      db
        .updateTable('devices')
        .set({ channel_override: 'production' })
        .where('device_id', '=', 'assigned')
        .execute(),
    );
    await bumped(() =>
      db
        .updateTable('devices')
        .set({ self_assigned_channel: 'beta' })
        .where('device_id', '=', 'plain')
        .execute(),
    );
    await bumped(() => db.deleteFrom('devices').where('device_id', '=', 'assigned').execute());
    await unchanged(() => db.deleteFrom('devices').where('device_id', '=', 'other').execute());
    // Holds: their failure counts, not when they were last reported.
    const hold = {
      app_id: APP,
      device_id: 'plain',
      version: '1.0.1',
      last_action: 'update_fail',
      first_at: at,
      last_at: at,
    };
    await bumped(() =>
      db
        .insertInto('device_holds')
        .values({ ...hold, install_failures: 1 })
        .execute(),
    );
    await bumped(() => db.updateTable('device_holds').set({ install_failures: 2 }).execute());
    await unchanged(() => db.updateTable('device_holds').set({ last_at: 'later' }).execute());
    await bumped(() => db.deleteFrom('device_holds').execute());
    // Registered binaries.
    const binary = {
      app_id: APP,
      platform: 'android',
      version: '1.0',
      native_layer: '{}',
      native_fingerprint: 'f',
    };
    await bumped(() =>
      db
        .insertInto('native_binaries')
        .values({ ...binary, source: 'cli', created_at: at })
        .execute(),
    );
    await bumped(() =>
      db.updateTable('native_binaries').set({ store_url: 'https://store.example' }).execute(),
    );
    await bumped(() => db.deleteFrom('native_binaries').execute());

    // Deleting the app deletes its rows too, whose triggers find no app to bump.
    await db.deleteFrom('apps').where('id', '=', APP).execute();
    expect(await stamps()).toEqual({ [OTHER]: 0 });
  });
});

describe('migration 0020: two-factor sign-in and session details', () => {
  it('leaves existing users without two-factor sign-in and existing sessions working', async () => {
    const db = await emptyDatabase();
    await migrateTo(db, TEST_BACKEND, '0019_release_stamps');
    const at = new Date().toISOString();
    await db
      .insertInto('users')
      .values({
        username: 'old',
        password_hash: 'x',
        scope: 'admin',
        created_at: at,
        password_changed_at: at,
      })
      .execute();
    const user = await db.selectFrom('users').select('id').executeTakeFirstOrThrow();
    await db
      .insertInto('sessions')
      .values({
        hash: 'h',
        user_id: user.id,
        token_id: null,
        csrf_token: 'c',
        created_at: at,
        expires_at: at,
      })
      .execute();

    await migrateTo(db, TEST_BACKEND);

    expect(
      await db.selectFrom('users').select(['totp_secret', 'totp_enabled_at', 'totp_last_step']).execute(),
    ).toEqual([{ totp_secret: null, totp_enabled_at: null, totp_last_step: null }]);
    expect(
      await db.selectFrom('sessions').select(['hash', 'last_used_at', 'user_agent', 'address']).execute(),
    ).toEqual([{ hash: 'h', last_used_at: null, user_agent: null, address: null }]);
    await db.insertInto('recovery_codes').values({ user_id: user.id, hash: 'r', created_at: at }).execute();
    // Recovery codes go with their user.
    await db.deleteFrom('users').execute();
    expect(await db.selectFrom('recovery_codes').selectAll().execute()).toEqual([]);
  });
});

describe('migration 0021: roles per app', () => {
  it('gives existing tokens and users exactly what their scope allowed, on every app', async () => {
    const db = await emptyDatabase();
    await migrateTo(db, TEST_BACKEND, '0020_totp_sessions');
    const at = new Date().toISOString();
    const scopes = ['admin', 'publish', 'read'] as const;
    for (const scope of scopes) {
      await db
        .insertInto('tokens')
        .values({ name: scope, hash: `h-${scope}`, scope, created_at: at })
        .execute();
      await db
        .insertInto('users')
        .values({ username: scope, password_hash: 'x', scope, created_at: at, password_changed_at: at })
        .execute();
    }
    await db.insertInto('apps').values({ id: 'com.example.old', name: 'Old', created_at: at }).execute();

    await migrateTo(db, TEST_BACKEND);

    for (const table of ['tokens', 'users'] as const) {
      const rows = await db
        .selectFrom(table)
        .select([table === 'tokens' ? 'name' : 'username as name', 'server_admin', 'all_apps_role'])
        .orderBy('id')
        .execute();
      expect(rows).toEqual([
        { name: 'admin', server_admin: 1, all_apps_role: 'admin' },
        { name: 'publish', server_admin: 0, all_apps_role: 'publish' },
        { name: 'read', server_admin: 0, all_apps_role: 'read' },
      ]);
      // The rights those rows give are the old scopes', on an existing app and on any future one.
      for (const [i, row] of rows.entries()) {
        const now = grantsOfRow(row as never);
        const before = grantsFromScope(scopes[i]!);
        expect(now).toEqual(before);
        for (const app of ['com.example.old', 'com.example.future'])
          for (const role of ROLES) expect(may(now, app, role)).toBe(may(before, app, role));
      }
      expect(
        Object.keys((await db.selectFrom(table).selectAll().executeTakeFirstOrThrow()) as object),
      ).not.toContain('scope');
    }
    // A role on one app goes with the app, so that a new app of the same id starts with none.
    const token = await db
      .selectFrom('tokens')
      .select('id')
      .where('name', '=', 'read')
      .executeTakeFirstOrThrow();
    await db
      .insertInto('app_grants')
      .values({ token_id: token.id, user_id: null, app_id: 'com.example.old', role: 'admin' })
      .execute();
    await db.deleteFrom('apps').execute();
    expect(await db.selectFrom('app_grants').selectAll().execute()).toEqual([]);
    // One holder per row, one row per holder and app.
    await expect(
      db
        .insertInto('app_grants')
        .values({ token_id: null, user_id: null, app_id: 'x', role: 'read' })
        .execute(),
    ).rejects.toThrow();
  });
});

describe('migration 0023: users of single sign-on', () => {
  it('leaves existing users local, and binds one user to each issuer and subject', async () => {
    const db = await emptyDatabase();
    await migrateTo(db, TEST_BACKEND, '0020_totp_sessions');
    const at = new Date().toISOString();
    const local = { password_hash: 'scrypt$x', created_at: at, password_changed_at: at };
    await db
      .insertInto('users')
      .values({ username: 'alice', scope: 'read', ...local })
      .execute();

    await migrateTo(db, TEST_BACKEND);
    // After 0021, roles instead of the scope.
    const user = (username: string) => ({ username, all_apps_role: 'read' as const, ...local });

    expect(
      await db.selectFrom('users').select(['username', 'oidc_issuer', 'oidc_subject']).execute(),
    ).toEqual([{ username: 'alice', oidc_issuer: null, oidc_subject: null }]);
    // Local users have no identity: any number of them.
    await db.insertInto('users').values(user('bob')).execute();
    const identity = { oidc_issuer: 'https://id.example.com', oidc_subject: 's1' };
    await db
      .insertInto('users')
      .values({ ...user('carol'), ...identity })
      .execute();
    await db
      .insertInto('users')
      .values({ ...user('carol2'), ...identity, oidc_issuer: 'https://other.example.com' })
      .execute();
    await expect(
      db
        .insertInto('users')
        .values({ ...user('mallory'), ...identity })
        .execute(),
    ).rejects.toThrow();
  });
});

describe('migration 0024: release insight', () => {
  it('leaves existing channels without the evidence rule, and keeps their events countable', async () => {
    const db = await emptyDatabase();
    await migrateTo(db, TEST_BACKEND, '0020_totp_sessions');
    const at = new Date().toISOString();
    await db.insertInto('apps').values({ id: 'com.example.old', name: 'Old', created_at: at }).execute();
    await db
      .insertInto('channels')
      .values({
        app_id: 'com.example.old',
        name: 'production',
        bundle_id: null,
        is_default: 1,
        allow_self_assign: 0,
        created_at: at,
        updated_at: at,
        rollout_bundle_id: null,
        failure_threshold: null,
      })
      .execute();
    const event = {
      app_id: 'com.example.old',
      device_id: 'd1',
      version_name: '1.1.0',
      old_version_name: '1.0.0',
    };
    await db
      .insertInto('device_events')
      .values([
        { ...event, action: 'set', platform: 'ios', plugin_version: '8.0.0', channel: 'production', at },
        {
          ...event,
          action: 'update_fail',
          platform: 'ios',
          plugin_version: '8.0.0',
          channel: 'production',
          at,
        },
      ])
      .execute();

    await migrateTo(db, TEST_BACKEND);

    expect(
      await db.selectFrom('channels').select(['halt_on_evidence', 'evidence_min_devices']).execute(),
    ).toEqual([{ halt_on_evidence: 0, evidence_min_devices: 100 }]);
    // The events written before are read through the new indexes like any other.
    const repos = new Repos(db);
    expect(
      await repos.insight.triedGroup({
        appId: 'com.example.old',
        channel: 'production',
        version: '1.1.0',
        since: '',
      }),
    ).toEqual({ devices: 1, failed: 1 });
    const moves = await repos.insight.installMoves('com.example.old', 'production', '', 'day');
    expect(moves.sort((a, b) => a.from.localeCompare(b.from))).toEqual([
      { bucket: at.slice(0, 10), from: '1.0.0', to: '1.1.0', devices: 1 },
      { bucket: at.slice(0, 10), from: '1.1.0', to: '1.0.0', devices: 1 },
    ]);
  });
});

describe('migration 0028: bundle files prepared after the upload', () => {
  it('leaves earlier bundles with their files ready, and encrypted or external ones with none', async () => {
    const db = await emptyDatabase();
    await migrateTo(db, TEST_BACKEND, '0026_rollout_schedules');
    const at = new Date().toISOString();
    await db.insertInto('apps').values({ id: 'com.example.old', name: 'Old', created_at: at }).execute();
    const bundle = (version: string, extra: Record<string, unknown>) => ({
      app_id: 'com.example.old',
      version,
      sha256: version.replace(/\D/g, '').padEnd(64, 'a'),
      location: 'blob',
      checksum: 'a'.repeat(64),
      created_at: at,
      ...extra,
    });
    await db
      .insertInto('bundles')
      .values([
        bundle('1.0.0', {}),
        bundle('1.0.1', { session_key: 'iv:key' }),
        bundle('1.0.2', { location: 'external', external_url: 'https://cdn.example.com/a.zip' }),
      ] as never)
      .execute();

    await migrateTo(db, TEST_BACKEND);

    expect(
      await db
        .selectFrom('bundles')
        .select(['version', 'files_state', 'files_error'])
        .orderBy('version')
        .execute(),
    ).toEqual([
      { version: '1.0.0', files_state: 'ready', files_error: null },
      { version: '1.0.1', files_state: 'none', files_error: null },
      { version: '1.0.2', files_state: 'none', files_error: null },
    ]);
  });
});
