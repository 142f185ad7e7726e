/**
 * In-process micro-benchmark (not part of `npm run bench`; a few seconds on one core): the CPU one
 * refresh of the release cache costs an instance serving many apps, on SQLite. Each app has two
 * channels, a live bundle with files, devices with a channel set on the server, a hold and a
 * registered binary. Prints the median of several runs of: reloading every app (what each refresh
 * did before release stamps), a refresh when nothing changed (a read of the stamps), and a refresh
 * when one app changed (the stamps, then that app's load).
 *
 * `npx tsx bench/release-refresh.ts`; knobs: BENCH_APPS (1000), BENCH_REFRESH_RUNS (9).
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { openSqlite } from '../src/db/connect.js';
import { Repos } from '../src/db/index.js';
import { ReleaseCache } from '../src/services/release-cache.js';

const APPS = Number(process.env.BENCH_APPS ?? 1000);
const RUNS = Number(process.env.BENCH_REFRESH_RUNS ?? 9);
const FILES = 20;

/** The cache's inner steps, reached past `private` for the measure. */
interface CacheInside {
  loadMany(appIds: string[]): Promise<unknown>;
  refreshDue(): Promise<void>;
  due: Map<string, unknown>;
  entries: Map<string, { refreshing: boolean }>;
}

const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'overair-refresh-'));
const handle = await openSqlite(path.join(dir, 'overair.db'));
try {
  const { db } = handle;
  const at = new Date().toISOString();
  const ids = Array.from({ length: APPS }, (_, index) => `com.example.app${index}`);
  for (const id of ids) {
    await db.transaction().execute(async (trx) => {
      await trx.insertInto('apps').values({ id, name: id, created_at: at }).execute();
      const bundle = await trx
        .insertInto('bundles')
        .values({
          app_id: id,
          version: '1.0.0',
          sha256: 'a'.repeat(64),
          location: 'blob',
          checksum: 'c',
          created_at: at,
        })
        .returning('id')
        .executeTakeFirstOrThrow();
      await trx
        .insertInto('bundle_files')
        .values(
          Array.from({ length: FILES }, (_, file) => ({
            bundle_id: bundle.id,
            path: `www/file${file}.js`,
            file_hash: 'h'.repeat(64),
            stored_sha256: 's'.repeat(64),
            stored_size: 1000,
            brotli: 1,
          })),
        )
        .execute();
      for (const name of ['production', 'beta']) {
        await trx
          .insertInto('channels')
          .values({
            app_id: id,
            name,
            bundle_id: bundle.id,
            is_default: name === 'production' ? 1 : 0,
            allow_self_assign: 0,
            created_at: at,
            updated_at: at,
          })
          .execute();
      }
      for (const device of ['d1', 'd2']) {
        await trx
          .insertInto('devices')
          .values({
            app_id: id,
            device_id: device,
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
            channel_override: 'beta',
            first_seen: at,
            last_seen: at,
          })
          .execute();
      }
      await trx
        .insertInto('device_holds')
        .values({
          app_id: id,
          device_id: 'd1',
          version: '0.9.0',
          install_failures: 1,
          last_action: 'update_fail',
          first_at: at,
          last_at: at,
        })
        .execute();
      await trx
        .insertInto('native_binaries')
        .values({
          app_id: id,
          platform: 'android',
          version: '1.0',
          version_code: '',
          native_layer: '{"capacitor":{"core":"6.1.0","android":"6.1.0","ios":null},"packages":[]}',
          native_fingerprint: 'f',
          source: 'cli',
          created_at: at,
        })
        .execute();
    });
  }

  const cache = new ReleaseCache(new Repos(db), 3_600_000);
  const inside = cache as unknown as CacheInside;
  for (const id of ids) await cache.get(id);

  /** The median CPU time of `run` (after `prepare`, not counted). */
  const cpuMs = async (run: () => Promise<unknown>, prepare?: () => Promise<unknown>): Promise<number> => {
    const samples: number[] = [];
    for (let index = 0; index < RUNS; index++) {
      await prepare?.();
      const start = process.cpuUsage();
      await run();
      const used = process.cpuUsage(start);
      samples.push((used.user + used.system) / 1000);
    }
    samples.sort((a, b) => a - b);
    return samples[Math.floor(samples.length / 2)]!;
  };
  /** One refresh of every app, as if all came due at once. */
  const refreshAll = () => {
    for (const id of ids) {
      const entry = inside.entries.get(id)!;
      entry.refreshing = true;
      inside.due.set(id, entry);
    }
    return inside.refreshDue();
  };

  let changed = 0;
  const rows = [
    ['reload of every app (every refresh, before stamps)', await cpuMs(() => inside.loadMany(ids))],
    ['refresh, nothing changed', await cpuMs(refreshAll)],
    [
      'refresh, one app changed',
      await cpuMs(refreshAll, () =>
        db
          .updateTable('channels')
          .set({ updated_at: new Date().toISOString() })
          .where('app_id', '=', ids[changed++ % ids.length]!)
          .execute(),
      ),
    ],
  ] as const;
  console.log(`release cache refresh, ${APPS} apps on SQLite, CPU ms (median of ${RUNS}):`);
  for (const [name, ms] of rows) console.log(`  ${name.padEnd(52)} ${ms.toFixed(1).padStart(7)}`);
} finally {
  await handle.close();
  await fs.rm(dir, { recursive: true, force: true });
}
