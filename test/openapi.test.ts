/**
 * The OpenAPI document of the admin API (src/http/openapi.ts) against the app itself: every route
 * under /api/v1 is documented, every documented operation is a route, the scopes it states are the
 * ones enforced, it is served at /api/v1/openapi.json, and docs/admin-api.md has its current table.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHttpApp } from '../src/http/app.js';
import { ADMIN_OPERATIONS, adminOpenApiDocument, isAppRoute, openApiPath } from '../src/http/openapi.js';
import { createLogger } from '../src/log.js';
import { roleAllows, ROLES, type Role } from '../src/domain/roles.js';
import { ADMIN_DOC, renderAdminApiDoc } from '../scripts/docs/admin-api.js';
import { ROLES_DOC, renderRolesDoc } from '../scripts/docs/roles.js';
import { startTestServer, type TestServer } from './helpers/server.js';

const PREFIX = '/api/v1';
const METHODS = ['get', 'post', 'put', 'patch', 'delete', 'head', 'options', 'trace'] as const;

/** "METHOD /path" of every route the app answers under /api/v1 (middleware, method ALL, left out). */
function appRoutes(): string[] {
  // Registering the routes touches no service: an empty stand-in is enough to list them.
  const services = new Proxy({}, { get: () => undefined }) as never;
  const app = createHttpApp(services, createLogger('silent'), {} as never);
  const routes = app.routes
    .filter((route) => route.method !== 'ALL' && route.path.startsWith(`${PREFIX}/`))
    .map((route) => `${route.method} ${openApiPath(route.path.slice(PREFIX.length))}`);
  return [...new Set(routes)].sort();
}

/** "METHOD /path" of every operation in the served document. */
function documentedRoutes(): string[] {
  const paths = adminOpenApiDocument().paths ?? {};
  return Object.entries(paths)
    .flatMap(([route, item]) =>
      METHODS.filter((method) => item[method] !== undefined).map(
        (method) => `${method.toUpperCase()} ${route}`,
      ),
    )
    .sort();
}

describe('the OpenAPI document of the admin API', () => {
  it('documents every route of the app under /api/v1', () => {
    const documented = new Set(documentedRoutes());
    const missing = appRoutes().filter((route) => !documented.has(route));
    expect(
      missing,
      `Routes without an OpenAPI operation (add them to ADMIN_OPERATIONS in src/http/openapi.ts): ${missing
        .map((route) => route.replace(' ', ` ${PREFIX}`))
        .join(', ')}`,
    ).toEqual([]);
  });

  it('documents no operation the app does not have', () => {
    const routes = new Set(appRoutes());
    const extra = documentedRoutes().filter((route) => !routes.has(route));
    const named = extra.map((route) => route.replace(' ', ` ${PREFIX}`)).join(', ');
    expect(extra, `Documented operations that are not routes of the app: ${named}`).toEqual([]);
  });

  it('gives every operation its access, a one-line summary and a JSON answer (or a redirect, or a JSON event stream)', () => {
    for (const [route, item] of Object.entries(adminOpenApiDocument().paths ?? {})) {
      for (const method of METHODS) {
        const op = item[method] as Record<string, unknown> | undefined;
        if (!op) continue;
        const where = `${method.toUpperCase()} ${PREFIX}${route}`;
        expect(['none', 'signed-in', ...ROLES, 'server-admin'], where).toContain(op['x-access']);
        expect(typeof op.summary === 'string' && op.summary.length <= 100, where).toBe(true);
        const responses = op.responses as Record<string, { content?: Record<string, unknown> }>;
        const success = Object.keys(responses).find((status) => status.startsWith('2'));
        // Single sign-on's routes are browser navigations: they answer with a redirect.
        if (success === undefined && responses['302'] !== undefined) continue;
        const content = success ? responses[success]!.content : undefined;
        expect(content?.['application/json'] ?? content?.['text/event-stream'], where).toBeTruthy();
      }
    }
  });

  it('has the current roles table in docs/security.md (npm run docs:roles writes it)', async () => {
    const committed = await readFile(path.resolve(import.meta.dirname, '..', ROLES_DOC), 'utf8');
    expect(committed, 'docs/security.md is out of date: run npm run docs:roles').toBe(
      await renderRolesDoc(committed),
    );
  });

  it('has the current route table in docs/admin-api.md (npm run docs:api writes it)', async () => {
    const committed = await readFile(path.resolve(import.meta.dirname, '..', ADMIN_DOC), 'utf8');
    expect(committed, 'docs/admin-api.md is out of date: run npm run docs:api').toBe(
      await renderAdminApiDoc(committed),
    );
  });
});

describe('the admin API as documented', () => {
  let server: TestServer;
  const holders: Partial<Record<Role, string>> = {};

  beforeAll(async () => {
    server = await startTestServer();
    // A role on all apps each (admin too: not a server admin, so server-admin routes refuse it).
    for (const role of ROLES) {
      const answer = await server.api('POST', '/tokens', { name: `openapi-${role}`, roles: { all: role } });
      holders[role] = answer.body.token as string;
    }
  });
  afterAll(() => server.stop());

  it('serves the document at /api/v1/openapi.json without a token', async () => {
    const answer = await fetch(`${server.url}${PREFIX}/openapi.json`);
    expect(answer.status).toBe(200);
    const document = (await answer.json()) as { openapi: string; paths: Record<string, unknown> };
    expect(document.openapi).toBe('3.1.0');
    expect(document).toEqual(JSON.parse(JSON.stringify(adminOpenApiDocument())));
  });

  it('refuses each operation to the roles below the documented access, and no more', async () => {
    const sample: Record<string, string> = {
      appId: 'com.example.nothing',
      channel: 'nothing',
      version: '9.9.9',
      deviceId: 'no-device',
      id: '999999',
      username: 'nobody',
      platform: 'android',
    };
    const wrong: string[] = [];
    for (const op of ADMIN_OPERATIONS) {
      if (op.access === 'none') continue;
      const route = op.path.replace(/:([A-Za-z0-9_]+)/g, (_, name: string) => sample[name]!);
      for (const scope of ROLES) {
        const token = holders[scope]!;
        const { status } = await server.api(
          op.method.toUpperCase(),
          route,
          op.method === 'get' ? undefined : {},
          token,
        );
        // Off the app routes, `admin` is of the app the request names: an admin of all apps passes the
        // route's check, and the handler may still refuse what is server-wide (test/roles.test.ts).
        if (scope === 'admin' && op.access === 'admin' && !isAppRoute(op)) continue;
        const allowed =
          op.access === 'signed-in' || (op.access !== 'server-admin' && roleAllows(scope, op.access));
        if ((status === 403) === allowed || status === 401) {
          wrong.push(`${op.method.toUpperCase()} ${PREFIX}${op.path} with ${scope}: ${status}`);
        }
      }
    }
    expect(wrong, 'Answers that do not match the documented access').toEqual([]);
  });
});
