import type { AddressInfo } from 'node:net';
import http from 'node:http';
import type { Hono } from 'hono';
import type { Config } from './config.js';
import { openSqlite } from './db/connect.js';
import { Repos } from './db/index.js';
import { createHttpApp } from './http/app.js';
import { DownloadLinks } from './http/download.js';
import { createNodeListener } from './http/node-listener.js';
import { createLogger, type Logger } from './log.js';
import { createServices, type Services } from './services/index.js';
import { loadOrCreateDownloadSecret } from './storage/download-secret.js';
import { FsBlobStore } from './storage/fs-store.js';

export interface RunningServer {
  url: string;
  port: number;
  services: Services;
  /** The Hono app: every route, callable without a socket (`app.request()`). */
  app: Hono;
  /** A freshly minted admin token on first start (printed once), else null. */
  initialToken: string | null;
  close(): Promise<void>;
}

/** Opens the database (migrating it), the bundle store, and starts listening. */
export async function startServer(
  config: Config,
  log: Logger = createLogger(config.logLevel),
): Promise<RunningServer> {
  const database = await openSqlite(config.databaseFile);
  const store = new FsBlobStore(config.blobDir);
  await store.init();
  const services = createServices(new Repos(database.db), store, log, {
    maxUploadBytes: config.maxUploadBytes,
  });
  const initialToken = await services.tokens.ensureAdminToken(config.adminToken);
  const links = new DownloadLinks(
    config.publicUrl,
    config.privateDownloads
      ? {
          secret: config.downloadSecret ?? (await loadOrCreateDownloadSecret(config.dataDir, log)),
          ttlSeconds: config.downloadUrlTtlSeconds,
        }
      : undefined,
  );
  const app = createHttpApp(services, log, links, {
    trustProxy: config.trustProxy,
    authMaxFailures: config.authMaxFailures,
    authFailureWindowMs: config.authFailureWindowSeconds * 1000,
  });

  const server = http.createServer(createNodeListener(app, services, links, log));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const shownHost = config.host === '0.0.0.0' || config.host === '::' ? 'localhost' : config.host;
  const url = `http://${shownHost}:${port}`;
  log.info({ url, data: config.dataDir }, 'overair listening');

  return {
    url,
    port,
    services,
    app,
    initialToken,
    async close() {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await services.activity.close();
      await database.close();
    },
  };
}
