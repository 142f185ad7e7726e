import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { loadConfig, type Config } from '../../src/config.js';
import { createLogger } from '../../src/log.js';
import { startServer, type RunningServer, type ServerOptions } from '../../src/server.js';
import { backendForServer } from './backends.js';

/** Artifacts made by the real Capgo CLI (test/fixtures/capgo-cli-8.68/README.md says how). */
export const VECTORS = path.resolve(import.meta.dirname, '../fixtures/capgo-cli-8.68');
export const ADMIN_TOKEN = 'oat_test-admin-token-0123456789abcdef';

export interface TestServer extends RunningServer {
  dataDir: string;
  config: Config;
  /** The settings that start another server on this one's state (data folder and database). */
  stateEnv: Record<string, string>;
  /** Admin API call with the admin token (or `token`); JSON body in, parsed JSON out. */
  api(method: string, route: string, body?: unknown, token?: string): Promise<{ status: number; body: any }>;
  /** Device call as the plugin makes it: JSON body, no auth. */
  device(
    method: string,
    route: string,
    body?: unknown,
  ): Promise<{ status: number; body: any; headers: Headers }>;
  stop(): Promise<void>;
}

/** A real server on a free loopback port with its own temporary data folder. */
export async function startTestServer(
  env: Record<string, string> = {},
  options: ServerOptions = {},
): Promise<TestServer> {
  const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'overair-test-'));
  // A server given a database (a restart of another) shares it; stopping it must not drop it.
  const backend =
    env.OVERAIR_DATABASE_URL === undefined
      ? await backendForServer()
      : { env: { OVERAIR_DATABASE_URL: env.OVERAIR_DATABASE_URL }, cleanup: async () => {} };
  const config = loadConfig({
    OVERAIR_DATA_DIR: dataDir,
    OVERAIR_PORT: '0',
    OVERAIR_HOST: '127.0.0.1',
    OVERAIR_ADMIN_TOKEN: ADMIN_TOKEN,
    OVERAIR_LOG_LEVEL: 'silent',
    ...backend.env,
    ...env,
  });
  const server = await startServer(config, createLogger(config.logLevel), options);
  const call = (method: string, route: string, body: unknown, headers: Record<string, string>) =>
    sendJson(server.url + route, method, body, headers);
  return {
    ...server,
    dataDir,
    config,
    stateEnv: { OVERAIR_DATA_DIR: dataDir, ...backend.env },
    api: (method, route, body, token = ADMIN_TOKEN) =>
      call(method, `/api/v1${route}`, body, { authorization: `Bearer ${token}` }),
    device: (method, route, body) => call(method, route, body, {}),
    async stop() {
      await server.close();
      await backend.cleanup();
      await fs.rm(dataDir, { recursive: true, force: true });
    },
  };
}

/**
 * One HTTP call with a JSON body (a string is sent as it is); the answer's body parsed as JSON, left
 * as text when it is not JSON (for the assertion to show), undefined when empty.
 */
export async function sendJson(url: string, method: string, body: unknown, headers: Record<string, string>) {
  const response = await fetch(url, {
    method,
    headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await response.text();
  let parsed: unknown = text;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    // not JSON: the raw text is returned for the assertion to show
  }
  return { status: response.status, body: parsed as any, headers: response.headers };
}

/**
 * Uploads a zip file's bytes as the CLI does: raw body, metadata in the query. Then, as
 * `bundle upload --wait-files` does, waits until its files for delta updates are no longer being
 * prepared (answering the bundle as it is then), unless `waitFiles` is false.
 */
export async function uploadBundle(
  server: { url: string },
  appId: string,
  bytes: Buffer | Uint8Array<ArrayBuffer>,
  query: Record<string, string>,
  { waitFiles = true }: { waitFiles?: boolean } = {},
): Promise<{ status: number; body: any }> {
  const response = await fetch(
    `${server.url}/api/v1/apps/${appId}/bundles/upload?${new URLSearchParams(query)}`,
    {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/zip' },
      body: new Uint8Array(bytes),
    },
  );
  const body = await response.json();
  if (response.status !== 201 || !waitFiles) return { status: response.status, body };
  return { status: response.status, body: { ...body, ...(await filesSettled(server, appId, body.version)) } };
}

/** The bundle once its files for delta updates are no longer being prepared (within `timeoutMs`). */
export async function filesSettled(
  server: { url: string },
  appId: string,
  version: string,
  timeoutMs = 20_000,
): Promise<any> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const response = await fetch(
      `${server.url}/api/v1/apps/${appId}/bundles/${encodeURIComponent(version)}`,
      {
        headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
      },
    );
    const bundle = await response.json();
    if (bundle.files !== 'preparing') return bundle;
    if (Date.now() > deadline)
      throw new Error(`the files of ${appId} ${version} are still preparing after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** The plugin's info object: in a module of its own so that bench/ can use it without loading the server. */
export { deviceInfo } from './device-info.js';
