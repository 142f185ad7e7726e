import type { AddressInfo } from 'node:net';
import { serve, type ServerType } from '@hono/node-server';
import type { Config } from './config.js';
import { openSqlite } from './db/connect.js';
import { Repos } from './db/index.js';
import { createHttpApp } from './http/app.js';
import { createLogger, type Logger } from './log.js';
import { createServices, type Services } from './services/index.js';
import { FsBlobStore } from './storage/fs-store.js';

export interface RunningServer {
  url: string;
  port: number;
  services: Services;
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
  const app = createHttpApp(services, log, { publicUrl: config.publicUrl });

  const server = await new Promise<ServerType>((resolve, reject) => {
    const started = serve({ fetch: app.fetch, port: config.port, hostname: config.host }, () =>
      resolve(started),
    );
    started.once('error', reject);
  });
  const port = (server.address() as AddressInfo).port;
  const shownHost = config.host === '0.0.0.0' || config.host === '::' ? 'localhost' : config.host;
  const url = `http://${shownHost}:${port}`;
  log.info({ url, data: config.dataDir }, 'overair listening');

  return {
    url,
    port,
    services,
    initialToken,
    async close() {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await services.activity.close();
      await database.close();
    },
  };
}
