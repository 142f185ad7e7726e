import { defineConfig } from 'vitest/config';

/**
 * The suite runs twice: on the embedded defaults (SQLite, local disk) and on the scale-out parts
 * (PostgreSQL and S3, real servers that test/global-setup.ts starts). Unit specs of pure code
 * run once.
 */
export default defineConfig({
  test: {
    testTimeout: 30_000,
    hookTimeout: 60_000,
    globalSetup: ['test/global-setup.ts'],
    projects: [
      {
        extends: true,
        test: { name: 'sqlite', include: ['src/**/*.spec.ts', 'test/**/*.test.ts'] },
      },
      {
        extends: true,
        test: {
          // PostgreSQL, and bundles in S3 (radosgw).
          name: 'postgres-s3',
          include: ['test/**/*.test.ts'],
          env: { OVERAIR_TEST_BACKEND: 'postgres' },
        },
      },
    ],
  },
});
