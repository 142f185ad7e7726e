import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { build } from 'vite';

const ROOT = path.resolve(import.meta.dirname, '../..');

/**
 * Builds the dashboard from this source into a fresh temporary folder (about a second), and returns
 * it: a stale dist/web could hide a change. As it ships: vitest sets NODE_ENV=test, which would give
 * React's development build, so the build runs with NODE_ENV=production.
 */
export async function buildDashboard(): Promise<string> {
  const webDir = await fs.mkdtemp(path.join(os.tmpdir(), 'overair-web-'));
  const nodeEnv = process.env.NODE_ENV;
  process.env.NODE_ENV = 'production';
  try {
    await build({
      configFile: path.join(ROOT, 'web/vite.config.ts'),
      mode: 'production',
      build: { outDir: webDir, emptyOutDir: true },
      logLevel: 'warn',
    });
  } finally {
    process.env.NODE_ENV = nodeEnv;
  }
  return webDir;
}
