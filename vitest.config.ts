import { defineConfig } from 'vitest/config';

/**
 * The suite runs twice: on the embedded defaults (SQLite, local disk) and on the scale-out parts
 * (PostgreSQL and S3, real servers that test/global-setup.ts starts). Unit specs of pure code
 * run once. The fault suite (test/faults: outages, kill -9, hostile input) is a project of its own
 * on each backend, so it can be run alone: `npm run test:faults`.
 */
const POSTGRES_S3 = { OVERAIR_TEST_BACKEND: 'postgres' };

export default defineConfig({
  test: {
    testTimeout: 30_000,
    hookTimeout: 60_000,
    globalSetup: ['test/global-setup.ts'],
    projects: [
      {
        extends: true,
        test: {
          name: 'sqlite',
          include: ['src/**/*.spec.ts', 'test/**/*.test.ts'],
          exclude: ['test/faults/**'],
        },
      },
      {
        extends: true,
        test: {
          // PostgreSQL, and bundles in S3 (radosgw).
          name: 'postgres-s3',
          include: ['test/**/*.test.ts'],
          exclude: ['test/faults/**'],
          env: POSTGRES_S3,
        },
      },
      {
        extends: true,
        test: { name: 'faults-sqlite', include: ['test/faults/**/*.test.ts'] },
      },
      {
        extends: true,
        test: { name: 'faults-postgres-s3', include: ['test/faults/**/*.test.ts'], env: POSTGRES_S3 },
      },
    ],
  },
});
