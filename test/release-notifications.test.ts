/**
 * Release changes between instances over PostgreSQL LISTEN/NOTIFY (src/db/release-notifications.ts),
 * on a PostgreSQL server of this file's own, since one test restarts it. PostgreSQL only.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { sql } from 'kysely';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openPostgres, type DatabaseHandle } from '../src/db/connect.js';
import {
  LISTENER_NAME,
  ReleaseNotifications,
  type ReleaseCacheTarget,
} from '../src/db/release-notifications.js';
import { TEST_BACKEND } from './helpers/backends.js';
import { startPostgres, type PostgresServer } from './helpers/postgres.js';
import { waitFor } from './helpers/wait.js';

/** A release cache that records what it is told. */
function recordingCache(): ReleaseCacheTarget & { dropped: string[]; clears: number } {
  return {
    dropped: [],
    clears: 0,
    drop(appId) {
      this.dropped.push(appId);
    },
    clear() {
      this.clears++;
    },
  };
}

const run = promisify(execFile);

describe.skipIf(TEST_BACKEND !== 'postgres')('release notifications between instances', () => {
  const log = pino({ level: 'silent' });
  let postgres: PostgresServer;
  let url: string;
  const handles: DatabaseHandle[] = [];
  const listeners: ReleaseNotifications[] = [];
  const cacheA = recordingCache();
  const cacheB = recordingCache();
  let a: ReleaseNotifications;
  let b: ReleaseNotifications;

  /** One instance: its own pool, its own listening connection. */
  const instance = async (cache: ReleaseCacheTarget, heartbeatMs?: number) => {
    const handle = await openPostgres(url);
    handles.push(handle);
    const notifications = new ReleaseNotifications(url, handle.db, cache, log, {
      retryDelaysMs: [50, 200],
      heartbeatMs,
    });
    listeners.push(notifications);
    await notifications.start();
    return notifications;
  };

  beforeAll(async () => {
    postgres = await startPostgres();
    url = postgres.urlOf(await postgres.createDatabase());
    a = await instance(cacheA);
    b = await instance(cacheB);
  });
  afterAll(async () => {
    for (const notifications of listeners) await notifications.close();
    for (const handle of handles) await handle.close();
    await postgres?.destroy();
  });

  it('drops a changed app on the other instance, once per burst, and not on the one that changed it', async () => {
    expect(a.listening && b.listening).toBe(true);
    a.publish('com.example.one');
    a.publish('com.example.one');
    a.publish('com.example.two');
    // Sent in this order: once the second app has arrived, any repeat of the first would have too.
    await waitFor(() => cacheB.dropped.includes('com.example.two'));
    expect(cacheB.dropped).toEqual(['com.example.one', 'com.example.two']);
    expect(cacheA.dropped).toEqual([]);
    expect(cacheB.clears).toBe(0);
  });

  it('listens again after the database restarts, dropping everything it may have missed meanwhile', async () => {
    await postgres.stop();
    await waitFor(() => !a.listening && !b.listening, { timeoutMs: 10_000 });
    // While the database is down, publishing fails quietly: the others fall back to their TTL.
    a.publish('com.example.lost');
    await postgres.start();
    await waitFor(() => a.listening && b.listening, { timeoutMs: 20_000 });
    // Notices sent while B was not listening are gone: it started from the database again.
    expect(cacheB.clears).toBeGreaterThanOrEqual(1);
    // The publisher's pool may hold connections the restart broke: publish until one gets through.
    await waitFor(
      () => {
        a.publish('com.example.after');
        return cacheB.dropped.includes('com.example.after');
      },
      { timeoutMs: 15_000, intervalMs: 200 },
    );
  });

  it('stops listening on close and publishes nothing more', async () => {
    const cache = recordingCache();
    const closing = await instance(cache);
    await closing.close();
    expect(closing.listening).toBe(false);
    closing.publish('com.example.closed');
    a.publish('com.example.marker');
    await waitFor(() => cacheB.dropped.includes('com.example.marker'));
    expect(cacheB.dropped).not.toContain('com.example.closed');
    expect(cache.dropped).toEqual([]);
  });

  it('replaces a listening connection that stopped answering without being closed', async () => {
    // The other listeners out of the way: the one left is the connection to freeze.
    await a.close();
    await b.close();
    const cache = recordingCache();
    const watched = await instance(cache, 100);
    const listeners = await sql<{ pid: number }>`select pid from pg_stat_activity
      where application_name = ${LISTENER_NAME} and datname = current_database()`.execute(handles[0]!.db);
    expect(listeners.rows).toHaveLength(1);
    const frozen = String(listeners.rows[0]!.pid);
    const publisher = await instance(recordingCache());
    // As after a failover or a NAT dropping the connection: no error, no close, just no answer.
    await run('kill', ['-STOP', frozen]);
    try {
      await waitFor(() => !watched.listening, { timeoutMs: 15_000 });
      await waitFor(() => watched.listening, { timeoutMs: 15_000 });
    } finally {
      await run('kill', ['-CONT', frozen]);
    }
    await waitFor(
      () => {
        publisher.publish('com.example.revived');
        return cache.dropped.includes('com.example.revived');
      },
      { timeoutMs: 10_000, intervalMs: 200 },
    );
  });
});
