import type { TestProject } from 'vitest/node';
import { startPostgres, type PostgresServer } from './helpers/postgres.js';
import { startRadosgw, type Radosgw, type S3Info } from './helpers/radosgw.js';

/**
 * The real servers the suite runs against, started once per test run (both vitest projects run
 * this file in the one main process, so a singleton on globalThis shares them) and stopped when the
 * last project is done. Tests reach them through `inject()`; see test/helpers/backends.ts.
 */
interface Backends {
  postgres: PostgresServer;
  /** A one-node Ceph S3 gateway (~10 s to start), for the S3 tests of both projects. */
  radosgw: Radosgw;
}

declare module 'vitest' {
  export interface ProvidedContext {
    /** The suite's PostgreSQL server: tests create a fresh database on it per server. */
    postgres: { port: number };
    /** The suite's S3 gateway: tests create a fresh bucket on it (test/helpers/radosgw.ts). */
    s3: S3Info;
  }
}

const shared = globalThis as typeof globalThis & {
  overairBackends?: { started: Promise<Backends>; users: number };
};

// The AWS SDK warns once in every process (here, in each test worker) that its releases from 2027
// need Node 22; the versions pinned in package.json run on Node 20, so it is noise in test output.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

async function startBackends(): Promise<Backends> {
  // Side by side: radosgw takes ~10 s, mostly waiting, and PostgreSQL need not wait for it.
  const [postgres, radosgw] = await Promise.allSettled([startPostgres(), startRadosgw()]);
  if (postgres.status === 'rejected' || radosgw.status === 'rejected') {
    // Whichever started is stopped again: nothing outlives a failed start.
    if (postgres.status === 'fulfilled') await postgres.value.destroy();
    if (radosgw.status === 'fulfilled') await radosgw.value.stop();
    throw postgres.status === 'rejected' ? postgres.reason : (radosgw as PromiseRejectedResult).reason;
  }
  return { postgres: postgres.value, radosgw: radosgw.value };
}

async function stopBackends(backends: Backends): Promise<void> {
  await Promise.all([backends.postgres.destroy(), backends.radosgw.stop()]);
}

export default async function setup(project: TestProject) {
  shared.overairBackends ??= { started: startBackends(), users: 0 };
  shared.overairBackends.users++;
  const backends = await shared.overairBackends.started;
  project.provide('postgres', { port: backends.postgres.port });
  const { endpoint, accessKey, secretKey, region } = backends.radosgw;
  project.provide('s3', { endpoint, accessKey, secretKey, region });
  return async () => {
    const entry = shared.overairBackends;
    if (!entry || --entry.users > 0) return;
    shared.overairBackends = undefined;
    await stopBackends(await entry.started);
  };
}
