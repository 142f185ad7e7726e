import {
  sql,
  type CreateTableBuilder,
  type Kysely,
  type Migration,
  type MigrationProvider,
  Migrator,
} from 'kysely';

export type DialectName = 'sqlite' | 'postgres';

/* eslint-disable @typescript-eslint/no-explicit-any -- migrations must not depend on today's schema
   type (Kysely's own advice), since they describe the schema of their day. */

/**
 * Ordered migrations. Once released, a migration never changes: add a new one instead. Each takes
 * the dialect because an auto-increment key is spelled differently in SQLite and PostgreSQL.
 */
function migrations(dialect: DialectName): Record<string, Migration> {
  // A surrogate key: SQLite needs AUTOINCREMENT, PostgreSQL a serial column.
  const withId = (table: CreateTableBuilder<string, never>) =>
    dialect === 'postgres'
      ? table.addColumn('id', 'serial', (c) => c.primaryKey())
      : table.addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement());

  return {
    '0001_initial': {
      async up(db: Kysely<any>) {
        await db.schema
          .createTable('apps')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('name', 'text', (c) => c.notNull())
          .addColumn('created_at', 'text', (c) => c.notNull())
          .execute();

        await withId(db.schema.createTable('bundles'))
          .addColumn('app_id', 'text', (c) => c.notNull().references('apps.id').onDelete('cascade'))
          .addColumn('version', 'text', (c) => c.notNull())
          .addColumn('sha256', 'text', (c) => c.notNull())
          .addColumn('size', 'bigint')
          .addColumn('location', 'text', (c) => c.notNull())
          .addColumn('external_url', 'text')
          .addColumn('checksum', 'text', (c) => c.notNull())
          .addColumn('session_key', 'text')
          .addColumn('key_id', 'text')
          .addColumn('min_native_version', 'text')
          .addColumn('notes', 'text')
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addColumn('created_by', 'text')
          .addUniqueConstraint('bundles_app_version', ['app_id', 'version'])
          .execute();
        await db.schema.createIndex('bundles_sha256').on('bundles').column('sha256').execute();

        await withId(db.schema.createTable('channels'))
          .addColumn('app_id', 'text', (c) => c.notNull().references('apps.id').onDelete('cascade'))
          .addColumn('name', 'text', (c) => c.notNull())
          .addColumn('bundle_id', 'integer', (c) => c.references('bundles.id').onDelete('set null'))
          .addColumn('is_default', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('allow_self_assign', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addColumn('updated_at', 'text', (c) => c.notNull())
          .addUniqueConstraint('channels_app_name', ['app_id', 'name'])
          .execute();

        await withId(db.schema.createTable('channel_history'))
          .addColumn('app_id', 'text', (c) => c.notNull().references('apps.id').onDelete('cascade'))
          .addColumn('channel_id', 'integer', (c) =>
            c.notNull().references('channels.id').onDelete('cascade'),
          )
          .addColumn('channel_name', 'text', (c) => c.notNull())
          .addColumn('action', 'text', (c) => c.notNull())
          .addColumn('bundle_id', 'integer', (c) => c.references('bundles.id').onDelete('set null'))
          .addColumn('version', 'text')
          .addColumn('previous_version', 'text')
          .addColumn('reason', 'text')
          .addColumn('at', 'text', (c) => c.notNull())
          .addColumn('actor', 'text')
          .execute();
        await db.schema
          .createIndex('channel_history_channel')
          .on('channel_history')
          .columns(['channel_id', 'id'])
          .execute();

        await db.schema
          .createTable('devices')
          .addColumn('app_id', 'text', (c) => c.notNull().references('apps.id').onDelete('cascade'))
          .addColumn('device_id', 'text', (c) => c.notNull())
          .addColumn('platform', 'text', (c) => c.notNull())
          .addColumn('version_name', 'text', (c) => c.notNull())
          .addColumn('version_build', 'text', (c) => c.notNull())
          .addColumn('version_code', 'text', (c) => c.notNull())
          .addColumn('version_os', 'text', (c) => c.notNull())
          .addColumn('plugin_version', 'text', (c) => c.notNull())
          .addColumn('custom_id', 'text', (c) => c.notNull())
          .addColumn('default_channel', 'text', (c) => c.notNull())
          .addColumn('channel', 'text', (c) => c.notNull())
          .addColumn('is_emulator', 'integer', (c) => c.notNull())
          .addColumn('is_prod', 'integer', (c) => c.notNull())
          .addColumn('channel_override', 'text')
          .addColumn('self_channel', 'text')
          .addColumn('first_seen', 'text', (c) => c.notNull())
          .addColumn('last_seen', 'text', (c) => c.notNull())
          .addPrimaryKeyConstraint('devices_pk', ['app_id', 'device_id'])
          .execute();
        await db.schema
          .createIndex('devices_last_seen')
          .on('devices')
          .columns(['app_id', 'last_seen'])
          .execute();

        await withId(db.schema.createTable('device_events'))
          .addColumn('app_id', 'text', (c) => c.notNull().references('apps.id').onDelete('cascade'))
          .addColumn('device_id', 'text', (c) => c.notNull())
          .addColumn('action', 'text', (c) => c.notNull())
          .addColumn('version_name', 'text', (c) => c.notNull())
          .addColumn('old_version_name', 'text', (c) => c.notNull())
          .addColumn('platform', 'text', (c) => c.notNull())
          .addColumn('plugin_version', 'text', (c) => c.notNull())
          .addColumn('at', 'text', (c) => c.notNull())
          .execute();
        await db.schema
          .createIndex('device_events_device')
          .on('device_events')
          .columns(['app_id', 'device_id', 'id'])
          .execute();

        await withId(db.schema.createTable('tokens'))
          .addColumn('name', 'text', (c) => c.notNull())
          .addColumn('hash', 'text', (c) => c.notNull().unique())
          .addColumn('scope', 'text', (c) => c.notNull())
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addColumn('last_used_at', 'text')
          .execute();

        await withId(db.schema.createTable('audit_log'))
          .addColumn('at', 'text', (c) => c.notNull())
          .addColumn('actor', 'text', (c) => c.notNull())
          .addColumn('action', 'text', (c) => c.notNull())
          .addColumn('app_id', 'text')
          .addColumn('target', 'text')
          .addColumn('detail', 'text')
          .execute();
      },
    },
    '0002_signatures_and_token_expiry': {
      async up(db: Kysely<any>) {
        // RSA-SHA256 signature (base64) of the bundle's zip bytes, made by the publisher.
        await db.schema.alterTable('bundles').addColumn('signature', 'text').execute();
        await db.schema.alterTable('tokens').addColumn('expires_at', 'text').execute();
      },
    },
    '0004_bundle_files': {
      async up(db: Kysely<any>) {
        // Each file of a bundle, stored on its own for delta (manifest) updates.
        await db.schema
          .createTable('bundle_files')
          .addColumn('bundle_id', 'integer', (c) => c.notNull().references('bundles.id').onDelete('cascade'))
          .addColumn('path', 'text', (c) => c.notNull())
          .addColumn('file_hash', 'text', (c) => c.notNull())
          .addColumn('stored_sha256', 'text', (c) => c.notNull())
          .addColumn('stored_size', 'bigint', (c) => c.notNull())
          .addColumn('brotli', 'integer', (c) => c.notNull())
          .addPrimaryKeyConstraint('bundle_files_pk', ['bundle_id', 'path'])
          .execute();
        await db.schema
          .createIndex('bundle_files_stored')
          .on('bundle_files')
          .column('stored_sha256')
          .execute();
      },
    },
    '0005_release_control': {
      async up(db: Kysely<any>) {
        const channel = (column: string, type: 'text' | 'integer' | 'real', build = (c: any) => c) =>
          db.schema.alterTable('channels').addColumn(column, type, build).execute();
        // Staged rollout: `rollout_bundle_id` goes to `rollout_percent` % of devices, `bundle_id` to the rest.
        await channel('rollout_bundle_id', 'integer', (c) => c.references('bundles.id').onDelete('set null'));
        await channel('rollout_percent', 'integer', (c) => c.notNull().defaultTo(0));
        // Targeting: comma-separated platforms ('' = all), emulators, development and production builds.
        await channel('platforms', 'text', (c) => c.notNull().defaultTo(''));
        await channel('allow_emulator', 'integer', (c) => c.notNull().defaultTo(1));
        await channel('allow_dev', 'integer', (c) => c.notNull().defaultTo(1));
        await channel('allow_prod', 'integer', (c) => c.notNull().defaultTo(1));
        // Native-version policy: 'none' | 'major' | 'minor' | 'patch' | 'under_native'; downgrades.
        await channel('disable_auto_update', 'text', (c) => c.notNull().defaultTo('none'));
        await channel('allow_downgrade', 'integer', (c) => c.notNull().defaultTo(1));
        // Automatic safety: halt when this share of a release's devices fail, once enough have tried it.
        await channel('failure_threshold', 'real');
        await channel('failure_min_devices', 'integer', (c) => c.notNull().defaultTo(20));

        await db.schema
          .alterTable('device_events')
          .addColumn('channel', 'text', (c) => c.notNull().defaultTo(''))
          .execute();
        await db.schema
          .createIndex('device_events_release')
          .on('device_events')
          .columns(['app_id', 'version_name', 'action'])
          .execute();
        await db.schema
          .createIndex('device_events_time')
          .on('device_events')
          .columns(['app_id', 'at'])
          .execute();

        await withId(db.schema.createTable('webhooks'))
          .addColumn('app_id', 'text', (c) => c.references('apps.id').onDelete('cascade'))
          .addColumn('url', 'text', (c) => c.notNull())
          .addColumn('secret', 'text', (c) => c.notNull())
          .addColumn('events', 'text', (c) => c.notNull())
          .addColumn('created_at', 'text', (c) => c.notNull())
          .execute();
        await withId(db.schema.createTable('webhook_deliveries'))
          .addColumn('webhook_id', 'integer', (c) =>
            c.notNull().references('webhooks.id').onDelete('cascade'),
          )
          .addColumn('event', 'text', (c) => c.notNull())
          .addColumn('payload', 'text', (c) => c.notNull())
          .addColumn('status', 'text', (c) => c.notNull())
          .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('response_status', 'integer')
          .addColumn('last_error', 'text')
          .addColumn('next_attempt_at', 'text')
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addColumn('delivered_at', 'text')
          .execute();
        await db.schema
          .createIndex('webhook_deliveries_due')
          .on('webhook_deliveries')
          .columns(['status', 'next_attempt_at'])
          .execute();
      },
    },
    '0006_stats': {
      async up(db: Kysely<any>) {
        // The automatic halt reads one release's events on one channel since the release began
        // (with `at` in the index, SQLite prefers it to device_events_time); so do per-channel stats.
        await db.schema
          .createIndex('device_events_channel_release')
          .on('device_events')
          .columns(['app_id', 'channel', 'version_name', 'action', 'at'])
          .execute();
        // Devices on each version, per channel.
        await db.schema
          .createIndex('devices_channel_version')
          .on('devices')
          .columns(['app_id', 'channel', 'version_name'])
          .execute();
      },
    },
    '0007_webhooks': {
      async up(db: Kysely<any>) {
        // A webhook's delivery log, newest first, and the cascade when a webhook is deleted.
        await db.schema
          .createIndex('webhook_deliveries_webhook')
          .on('webhook_deliveries')
          .columns(['webhook_id', 'id'])
          .execute();
      },
    },
    '0009_device_holds': {
      async up(db: Kysely<any>) {
        // Versions a device failed to install (or to download, repeatedly): not offered to it again.
        await db.schema
          .createTable('device_holds')
          .addColumn('app_id', 'text', (c) => c.notNull().references('apps.id').onDelete('cascade'))
          .addColumn('device_id', 'text', (c) => c.notNull())
          .addColumn('version', 'text', (c) => c.notNull())
          .addColumn('install_failures', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('download_failures', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('last_action', 'text', (c) => c.notNull())
          .addColumn('first_at', 'text', (c) => c.notNull())
          .addColumn('last_at', 'text', (c) => c.notNull())
          .addPrimaryKeyConstraint('device_holds_pk', ['app_id', 'device_id', 'version'])
          .execute();
      },
    },
    '0010_users_sessions': {
      async up(db: Kysely<any>) {
        // Dashboard users (scrypt password hashes) and sessions (sha256 of the cookie's secret).
        await withId(db.schema.createTable('users'))
          .addColumn('username', 'text', (c) => c.notNull().unique())
          .addColumn('password_hash', 'text', (c) => c.notNull())
          .addColumn('scope', 'text', (c) => c.notNull())
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addColumn('password_changed_at', 'text', (c) => c.notNull())
          .execute();
        await withId(db.schema.createTable('sessions'))
          .addColumn('hash', 'text', (c) => c.notNull().unique())
          .addColumn('user_id', 'integer', (c) => c.references('users.id').onDelete('cascade'))
          .addColumn('token_id', 'integer', (c) => c.references('tokens.id').onDelete('cascade'))
          .addColumn('csrf_token', 'text', (c) => c.notNull())
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addColumn('expires_at', 'text', (c) => c.notNull())
          .execute();
        await db.schema.createIndex('sessions_user').on('sessions').column('user_id').execute();
        await db.schema.createIndex('sessions_token').on('sessions').column('token_id').execute();
        await db.schema.createIndex('sessions_expiry').on('sessions').column('expires_at').execute();
      },
    },
    '0011_native_builds': {
      async up(db: Kysely<any>) {
        // Native test builds (APK, AAB, IPA) handed to testers, per named native channel.
        await withId(db.schema.createTable('native_builds'))
          .addColumn('app_id', 'text', (c) => c.notNull().references('apps.id').onDelete('cascade'))
          .addColumn('platform', 'text', (c) => c.notNull())
          .addColumn('version', 'text', (c) => c.notNull())
          .addColumn('version_code', 'text')
          .addColumn('channel', 'text', (c) => c.notNull())
          .addColumn('sha256', 'text', (c) => c.notNull())
          .addColumn('size', 'bigint', (c) => c.notNull())
          .addColumn('file_kind', 'text', (c) => c.notNull())
          .addColumn('notes', 'text')
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addColumn('created_by', 'text')
          .addUniqueConstraint('native_builds_app_platform_version', ['app_id', 'platform', 'version'])
          .execute();
        // The latest build per channel and platform, and the blob clean-up.
        await db.schema
          .createIndex('native_builds_channel')
          .on('native_builds')
          .columns(['app_id', 'channel', 'platform', 'id'])
          .execute();
        await db.schema.createIndex('native_builds_sha256').on('native_builds').column('sha256').execute();
      },
    },
    '0012_settings': {
      async up(db: Kysely<any>) {
        // Server-wide values every instance must agree on (the generated download-link secret).
        await db.schema
          .createTable('settings')
          .addColumn('key', 'text', (c) => c.primaryKey())
          .addColumn('value', 'text', (c) => c.notNull())
          .addColumn('updated_at', 'text', (c) => c.notNull())
          .execute();
      },
    },
    '0013_auth_failures': {
      async up(db: Kysely<any>) {
        // Failed admin authentications per client address, shared by the instances behind a balancer.
        await db.schema
          .createTable('auth_failures')
          .addColumn('address', 'text', (c) => c.primaryKey())
          .addColumn('failures', 'integer', (c) => c.notNull())
          .addColumn('window_start', 'text', (c) => c.notNull())
          .addColumn('blocked_until', 'text')
          .execute();
      },
    },
    '0014_devices_assigned': {
      async up(db: Kysely<any>) {
        // The release cache reads an app's devices with a channel set on the server every couple of
        // seconds: a partial index holds just those rows, so the read no longer scans every device of
        // the app (about 0.3 s for a million devices, blocking the process on SQLite). Its condition is
        // the query's, word for word, which SQLite needs to use it.
        await db.schema
          .createIndex('devices_assigned')
          .on('devices')
          .column('app_id')
          .where(sql<boolean>`channel_override is not null or self_channel is not null`)
          .execute();
      },
    },
    '0015_one_name_per_concept': {
      async up(db: Kysely<any>) {
        // Columns named as the API and the code name them. A device's `default_channel` was the
        // channel it asks for (not the app's default channel); `self_channel` the channel an old
        // plugin assigned itself; a channel's `disable_auto_update` its native-version policy. Both
        // databases rename a column in its indexes too (devices_assigned's condition included).
        const renames: [string, string, string][] = [
          ['devices', 'default_channel', 'requested_channel'],
          ['devices', 'self_channel', 'self_assigned_channel'],
          ['channels', 'disable_auto_update', 'native_policy'],
        ];
        for (const [table, from, to] of renames) {
          await db.schema.alterTable(table).renameColumn(from, to).execute();
        }
      },
    },
    '0016_release_safety': {
      async up(db: Kysely<any>) {
        // What an app requires of its bundles: a signature by its signing key (Capawesome's publicKey),
        // encryption for its public key (Capgo's publicKey); the keys themselves, as PEM.
        const app = (column: string, type: 'text' | 'integer', build = (c: any) => c) =>
          db.schema.alterTable('apps').addColumn(column, type, build).execute();
        await app('require_signature', 'integer', (c) => c.notNull().defaultTo(0));
        await app('require_encryption', 'integer', (c) => c.notNull().defaultTo(0));
        await app('signing_public_key', 'text');
        await app('encryption_public_key', 'text');
      },
    },
    '0017_native_layers': {
      async up(db: Kysely<any>) {
        // The native compatibility gate (docs/native-compatibility.md): the native layer a bundle was
        // built against (canonical JSON and its sha256; null when unknown), each channel's rule for
        // binaries nobody registered, and the registered binaries with the native layer they have.
        await db.schema.alterTable('bundles').addColumn('native_layer', 'text').execute();
        await db.schema.alterTable('bundles').addColumn('native_fingerprint', 'text').execute();
        await db.schema
          .alterTable('channels')
          .addColumn('unregistered_binaries', 'text', (c) => c.notNull().defaultTo('serve'))
          .execute();
        await withId(db.schema.createTable('native_binaries'))
          .addColumn('app_id', 'text', (c) => c.notNull().references('apps.id').onDelete('cascade'))
          .addColumn('platform', 'text', (c) => c.notNull())
          .addColumn('version', 'text', (c) => c.notNull())
          // '' when registered without a build number: then it stands for every build of the version.
          .addColumn('version_code', 'text', (c) => c.notNull().defaultTo(''))
          .addColumn('native_layer', 'text', (c) => c.notNull())
          .addColumn('native_fingerprint', 'text', (c) => c.notNull())
          .addColumn('store_url', 'text')
          .addColumn('source', 'text', (c) => c.notNull())
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addColumn('created_by', 'text')
          .addUniqueConstraint('native_binaries_app_platform_version_code', [
            'app_id',
            'platform',
            'version',
            'version_code',
          ])
          .execute();
      },
    },
    '0018_retention': {
      async up(db: Kysely<any>) {
        // Retention (docs/release-control.md): how many of an app's newest bundles are kept after each
        // upload (null: all). Bundles a channel can still need are kept whatever the number.
        await db.schema.alterTable('apps').addColumn('keep_bundles', 'integer').execute();
      },
    },
    '0019_release_stamps': {
      async up(db: Kysely<any>) {
        // Each app's release stamp, bumped by triggers on every row the release cache loads (the app's
        // require_signature, its channels, bundles, devices with a server-side channel, holds and
        // registered binaries), so that the cache reloads only the apps whose stamp moved, and no
        // write path can forget to bump it. bundle_files has none: its rows are written in the same
        // transaction as their bundle (whose insert bumps) and deleted with it (whose delete bumps).
        // Device reports (the hottest writes) never set the channel columns, so they bump nothing.
        await db.schema
          .alterTable('apps')
          .addColumn('release_stamp', 'integer', (c) => c.notNull().defaultTo(0))
          .execute();
        for (const statement of dialect === 'postgres' ? postgresStampTriggers() : sqliteStampTriggers()) {
          await sql.raw(statement).execute(db);
        }
      },
    },
    '0020_totp_sessions': {
      async up(db: Kysely<any>) {
        // Two-factor sign-in (docs/security.md#two-factor-sign-in): a user's TOTP secret (base32; set
        // by an enrolment in progress, in force once totp_enabled_at is set) and the last time step a
        // code was accepted for (no code is accepted twice). Recovery codes are kept as sha256 hashes,
        // each usable once. Sessions remember when they were last used, and from where.
        const users = (column: string, type: 'text' | 'integer') =>
          db.schema.alterTable('users').addColumn(column, type).execute();
        await users('totp_secret', 'text');
        await users('totp_enabled_at', 'text');
        await users('totp_last_step', 'integer');
        await withId(db.schema.createTable('recovery_codes'))
          .addColumn('user_id', 'integer', (c) => c.notNull().references('users.id').onDelete('cascade'))
          .addColumn('hash', 'text', (c) => c.notNull().unique())
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addColumn('used_at', 'text')
          .execute();
        await db.schema.createIndex('recovery_codes_user').on('recovery_codes').column('user_id').execute();
        const sessions = (column: string) =>
          db.schema.alterTable('sessions').addColumn(column, 'text').execute();
        await sessions('last_used_at');
        await sessions('user_agent');
        await sessions('address');
      },
    },
    '0021_app_roles': {
      async up(db: Kysely<any>) {
        // Roles per app (docs/security.md#roles): a token or user is a server admin or not, holds a role
        // on all apps or none (all_apps_role), and roles on single apps (app_grants, one row per app,
        // deleted with the app, the token or the user). The single scope they replace becomes the same
        // rights: admin → server admin (and admin on all apps), publish and read → that role on all apps.
        for (const table of ['tokens', 'users']) {
          await db.schema
            .alterTable(table)
            .addColumn('server_admin', 'integer', (c) => c.notNull().defaultTo(0))
            .execute();
          await db.schema.alterTable(table).addColumn('all_apps_role', 'text').execute();
          await sql`UPDATE ${sql.table(table)} SET server_admin = CASE WHEN scope = 'admin' THEN 1 ELSE 0 END,
            all_apps_role = scope`.execute(db);
          await db.schema.alterTable(table).dropColumn('scope').execute();
        }
        await withId(db.schema.createTable('app_grants'))
          .addColumn('token_id', 'integer', (c) => c.references('tokens.id').onDelete('cascade'))
          .addColumn('user_id', 'integer', (c) => c.references('users.id').onDelete('cascade'))
          .addColumn('app_id', 'text', (c) => c.notNull().references('apps.id').onDelete('cascade'))
          .addColumn('role', 'text', (c) => c.notNull())
          .addCheckConstraint('app_grants_one_holder', sql`(token_id IS NULL) <> (user_id IS NULL)`)
          .addUniqueConstraint('app_grants_token_app', ['token_id', 'app_id'])
          .addUniqueConstraint('app_grants_user_app', ['user_id', 'app_id'])
          .execute();
        // The unique constraints index (token_id, app_id) and (user_id, app_id): a holder's lookup and
        // the cascades from tokens and users use them; the cascade from apps needs its own.
        await db.schema.createIndex('app_grants_app').on('app_grants').column('app_id').execute();
      },
    },
    '0022_protected_channels': {
      async up(db: Kysely<any>) {
        // Protected channels (docs/release-control.md#protected-channels): changing what one serves
        // needs the release role. An app with release_approval turns such a change by someone without
        // it into a release request that another principal with the role approves or rejects.
        await db.schema
          .alterTable('channels')
          .addColumn('protected', 'integer', (c) => c.notNull().defaultTo(0))
          .execute();
        await db.schema
          .alterTable('apps')
          .addColumn('release_approval', 'integer', (c) => c.notNull().defaultTo(0))
          .execute();
        await withId(db.schema.createTable('release_requests'))
          .addColumn('app_id', 'text', (c) => c.notNull().references('apps.id').onDelete('cascade'))
          // No foreign key: a request outlives its channel (for the record); its approval then fails.
          .addColumn('channel_id', 'integer', (c) => c.notNull())
          .addColumn('channel', 'text', (c) => c.notNull())
          // 'set' (make live) or 'rollout' (start, raise or complete: percent).
          .addColumn('action', 'text', (c) => c.notNull())
          .addColumn('version', 'text', (c) => c.notNull())
          .addColumn('percent', 'double precision')
          // The channel as the request saw it: an approval applies only to a channel still so.
          .addColumn('seen_bundle_id', 'integer')
          .addColumn('seen_rollout_bundle_id', 'integer')
          .addColumn('seen_rollout_percent', 'double precision', (c) => c.notNull())
          // 'pending', 'approved', 'rejected' or 'failed' (the channel changed, or the bundle went).
          .addColumn('status', 'text', (c) => c.notNull())
          .addColumn('requested_by', 'text', (c) => c.notNull())
          // Who asked, as 'token:ID' or 'user:ID': never the one who approves.
          .addColumn('requester', 'text', (c) => c.notNull())
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addColumn('expires_at', 'text', (c) => c.notNull())
          .addColumn('decided_by', 'text')
          .addColumn('decided_at', 'text')
          .addColumn('reason', 'text')
          .execute();
        await db.schema
          .createIndex('release_requests_app_status')
          .on('release_requests')
          .columns(['app_id', 'status', 'id'])
          .execute();
      },
    },
    '0023_oidc_users': {
      async up(db: Kysely<any>) {
        // Single sign-on (docs/sso.md): a user created by an OpenID Connect sign-in is bound to the
        // provider's issuer and its subject (the stable id of the person there), never to a name,
        // which may change or be reused. One user per identity; local users have neither.
        await db.schema.alterTable('users').addColumn('oidc_issuer', 'text').execute();
        await db.schema.alterTable('users').addColumn('oidc_subject', 'text').execute();
        await db.schema
          .createIndex('users_oidc_identity')
          .unique()
          .on('users')
          .columns(['oidc_issuer', 'oidc_subject'])
          .execute();
      },
    },
    '0024_release_insight': {
      async up(db: Kysely<any>) {
        // The evidence rule (docs/release-control.md#halt-on-evidence): a channel may halt a release
        // whose failure rate's 95% interval lies above its control group's, once each group has
        // `evidence_min_devices` devices.
        await db.schema
          .alterTable('channels')
          .addColumn('halt_on_evidence', 'integer', (c) => c.notNull().defaultTo(0))
          .execute();
        await db.schema
          .alterTable('channels')
          .addColumn('evidence_min_devices', 'integer', (c) => c.notNull().defaultTo(100))
          .execute();
        // Adoption over time reads a channel's installs and rollbacks (`set`, `update_fail`: which
        // bundle a device moved from and to) in a period, and a release's installs since it went
        // live: a partial index of just those rows, covering every column the queries read, so
        // neither touches the table. Its condition is written as the queries write it (db/insight.ts).
        await sql`create index device_events_moves on device_events
          (app_id, channel, at, action, version_name, old_version_name, device_id)
          where action in ('set', 'update_fail')`.execute(db);
        // ...and, per device, its first install or rollback in the period: the bundle a device first
        // seen in the period ran before it (one index seek per new device).
        await sql`create index device_events_device_moves on device_events
          (app_id, device_id, at, channel, action, version_name, old_version_name)
          where action in ('set', 'update_fail')`.execute(db);
        // Release health counts the distinct devices of one release on one channel since it began
        // (the threshold's count too): with device_id in the index, from the index alone, not a
        // table row per event. It replaces 0006's index of the same columns without it.
        await db.schema
          .createIndex('device_events_release_devices')
          .on('device_events')
          .columns(['app_id', 'channel', 'version_name', 'action', 'at', 'device_id'])
          .execute();
        await db.schema.dropIndex('device_events_channel_release').execute();
        // ...counted per hour as the events are written (db/devices.ts insertEvents), from the events
        // kept so far to begin with: adoption reads these few rows, never every install of the period.
        await db.schema
          .createTable('install_moves_hourly')
          .addColumn('app_id', 'text', (c) => c.notNull().references('apps.id').onDelete('cascade'))
          .addColumn('channel', 'text', (c) => c.notNull())
          .addColumn('hour', 'text', (c) => c.notNull())
          .addColumn('from_version', 'text', (c) => c.notNull())
          .addColumn('to_version', 'text', (c) => c.notNull())
          .addColumn('devices', 'integer', (c) => c.notNull())
          .addPrimaryKeyConstraint('install_moves_hourly_key', [
            'app_id',
            'channel',
            'hour',
            'from_version',
            'to_version',
          ])
          .execute();
        await sql`insert into install_moves_hourly (app_id, channel, hour, from_version, to_version, devices)
          select app_id, channel, hour, from_version, to_version, count(*) from (
            select app_id, channel, substr(at, 1, 13) as hour,
              case when action = 'set' then old_version_name else version_name end as from_version,
              case when action = 'set' then version_name else old_version_name end as to_version
            from device_events
            where action in ('set', 'update_fail') and channel != ''
              and old_version_name != version_name and old_version_name != ''
          ) as moves
          group by app_id, channel, hour, from_version, to_version`.execute(db);
        // ...and the devices first seen in the period (they ran no bundle before). first_seen is never
        // in a device upsert's SET list (nor is the channel here), so the index costs them nothing
        // but on insert.
        await db.schema
          .createIndex('devices_first_seen')
          .on('devices')
          .columns(['app_id', 'first_seen'])
          .execute();
      },
    },
    '0025_live_watch': {
      async up(db: Kysely<any>) {
        // Watching one device live (docs/devices.md#watching-a-device-live). live_watches: the devices
        // each instance holds streams for, renewed while they are open and expiring when an instance
        // dies, so every instance knows which devices' checks to pass on (and pays nothing for the
        // others). live_events: the bus between instances on SQLite (PostgreSQL uses NOTIFY), a few
        // seconds of events, pruned.
        await db.schema
          .createTable('live_watches')
          .addColumn('instance_id', 'text', (c) => c.notNull())
          .addColumn('app_id', 'text', (c) => c.notNull())
          .addColumn('device_id', 'text', (c) => c.notNull())
          .addColumn('expires_at', 'text', (c) => c.notNull())
          .addPrimaryKeyConstraint('live_watches_pk', ['instance_id', 'app_id', 'device_id'])
          .execute();
        await withId(db.schema.createTable('live_events'))
          .addColumn('origin', 'text', (c) => c.notNull())
          .addColumn('payload', 'text', (c) => c.notNull())
          .addColumn('at', 'text', (c) => c.notNull())
          .execute();
      },
    },
    '0026_rollout_schedules': {
      async up(db: Kysely<any>) {
        // Scheduled rollouts (docs/release-control.md#scheduled-rollouts): one schedule per channel,
        // the latest (a new one replaces it), its steps as JSON, the step it is at and when that step
        // started, and its state (running, completed, halted, cancelled) with why it ended.
        await withId(db.schema.createTable('rollout_schedules'))
          .addColumn('app_id', 'text', (c) => c.notNull().references('apps.id').onDelete('cascade'))
          .addColumn('channel_id', 'integer', (c) =>
            c.notNull().unique().references('channels.id').onDelete('cascade'),
          )
          .addColumn('channel_name', 'text', (c) => c.notNull())
          .addColumn('bundle_id', 'integer', (c) => c.references('bundles.id').onDelete('set null'))
          .addColumn('version', 'text', (c) => c.notNull())
          .addColumn('steps', 'text', (c) => c.notNull())
          .addColumn('current_step', 'integer', (c) => c.notNull())
          .addColumn('step_started_at', 'text', (c) => c.notNull())
          .addColumn('state', 'text', (c) => c.notNull())
          .addColumn('reason', 'text')
          .addColumn('actor', 'text')
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addColumn('updated_at', 'text', (c) => c.notNull())
          .execute();
        await db.schema
          .createIndex('rollout_schedules_state')
          .on('rollout_schedules')
          .column('state')
          .execute();
        // Background work only one instance may do at a time (the scheduler's ticks): a named lease,
        // its holder and until when it holds it, taken and renewed with a conditional update.
        await db.schema
          .createTable('leases')
          .addColumn('name', 'text', (c) => c.primaryKey())
          .addColumn('holder', 'text', (c) => c.notNull())
          .addColumn('expires_at', 'text', (c) => c.notNull())
          .execute();
      },
    },
    '0027_release_devices': {
      async up(db: Kysely<any>) {
        // Release health counted distinct devices among a release's events (seconds at 1M devices
        // and 10M events): each device's part in each bundle's releases on each channel, kept as the
        // events are written (db/devices.ts insertEvents), so a group is a count of rows. The actions,
        // as literals (this migration never changes): a device is in a bundle's group once it tried it
        // (download_complete, set, update_fail, app_launch_timeout) or failed it (any "_fail", and the
        // three download failures named otherwise).
        await db.schema
          .createTable('release_devices')
          .addColumn('app_id', 'text', (c) => c.notNull().references('apps.id').onDelete('cascade'))
          .addColumn('channel', 'text', (c) => c.notNull())
          .addColumn('version_name', 'text', (c) => c.notNull())
          .addColumn('device_id', 'text', (c) => c.notNull())
          .addColumn('first_at', 'text', (c) => c.notNull())
          .addColumn('last_at', 'text', (c) => c.notNull())
          .addColumn('first_failed_at', 'text')
          .addColumn('last_failed_at', 'text')
          .addColumn('last_tried_at', 'text')
          .addColumn('last_start_failed_at', 'text')
          .addColumn('first_install_at', 'text')
          .addColumn('last_install_at', 'text')
          .addPrimaryKeyConstraint('release_devices_key', ['app_id', 'channel', 'version_name', 'device_id'])
          .execute();
        const failed = sql`(action like '%\\_fail' escape '\\' or action in
          ('update_fail', 'app_launch_timeout', 'checksum_required', 'session_key_required', 'insufficient_disk_space'))`;
        const tried = sql`action in ('set', 'update_fail', 'app_launch_timeout', 'download_complete')`;
        await sql`insert into release_devices (app_id, channel, version_name, device_id, first_at, last_at,
            first_failed_at, last_failed_at, last_tried_at, last_start_failed_at, first_install_at, last_install_at)
          select app_id, channel, version_name, device_id, min(at), max(at),
            min(case when ${failed} then at end), max(case when ${failed} then at end),
            max(case when ${tried} then at end),
            max(case when action in ('update_fail', 'app_launch_timeout') then at end),
            min(case when action = 'set' then at end), max(case when action = 'set' then at end)
          from device_events
          where channel != '' and (${tried} or ${failed})
          group by app_id, channel, version_name, device_id`.execute(db);
        // A group since T: the rows whose last event is at or after T, read from an index alone (with
        // first_at, for a group over a window that also ends); the failures alike. A release's
        // installs per bucket: a range of the index on the first install per bucket. The devices that
        // came to a bundle before T (few: a window's T is the release's start): one more. Made after
        // the rows, not updated row by row.
        await db.schema
          .createIndex('release_devices_last')
          .on('release_devices')
          .columns(['app_id', 'channel', 'version_name', 'last_at', 'first_at', 'last_tried_at'])
          .execute();
        await db.schema
          .createIndex('release_devices_failed')
          .on('release_devices')
          .columns([
            'app_id',
            'channel',
            'version_name',
            'last_failed_at',
            'first_failed_at',
            'last_start_failed_at',
          ])
          .execute();
        await db.schema
          .createIndex('release_devices_installs')
          .on('release_devices')
          .columns(['app_id', 'channel', 'version_name', 'first_install_at', 'last_install_at'])
          .execute();
        await db.schema
          .createIndex('release_devices_first')
          .on('release_devices')
          .columns(['app_id', 'channel', 'version_name', 'first_at', 'last_at'])
          .execute();
        // Adoption's devices first seen in a period, on one channel, with the bundle they run, in
        // device order (db/insight.ts newDevices): from this index alone (0024's, on the first
        // sighting, left a table row per device to read). Channel, first sighting and bundle change
        // seldom: a device's upsert of its last sighting leaves it alone.
        await db.schema
          .createIndex('devices_channel_arrivals')
          .on('devices')
          .columns(['app_id', 'channel', 'device_id', 'first_seen', 'version_name'])
          .execute();
        await db.schema.dropIndex('devices_first_seen').execute();
      },
    },
    '0028_bundle_files_state': {
      async up(db: Kysely<any>) {
        // A bundle's files (delta updates) are prepared after its upload has answered
        // (services/bundle-files.ts): 'preparing' until they are all stored, then 'ready'; 'none' for
        // bundles that never have files (encrypted, hosted elsewhere); 'failed' when they cannot be
        // prepared (the bundle is then served whole). Bundles from before had theirs at upload.
        await db.schema
          .alterTable('bundles')
          .addColumn('files_state', 'text', (c) => c.notNull().defaultTo('ready'))
          .execute();
        await db.schema.alterTable('bundles').addColumn('files_error', 'text').execute();
        await db
          .updateTable('bundles')
          .set({ files_state: 'none' })
          .where((eb) => eb.or([eb('location', '=', 'external'), eb('session_key', 'is not', null)]))
          .execute();
        await db.schema
          .createIndex('bundles_files_preparing')
          .on('bundles')
          .column('files_state')
          .where(sql.ref('files_state'), '=', 'preparing')
          .execute();
      },
    },
    '0029_adoption_counts': {
      async up(db: Kysely<any>) {
        // Adoption (issue #19) read every device of a channel, twice: what each runs now, and the
        // bundle each device first seen in the period arrived with (an index seek into its events
        // each). Both become counts kept by triggers on devices, so that adoption reads a few rows
        // per bundle and hour whatever the fleet, and no write path can forget them.
        //
        // A device's first bundle: the version its row had when it first had one (set by the device
        // upsert, db/devices.ts). From the events kept so far to begin with, as adoption defined it
        // until now: the version its first install or rollback on its channel moved it from, else
        // the one it runs.
        await db.schema
          .alterTable('devices')
          .addColumn('first_version', 'text', (c) => c.notNull().defaultTo(''))
          .execute();
        await sql`update devices set first_version = coalesce((
            select case when e.action = 'set' then e.old_version_name else e.version_name end
            from device_events e
            where e.app_id = devices.app_id and e.device_id = devices.device_id
              and e.action in ('set', 'update_fail') and e.channel = devices.channel
              and e.old_version_name != e.version_name and e.old_version_name != ''
            order by e.at limit 1
          ), version_name)
          where version_name != ''`.execute(db);
        await db.schema
          .createTable('channel_bundle_devices')
          .addColumn('app_id', 'text', (c) => c.notNull().references('apps.id').onDelete('cascade'))
          .addColumn('channel', 'text', (c) => c.notNull())
          .addColumn('version_name', 'text', (c) => c.notNull())
          .addColumn('devices', 'integer', (c) => c.notNull())
          .addPrimaryKeyConstraint('channel_bundle_devices_key', ['app_id', 'channel', 'version_name'])
          .execute();
        await db.schema
          .createTable('channel_arrivals_hourly')
          .addColumn('app_id', 'text', (c) => c.notNull().references('apps.id').onDelete('cascade'))
          .addColumn('channel', 'text', (c) => c.notNull())
          .addColumn('hour', 'text', (c) => c.notNull())
          .addColumn('version_name', 'text', (c) => c.notNull())
          .addColumn('devices', 'integer', (c) => c.notNull())
          .addPrimaryKeyConstraint('channel_arrivals_hourly_key', [
            'app_id',
            'channel',
            'hour',
            'version_name',
          ])
          .execute();
        // Counted before the triggers exist: on PostgreSQL, the ALTER TABLE above holds devices
        // locked against every write until this migration commits, so no change falls in between.
        await sql`insert into channel_bundle_devices (app_id, channel, version_name, devices)
          select app_id, channel, version_name, count(*) from devices
          where ${sql.raw(COUNTED('devices'))}
          group by app_id, channel, version_name`.execute(db);
        await sql`insert into channel_arrivals_hourly (app_id, channel, hour, version_name, devices)
          select app_id, channel, substr(first_seen, 1, 13), ${sql.raw(FIRST_VERSION('devices'))}, count(*)
          from devices
          where ${sql.raw(COUNTED('devices'))}
          group by app_id, channel, substr(first_seen, 1, 13), ${sql.raw(FIRST_VERSION('devices'))}`.execute(
          db,
        );
        for (const statement of dialect === 'postgres' ? postgresCountTriggers() : sqliteCountTriggers()) {
          await sql.raw(statement).execute(db);
        }
        // Read only by the arrivals query this replaces (0027); one index less to write per device.
        await db.schema.dropIndex('devices_channel_arrivals').execute();
      },
    },
  };
}

/** Tables whose every row change is a change of its app's release (device_holds: of the columns read). */
const STAMPED_TABLES = [
  ['channels', ''],
  ['bundles', ''],
  ['native_binaries', ''],
  ['device_holds', ' OF app_id, device_id, version, install_failures, download_failures'],
] as const;

/** A device row is part of the release only while it has a server-side channel. */
const ASSIGNED = (row: 'new' | 'old') =>
  `${row}.channel_override IS NOT NULL OR ${row}.self_assigned_channel IS NOT NULL`;
const ASSIGNMENT_CHANGED =
  'old.channel_override IS DISTINCT FROM new.channel_override ' +
  'OR old.self_assigned_channel IS DISTINCT FROM new.self_assigned_channel OR old.app_id IS DISTINCT FROM new.app_id';

function sqliteStampTriggers(): string[] {
  const bump = (row: string) => `UPDATE apps SET release_stamp = release_stamp + 1 WHERE id = ${row}.app_id;`;
  // SQLite spells IS DISTINCT FROM as IS NOT.
  const changed = ASSIGNMENT_CHANGED.replace(/IS DISTINCT FROM/g, 'IS NOT');
  return [
    ...STAMPED_TABLES.flatMap(([table, columns]) => [
      `CREATE TRIGGER ${table}_stamp_insert AFTER INSERT ON ${table} BEGIN ${bump('new')} END`,
      `CREATE TRIGGER ${table}_stamp_update AFTER UPDATE${columns} ON ${table} BEGIN ${bump('old')} ` +
        `UPDATE apps SET release_stamp = release_stamp + 1 WHERE id = new.app_id AND new.app_id IS NOT old.app_id; END`,
      `CREATE TRIGGER ${table}_stamp_delete AFTER DELETE ON ${table} BEGIN ${bump('old')} END`,
    ]),
    `CREATE TRIGGER devices_stamp_insert AFTER INSERT ON devices WHEN ${ASSIGNED('new')} BEGIN ${bump('new')} END`,
    `CREATE TRIGGER devices_stamp_update AFTER UPDATE OF app_id, channel_override, self_assigned_channel ` +
      `ON devices WHEN ${changed} BEGIN ${bump('old')} ` +
      `UPDATE apps SET release_stamp = release_stamp + 1 WHERE id = new.app_id AND new.app_id IS NOT old.app_id; END`,
    `CREATE TRIGGER devices_stamp_delete AFTER DELETE ON devices WHEN ${ASSIGNED('old')} BEGIN ${bump('old')} END`,
    `CREATE TRIGGER apps_stamp_update AFTER UPDATE OF require_signature ON apps ` +
      `WHEN old.require_signature IS NOT new.require_signature ` +
      `BEGIN UPDATE apps SET release_stamp = release_stamp + 1 WHERE id = new.id; END`,
  ];
}

function postgresStampTriggers(): string[] {
  const trigger = (name: string, events: string, table: string, when = '') =>
    `CREATE TRIGGER ${name} AFTER ${events} ON ${table} FOR EACH ROW ${when ? `WHEN (${when}) ` : ''}` +
    'EXECUTE FUNCTION overair_bump_release_stamp()';
  return [
    `CREATE FUNCTION overair_bump_release_stamp() RETURNS trigger LANGUAGE plpgsql AS $$
     BEGIN
       IF TG_OP <> 'INSERT' THEN
         UPDATE apps SET release_stamp = release_stamp + 1 WHERE id = OLD.app_id;
       END IF;
       IF TG_OP = 'INSERT' THEN
         UPDATE apps SET release_stamp = release_stamp + 1 WHERE id = NEW.app_id;
       ELSIF TG_OP = 'UPDATE' AND NEW.app_id IS DISTINCT FROM OLD.app_id THEN
         UPDATE apps SET release_stamp = release_stamp + 1 WHERE id = NEW.app_id;
       END IF;
       RETURN NULL;
     END $$`,
    `CREATE FUNCTION overair_bump_own_release_stamp() RETURNS trigger LANGUAGE plpgsql AS $$
     BEGIN
       NEW.release_stamp := OLD.release_stamp + 1;
       RETURN NEW;
     END $$`,
    ...STAMPED_TABLES.map(([table, columns]) =>
      trigger(`${table}_stamp`, `INSERT OR DELETE OR UPDATE${columns}`, table),
    ),
    trigger('devices_stamp_insert', 'INSERT', 'devices', ASSIGNED('new')),
    trigger(
      'devices_stamp_update',
      'UPDATE OF app_id, channel_override, self_assigned_channel',
      'devices',
      ASSIGNMENT_CHANGED,
    ),
    trigger('devices_stamp_delete', 'DELETE', 'devices', ASSIGNED('old')),
    'CREATE TRIGGER apps_stamp_update BEFORE UPDATE OF require_signature ON apps FOR EACH ROW ' +
      'WHEN (OLD.require_signature IS DISTINCT FROM NEW.require_signature) ' +
      'EXECUTE FUNCTION overair_bump_own_release_stamp()',
  ];
}

/**
 * A device row counted by adoption's counts (migration 0029): on a channel and running a bundle, as
 * InsightRepo.runningNow counted devices before. Devices pinned before their first check (no
 * version yet) and those that never had an update check (no channel) are not.
 */
const COUNTED = (row: string) => `${row}.channel <> '' AND ${row}.version_name <> ''`;
/** The bundle a counted device arrived with: its first_version, else (a row written without one) the one it runs. */
const FIRST_VERSION = (row: string) =>
  `CASE WHEN ${row}.first_version <> '' THEN ${row}.first_version ELSE ${row}.version_name END`;

/**
 * SQLite: row-level triggers (one writer). A count goes up with an upsert and down with an update
 * of the row that must be there: a row that is not (its app being deleted, its hour pruned by the
 * retention) is left alone rather than made up as a negative count.
 */
function sqliteCountTriggers(): string[] {
  const running = (row: 'new' | 'old', sign: '+' | '-') =>
    sign === '+'
      ? `INSERT INTO channel_bundle_devices (app_id, channel, version_name, devices)
         SELECT new.app_id, new.channel, new.version_name, 1 WHERE ${COUNTED('new')}
         ON CONFLICT (app_id, channel, version_name) DO UPDATE SET devices = devices + 1;`
      : `UPDATE channel_bundle_devices SET devices = devices - 1
         WHERE app_id = ${row}.app_id AND channel = ${row}.channel AND version_name = ${row}.version_name
           AND ${COUNTED(row)};`;
  const arrivals = (row: 'new' | 'old', sign: '+' | '-') =>
    sign === '+'
      ? `INSERT INTO channel_arrivals_hourly (app_id, channel, hour, version_name, devices)
         SELECT new.app_id, new.channel, substr(new.first_seen, 1, 13), ${FIRST_VERSION('new')}, 1
         WHERE ${COUNTED('new')}
         ON CONFLICT (app_id, channel, hour, version_name) DO UPDATE SET devices = devices + 1;`
      : `UPDATE channel_arrivals_hourly SET devices = devices - 1
         WHERE app_id = ${row}.app_id AND channel = ${row}.channel AND hour = substr(${row}.first_seen, 1, 13)
           AND version_name = ${FIRST_VERSION(row)} AND ${COUNTED(row)};`;
  // A report that changes nothing counted (most do: the bundle is in every upsert's SET list) costs
  // the WHEN alone.
  const runningChanged =
    'old.app_id <> new.app_id OR old.channel <> new.channel OR old.version_name <> new.version_name';
  const arrivalChanged =
    `old.app_id <> new.app_id OR old.channel <> new.channel ` +
    `OR substr(old.first_seen, 1, 13) <> substr(new.first_seen, 1, 13) ` +
    `OR (${FIRST_VERSION('old')}) <> (${FIRST_VERSION('new')}) OR (${COUNTED('old')}) <> (${COUNTED('new')})`;
  return [
    `CREATE TRIGGER devices_count_insert AFTER INSERT ON devices WHEN ${COUNTED('new')}
     BEGIN ${running('new', '+')} ${arrivals('new', '+')} END`,
    `CREATE TRIGGER devices_count_running AFTER UPDATE OF app_id, channel, version_name ON devices
     WHEN ${runningChanged}
     BEGIN ${running('old', '-')} ${running('new', '+')} END`,
    `CREATE TRIGGER devices_count_arrival AFTER UPDATE OF app_id, channel, version_name, first_seen, first_version
     ON devices WHEN ${arrivalChanged}
     BEGIN ${arrivals('old', '-')} ${arrivals('new', '+')} END`,
    `CREATE TRIGGER devices_count_delete AFTER DELETE ON devices WHEN ${COUNTED('old')}
     BEGIN ${running('old', '-')} ${arrivals('old', '-')} END`,
  ];
}

/**
 * PostgreSQL: statement-level triggers with transition tables (one per event: a transition table
 * belongs to one). Several instances flush device batches at once, and a release moves a million
 * devices between the same two counts: each statement adds up its changes per count (a device whose
 * counted columns did not change adds +1 and -1 to the same count: nothing) and writes each count
 * once, in key order, so that two statements wait for each other rather than deadlock. Two
 * transactions of several statements each can still lock counts in crossing orders; PostgreSQL then
 * aborts one (deadlock_detected), which the device writer retries whole (services/device-activity.ts).
 * A decrease of a count that is not there (its app being deleted by a cascade, its hour pruned) is
 * skipped, never written as a negative count (and, for a deleted app, a foreign key violation).
 */
function postgresCountTriggers(): string[] {
  const changes = (rows: string) =>
    rows
      .split(',')
      .map((part) => {
        const [table, n] = part.split(':');
        return `SELECT app_id, channel, version_name, first_seen, first_version, ${n}::integer AS n FROM ${table}`;
      })
      .join(' UNION ALL ');
  const body = (rows: string) => `
    BEGIN
      WITH changes AS (${changes(rows)}), deltas AS (
        SELECT app_id, channel, version_name, sum(n) AS n FROM changes c WHERE ${COUNTED('c')}
        GROUP BY app_id, channel, version_name
      )
      INSERT INTO channel_bundle_devices AS k (app_id, channel, version_name, devices)
      SELECT d.app_id, d.channel, d.version_name, d.n FROM deltas d
      WHERE d.n > 0 OR (d.n < 0 AND EXISTS (SELECT 1 FROM channel_bundle_devices e
        WHERE e.app_id = d.app_id AND e.channel = d.channel AND e.version_name = d.version_name))
      ORDER BY d.app_id, d.channel, d.version_name
      ON CONFLICT (app_id, channel, version_name) DO UPDATE SET devices = k.devices + excluded.devices;
      WITH changes AS (${changes(rows)}), deltas AS (
        SELECT app_id, channel, substr(first_seen, 1, 13) AS hour, ${FIRST_VERSION('c')} AS version_name,
          sum(n) AS n
        FROM changes c WHERE ${COUNTED('c')}
        GROUP BY app_id, channel, substr(first_seen, 1, 13), ${FIRST_VERSION('c')}
      )
      INSERT INTO channel_arrivals_hourly AS k (app_id, channel, hour, version_name, devices)
      SELECT d.app_id, d.channel, d.hour, d.version_name, d.n FROM deltas d
      WHERE d.n > 0 OR (d.n < 0 AND EXISTS (SELECT 1 FROM channel_arrivals_hourly e
        WHERE e.app_id = d.app_id AND e.channel = d.channel AND e.hour = d.hour AND e.version_name = d.version_name))
      ORDER BY d.app_id, d.channel, d.hour, d.version_name
      ON CONFLICT (app_id, channel, hour, version_name) DO UPDATE SET devices = k.devices + excluded.devices;
      RETURN NULL;
    END`;
  const fn = (name: string, rows: string) =>
    `CREATE FUNCTION ${name}() RETURNS trigger LANGUAGE plpgsql AS $$${body(rows)}$$`;
  const trigger = (name: string, event: string, referencing: string, fnName: string) =>
    `CREATE TRIGGER ${name} AFTER ${event} ON devices REFERENCING ${referencing} ` +
    `FOR EACH STATEMENT EXECUTE FUNCTION ${fnName}()`;
  return [
    fn('overair_count_inserted_devices', 'new_rows:1'),
    fn('overair_count_updated_devices', 'new_rows:1,old_rows:-1'),
    fn('overair_count_deleted_devices', 'old_rows:-1'),
    trigger('devices_count_insert', 'INSERT', 'NEW TABLE AS new_rows', 'overair_count_inserted_devices'),
    trigger(
      'devices_count_update',
      'UPDATE',
      'OLD TABLE AS old_rows NEW TABLE AS new_rows',
      'overair_count_updated_devices',
    ),
    trigger('devices_count_delete', 'DELETE', 'OLD TABLE AS old_rows', 'overair_count_deleted_devices'),
  ];
}

export async function migrateToLatest(db: Kysely<any>, dialect: DialectName): Promise<void> {
  await migrateTo(db, dialect);
}

/** Runs the migrations up to `name` (every one without it): tests check a migration on old data. */
export async function migrateTo(db: Kysely<any>, dialect: DialectName, name?: string): Promise<void> {
  const provider: MigrationProvider = { getMigrations: async () => migrations(dialect) };
  const migrator = new Migrator({ db, provider });
  const { error, results } = await (name === undefined
    ? migrator.migrateToLatest()
    : migrator.migrateTo(name));
  const failed = results?.find((result) => result.status === 'Error');
  if (error || failed) {
    throw new Error(`database migration ${failed?.migrationName ?? ''} failed: ${String(error)}`);
  }
}
