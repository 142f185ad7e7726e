import type { TestProject } from 'vitest/node';
import { startPostgres, type PostgresServer } from './helpers/postgres.js';
import { startRadosgw, type Radosgw, type S3Info } from './helpers/radosgw.js';

/**
 * The real servers the integration projects run against, each started once per test run, and only
 * for the projects that need it: every integration project needs the S3 gateway (the S3 store's own
 * tests run on every backend), only the PostgreSQL projects need the PostgreSQL server. Projects run
 * this file in the one main process, so a singleton per server on globalThis shares them; each is
 * stopped when the last project that uses it is done. Tests reach them through `inject()`; see
 * test/helpers/backends.ts. The `unit` project has no global setup: it starts nothing.
 */

declare module 'vitest' {
  export interface ProvidedContext {
    /** The suite's PostgreSQL server: tests create a fresh database on it per server. */
    postgres: { port: number };
    /** The suite's S3 gateway: tests create a fresh bucket on it (test/helpers/radosgw.ts). */
    s3: S3Info;
  }
}

interface Shared<T> {
  started: Promise<T>;
  users: number;
}

const shared = globalThis as typeof globalThis & {
  overairPostgres?: Shared<PostgresServer>;
  overairRadosgw?: Shared<Radosgw>;
};

// The AWS SDK warns once in every process (here, in each test worker) that its releases from 2027
// need Node 22; the versions pinned in package.json run on Node 20, so it is noise in test output.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

/** Takes a share of a server, starting it for the first user; the returned function gives it back. */
async function use<T>(
  key: 'overairPostgres' | 'overairRadosgw',
  start: () => Promise<T>,
  stop: (server: T) => Promise<void>,
): Promise<{ server: T; release: () => Promise<void> }> {
  const entry = (shared[key] ??= { started: start(), users: 0 } as never) as Shared<T>;
  entry.users++;
  let server: T;
  try {
    server = await entry.started;
  } catch (error) {
    entry.users--;
    if (shared[key] === (entry as never)) shared[key] = undefined;
    throw error;
  }
  return {
    server,
    async release() {
      if (--entry.users > 0) return;
      if (shared[key] === (entry as never)) shared[key] = undefined;
      await stop(server);
    },
  };
}

export default async function setup(project: TestProject) {
  const needsPostgres = project.name.includes('postgres');
  // Side by side: radosgw takes ~10 s, mostly waiting, and PostgreSQL need not wait for it.
  const [radosgw, postgres] = await Promise.allSettled([
    use('overairRadosgw', startRadosgw, (server) => server.stop()),
    needsPostgres
      ? use('overairPostgres', startPostgres, (server) => server.destroy())
      : Promise.resolve(null),
  ]);
  if (radosgw.status === 'rejected' || postgres.status === 'rejected') {
    // Whichever started is given back: nothing outlives a failed start.
    if (radosgw.status === 'fulfilled') await radosgw.value.release();
    if (postgres.status === 'fulfilled') await postgres.value?.release();
    throw radosgw.status === 'rejected' ? radosgw.reason : (postgres as PromiseRejectedResult).reason;
  }
  const { endpoint, accessKey, secretKey, region } = radosgw.value.server;
  project.provide('s3', { endpoint, accessKey, secretKey, region });
  if (postgres.value) project.provide('postgres', { port: postgres.value.server.port });
  return async () => {
    await Promise.all([radosgw.value.release(), postgres.value?.release()]);
  };
}
