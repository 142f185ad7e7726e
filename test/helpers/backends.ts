import { inject } from 'vitest';
import pg from 'pg';
import { createBucket, deleteBucket } from './radosgw.js';

/**
 * Which backend this vitest project runs the suite on (see vitest.config.ts): the embedded
 * defaults, or the scale-out parts, PostgreSQL with bundles in S3 (named for its database).
 */
export const TEST_BACKEND: 'sqlite' | 'postgres' =
  process.env.OVERAIR_TEST_BACKEND === 'postgres' ? 'postgres' : 'sqlite';

let counter = 0;

/** Runs one statement on the suite's PostgreSQL server's maintenance database. */
async function onPostgresServer(statement: string): Promise<void> {
  const client = new pg.Client({
    connectionString: `postgres://postgres@127.0.0.1:${inject('postgres').port}/postgres`,
  });
  await client.connect();
  try {
    await client.query(statement);
  } finally {
    await client.end();
  }
}

/** The settings that put a test server's bundles in `bucket` on the suite's radosgw. */
export function s3Env(bucket: string, prefix?: string): Record<string, string> {
  const s3 = inject('s3');
  return {
    OVERAIR_STORAGE: 's3',
    OVERAIR_S3_BUCKET: bucket,
    OVERAIR_S3_ENDPOINT: s3.endpoint,
    OVERAIR_S3_REGION: s3.region,
    OVERAIR_S3_ACCESS_KEY: s3.accessKey,
    OVERAIR_S3_SECRET_KEY: s3.secretKey,
    ...(prefix !== undefined && { OVERAIR_S3_PREFIX: prefix }),
  };
}

/**
 * The settings that put one test server on this project's backend, and what removes it again: on
 * the scale-out backend a fresh PostgreSQL database and a fresh bucket per server, so tests never
 * see each other's rows or bytes.
 */
export async function backendForServer(): Promise<{
  env: Record<string, string>;
  cleanup(): Promise<void>;
}> {
  if (TEST_BACKEND === 'sqlite') return { env: {}, cleanup: async () => {} };
  const name = `overair_${process.pid}_${Date.now().toString(36)}_${counter++}`;
  const [bucket] = await Promise.all([
    createBucket(inject('s3')),
    onPostgresServer(`CREATE DATABASE ${name}`),
  ]);
  return {
    env: {
      OVERAIR_DATABASE_URL: `postgres://postgres@127.0.0.1:${inject('postgres').port}/${name}`,
      ...s3Env(bucket),
    },
    cleanup: async () => {
      await Promise.all([
        onPostgresServer(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`),
        deleteBucket(inject('s3'), bucket),
      ]);
    },
  };
}
