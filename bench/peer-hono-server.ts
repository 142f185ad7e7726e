/**
 * The peer baseline of the update-check benches: the design of the blog post Overair started from,
 * a Hono app on @hono/node-server whose check reads the body with `c.req.json()`, looks the release
 * up in an in-memory manifest per app and channel, and answers with `c.json()`. No validation, no
 * device records, no rollouts: what a minimal update server does. It answers the plugin's info
 * object on the same path as Overair, so both get the same requests. Port 0; the URL goes back over
 * IPC, its figures on request (bench/server-metrics.ts).
 *
 * The manifest comes from the environment: PEER_APP_ID, PEER_VERSION, PEER_URL, PEER_CHECKSUM.
 */
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import { reportMetrics } from './server-metrics.js';

reportMetrics();

interface Manifest {
  version: string;
  url: string;
  checksum: string;
}

const manifests = new Map<string, Manifest>([
  [
    `${process.env.PEER_APP_ID}/production`,
    {
      version: process.env.PEER_VERSION ?? '1.0.0',
      url: process.env.PEER_URL ?? 'http://localhost/bundle.zip',
      checksum: process.env.PEER_CHECKSUM ?? '',
    },
  ],
]);

const app = new Hono();
app.post('/updates', async (c) => {
  const body = await c.req.json<{ app_id?: string; defaultChannel?: string; version_name?: string }>();
  const manifest = manifests.get(`${body.app_id}/${body.defaultChannel || 'production'}`);
  if (!manifest) return c.json({ error: 'unknown_app', message: 'Unknown app', kind: 'failed' }, 404);
  if (manifest.version === body.version_name) {
    return c.json({
      error: 'no_new_version_available',
      message: 'No new version available',
      kind: 'up_to_date',
    });
  }
  return c.json(manifest);
});

const server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, (info: AddressInfo) => {
  process.send?.({ type: 'listening', url: `http://127.0.0.1:${info.port}`, port: info.port });
});
const stop = () => {
  server.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 2000).unref();
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
process.on('disconnect', stop);
