import { defineConfig } from 'vitest/config';

/**
 * The test tiers (CONTRIBUTING.md):
 * - `unit`: the pure specs beside the code in src/, with no server and no global setup
 *   (`npm run test:unit`, seconds);
 * - `sqlite` and `postgres-s3`: the integration tests in test/, twice, on the embedded defaults
 *   (SQLite, local disk) and on the scale-out parts (PostgreSQL and S3), against real servers that
 *   test/global-setup.ts starts for the projects that need them. The blob-store conformance suite
 *   tests both stores itself, so it runs in one of them only;
 * - `faults-sqlite` and `faults-postgres-s3`: the fault suite (test/faults: outages, kill -9,
 *   hostile input) on each backend (`npm run test:faults`).
 */
const POSTGRES_S3 = { OVERAIR_TEST_BACKEND: 'postgres' };
const GLOBAL_SETUP = ['test/global-setup.ts'];
const FAULTS = 'test/faults/**';
const CONFORMANCE = 'test/blob-store.conformance.test.ts';

export default defineConfig({
  test: {
    // Two files at once even on two cores (vitest's default there is one): most integration tests
    // wait on their servers (PostgreSQL, radosgw, Chromium, timers), so two overlap well. Measured
    // on the CI machine's kind: the whole suite in 448 s instead of 731 s, everything passing.
    maxWorkers: 2,
    testTimeout: 30_000,
    hookTimeout: 60_000,
    projects: [
      {
        extends: true,
        test: { name: 'unit', include: ['src/**/*.spec.ts'] },
      },
      {
        extends: true,
        test: {
          name: 'sqlite',
          include: ['test/**/*.test.ts'],
          exclude: [FAULTS],
          globalSetup: GLOBAL_SETUP,
        },
      },
      {
        extends: true,
        test: {
          // PostgreSQL, and bundles in S3 (radosgw).
          name: 'postgres-s3',
          include: ['test/**/*.test.ts'],
          exclude: [FAULTS, CONFORMANCE],
          env: POSTGRES_S3,
          globalSetup: GLOBAL_SETUP,
        },
      },
      {
        extends: true,
        test: { name: 'faults-sqlite', include: [FAULTS], globalSetup: GLOBAL_SETUP },
      },
      {
        extends: true,
        test: {
          name: 'faults-postgres-s3',
          include: [FAULTS],
          env: POSTGRES_S3,
          globalSetup: GLOBAL_SETUP,
        },
      },
    ],
  },
});
