import path from 'node:path';
import { defineConfig } from 'vite';

const here = import.meta.dirname;

/**
 * The dashboard: `vite build --config web/vite.config.ts` writes it to dist/web, which the server
 * serves at `/`. For development, `npx vite --config web/vite.config.ts` serves it with hot reload and
 * forwards the API to a server on port 3000 (`npm start`).
 */
export default defineConfig({
  root: here,
  base: '/',
  publicDir: path.join(here, 'public'),
  // Vite compiles TSX itself (the automatic runtime of React 17+): no React plugin needed.
  oxc: { jsx: { runtime: 'automatic' } },
  build: {
    outDir: path.resolve(here, '../dist/web'),
    emptyOutDir: true,
    target: 'es2022',
    reportCompressedSize: false,
  },
  server: {
    proxy: Object.fromEntries(
      ['/api', '/download', '/healthz'].map((prefix) => [prefix, 'http://localhost:3000']),
    ),
  },
  clearScreen: false,
});
