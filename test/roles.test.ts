/**
 * Roles per app on a real server (docs/security.md#roles): a CI token limited to its app publishes
 * it and touches nothing else; an app's admin manages that app's tokens and webhooks and reads its
 * audit entries, and cannot give more than they hold nor reach another app; server admins set users'
 * roles; deleting an app takes every role on it along. test/admin-security.test.ts checks each route.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeZip } from './helpers/zips.js';
import { startTestServer, type TestServer } from './helpers/server.js';

const A = 'com.example.alpha';
const B = 'com.example.beta';

async function upload(server: TestServer, token: string, appId: string, version: string) {
  const response = await fetch(
    `${server.url}/api/v1/apps/${appId}/bundles/upload?${new URLSearchParams({ version })}`,
    {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/zip' },
      body: new Uint8Array(await makeZip({ 'index.html': `<p>${version}</p>` })),
    },
  );
  return { status: response.status, body: (await response.json()) as any };
}

describe('roles per app', () => {
  let server: TestServer;
  /** A mints tokens with `roles`, answers its secret and id. */
  const mint = async (roles: object, by?: string) => {
    const answer = await server.api('POST', '/tokens', { name: `t${Math.random()}`, roles }, by);
    expect(answer.status, JSON.stringify(answer.body)).toBe(201);
    return answer.body as { id: number; token: string; roles: unknown };
  };

  beforeAll(async () => {
    server = await startTestServer();
    for (const id of [A, B]) expect((await server.api('POST', '/apps', { id })).status).toBe(201);
  });
  afterAll(() => server.stop());

  it("lets an app's CI token publish its app, and refuses it every other app", async () => {
    const ci = await mint({ apps: { [A]: 'publish' } });
    expect(ci.roles).toEqual({ server_admin: false, all: null, apps: { [A]: 'publish' } });
    expect((await upload(server, ci.token, A, '1.0.0')).status).toBe(201);
    const channel = await server.api(
      'POST',
      `/apps/${A}/channels`,
      { name: 'nightly', version: '1.0.0' },
      ci.token,
    );
    expect(channel.status).toBe(201);

    const refused = await upload(server, ci.token, B, '1.0.0');
    expect(refused).toMatchObject({ status: 403, body: { error: 'forbidden' } });
    expect(refused.body.message).toContain(B);
    expect((await server.api('GET', `/apps/${B}/bundles`, undefined, ci.token)).status).toBe(403);
    expect((await server.api('GET', `/apps/${B}`, undefined, ci.token)).status).toBe(403);
    // Nothing of B was written, and its app admin work stays out of reach.
    expect((await server.api('GET', `/apps/${B}/bundles`)).body.items).toEqual([]);
    expect((await server.api('PATCH', `/apps/${A}`, { name: 'x' }, ci.token)).status).toBe(403);
    expect((await server.api('GET', '/tokens', undefined, ci.token)).status).toBe(403);
    // It sees its app only, and says what it holds.
    expect(
      (await server.api('GET', '/apps', undefined, ci.token)).body.items.map((app: any) => app.id),
    ).toEqual([A]);
    expect((await server.api('GET', '/whoami', undefined, ci.token)).body).toMatchObject({
      kind: 'token',
      roles: { server_admin: false, all: null, apps: { [A]: 'publish' } },
    });
  });

  it("lets an app's admin manage the tokens of that app, never more than they hold", async () => {
    const admin = await mint({ apps: { [A]: 'admin' }, all: 'read' });
    const own = await mint({ apps: { [A]: 'release' } }, admin.token);
    expect(own.roles).toEqual({ server_admin: false, all: null, apps: { [A]: 'release' } });

    const escalations = [
      { apps: { [B]: 'read' } },
      { apps: { [A]: 'publish', [B]: 'publish' } },
      { all: 'read' },
      { server_admin: true },
    ];
    const before = (await server.api('GET', '/tokens')).body.items.length;
    for (const roles of escalations) {
      const answer = await server.api('POST', '/tokens', { name: 'more', roles }, admin.token);
      expect(answer, JSON.stringify(roles)).toMatchObject({ status: 403, body: { error: 'forbidden' } });
    }
    expect((await server.api('POST', '/tokens', { name: 'old', scope: 'read' }, admin.token)).status).toBe(
      403,
    );
    expect((await server.api('POST', '/tokens', { name: 'none', roles: {} }, admin.token)).status).toBe(400);
    expect((await server.api('GET', '/tokens')).body.items.length).toBe(before);

    // The list shows the tokens limited to A, not the server's nor B's; another's revoke is a 404.
    const onB = await mint({ apps: { [B]: 'read' } });
    const listed = (await server.api('GET', '/tokens', undefined, admin.token)).body.items.map(
      (t: any) => t.id,
    );
    expect(listed).toContain(own.id);
    expect(listed).not.toContain(onB.id);
    expect(listed).not.toContain(admin.id);
    expect(listed.every((id: number) => id !== 1)).toBe(true);
    for (const id of [onB.id, admin.id, 1]) {
      const answer = await server.api('DELETE', `/tokens/${id}`, undefined, admin.token);
      expect(answer).toMatchObject({ status: 404, body: { error: 'token_not_found' } });
    }
    expect((await server.api('DELETE', `/tokens/${own.id}`, undefined, admin.token)).status).toBe(200);
    expect((await server.api('GET', '/whoami', undefined, own.token)).status).toBe(401);
  });

  it("gives an app's admin that app's webhooks and audit entries only", async () => {
    const admin = await mint({ apps: { [A]: 'admin' } });
    const mine = await server.api(
      'POST',
      '/webhooks',
      { url: 'https://example.com/a', app_id: A },
      admin.token,
    );
    expect(mine.status).toBe(201);
    const theirs = await server.api('POST', '/webhooks', { url: 'https://example.com/b', app_id: B });
    const everyApp = await server.api('POST', '/webhooks', { url: 'https://example.com/all' });
    expect(
      (await server.api('POST', '/webhooks', { url: 'https://example.com/c', app_id: B }, admin.token))
        .status,
    ).toBe(403);
    expect(
      (await server.api('POST', '/webhooks', { url: 'https://example.com/d' }, admin.token)).status,
    ).toBe(403);
    const listed = (await server.api('GET', '/webhooks', undefined, admin.token)).body.items.map(
      (w: any) => w.id,
    );
    expect(listed).toEqual([mine.body.id]);
    expect((await server.api('GET', `/webhooks?app=${B}`, undefined, admin.token)).status).toBe(403);
    for (const id of [theirs.body.id, everyApp.body.id]) {
      expect((await server.api('DELETE', `/webhooks/${id}`, undefined, admin.token)).status).toBe(404);
      expect((await server.api('GET', `/webhooks/${id}/deliveries`, undefined, admin.token)).status).toBe(
        404,
      );
    }
    expect((await server.api('DELETE', `/webhooks/${mine.body.id}`, undefined, admin.token)).status).toBe(
      200,
    );

    expect((await server.api('GET', '/audit', undefined, admin.token)).status).toBe(403);
    expect((await server.api('GET', `/audit?app=${B}`, undefined, admin.token)).status).toBe(403);
    const entries = (await server.api('GET', `/audit?app=${A}&limit=500`, undefined, admin.token)).body.items;
    expect(entries.length).toBeGreaterThan(0);
    expect(entries.every((entry: any) => entry.app_id === A)).toBe(true);
    expect((await server.api('GET', `/audit/export?app=${A}`, undefined, admin.token)).status).toBe(200);
  });

  it("lets server admins set a user's roles, which apply at the user's next request", async () => {
    const created = await server.api('POST', '/users', {
      username: 'dev',
      password: 'dev-password-1',
      roles: { apps: { [A]: 'read' } },
    });
    expect(created).toMatchObject({
      status: 201,
      body: { roles: { server_admin: false, all: null, apps: { [A]: 'read' } } },
    });
    const signIn = await fetch(`${server.url}/api/v1/session`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'dev', password: 'dev-password-1' }),
    });
    const cookie = /^overair_session=([^;]+)/.exec(signIn.headers.get('set-cookie') ?? '')![1]!;
    const session = (await signIn.json()) as { csrf_token: string };
    const asDev = (method: string, route: string, body?: unknown) =>
      fetch(`${server.url}/api/v1${route}`, {
        method,
        headers: {
          cookie: `overair_session=${cookie}`,
          'x-csrf-token': session.csrf_token,
          'content-type': 'application/json',
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    expect((await asDev('POST', `/apps/${A}/channels`, { name: 'beta' })).status).toBe(403);

    const patched = await server.api('PATCH', '/users/dev', {
      roles: { apps: { [A]: 'publish', [B]: 'read' } },
    });
    expect(patched).toMatchObject({
      status: 200,
      body: { roles: { apps: { [A]: 'publish', [B]: 'read' } } },
    });
    expect((await asDev('POST', `/apps/${A}/channels`, { name: 'beta' })).status).toBe(201);
    expect((await asDev('GET', `/apps/${B}`)).status).toBe(200);
    expect((await asDev('PATCH', '/users/dev', { roles: { all: 'admin' } })).status).toBe(403);
    // The old scope still works, and a role on an app that does not exist is refused.
    expect((await server.api('PATCH', '/users/dev', { scope: 'read' })).body.roles).toEqual({
      server_admin: false,
      all: 'read',
      apps: {},
    });
    expect(
      (await server.api('PATCH', '/users/dev', { roles: { apps: { 'com.example.none': 'read' } } })).body
        .error,
    ).toBe('app_not_found');
    expect((await server.api('PATCH', '/users/nobody', { scope: 'read' })).status).toBe(404);
    expect((await server.api('PATCH', '/users/dev', { scope: 'read', roles: {} })).status).toBe(400);

    const users = (await server.api('GET', '/users')).body.items;
    expect(users.find((user: any) => user.username === 'dev').roles.all).toBe('read');
  });

  it('keeps the last server admin user a server admin', async () => {
    const boss = await server.api('POST', '/users', {
      username: 'boss',
      password: 'boss-password-1',
      scope: 'admin',
    });
    expect(boss.body.roles).toEqual({ server_admin: true, all: 'admin', apps: {} });
    const answer = await server.api('PATCH', '/users/boss', { roles: { all: 'admin' } });
    expect(answer).toMatchObject({ status: 409, body: { error: 'last_admin_user' } });
  });

  it('deletes the roles on an app with it: a new app of the same id gives nothing', async () => {
    const gone = 'com.example.gone';
    expect((await server.api('POST', '/apps', { id: gone })).status).toBe(201);
    const holder = await mint({ apps: { [gone]: 'admin' } });
    expect((await server.api('GET', `/apps/${gone}`, undefined, holder.token)).status).toBe(200);
    expect((await server.api('DELETE', `/apps/${gone}`, undefined, holder.token)).status).toBe(403);
    expect((await server.api('DELETE', `/apps/${gone}`)).status).toBe(200);
    expect((await server.api('POST', '/apps', { id: gone })).status).toBe(201);
    expect((await server.api('GET', `/apps/${gone}`, undefined, holder.token)).status).toBe(403);
    expect((await server.api('GET', '/whoami', undefined, holder.token)).body.roles.apps).toEqual({});
  });
});
