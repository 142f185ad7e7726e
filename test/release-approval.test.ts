/**
 * Protected channels and four-eyes releases (issue #18), through the real server and the real CLI:
 * a protected channel refuses releases by a publisher and lets them roll back (and the automatic
 * halt act); the release role (today: admin) may do everything; on an app with release_approval a
 * publisher's release becomes a request that someone else approves (exactly once, even with two
 * approvers at once on two instances) or rejects, and that expires; each step is audited and sent
 * as a webhook event.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli, makeProject } from './helpers/cli.js';
import { TEST_BACKEND } from './helpers/backends.js';
import { Fleet } from './helpers/fleet.js';
import { ADMIN_TOKEN, startTestServer, type TestServer } from './helpers/server.js';
import { runSql } from './helpers/sql.js';
import { Repos } from '../src/db/index.js';
import { pruneAudit } from '../src/server.js';
import { waitFor } from './helpers/wait.js';

const APP = 'com.example.guarded';
const CHANNEL = `/apps/${APP}/channels/production`;
const REQUESTS = `/apps/${APP}/release-requests`;

let server: TestServer;
/** publisher: the publish role on the app; approver, second: the release role on it (per-app roles). */
const tokens = { publisher: '', approver: '', second: '', publisherId: 0 };
const hooks: { event: string; data: Record<string, any> }[] = [];
const receiver = http.createServer((request, response) => {
  let body = '';
  request.on('data', (chunk: Buffer) => (body += chunk.toString()));
  request.on('end', () => {
    hooks.push(JSON.parse(body) as (typeof hooks)[number]);
    response.end('ok');
  });
});

const api = (method: string, route: string, body?: unknown, token = ADMIN_TOKEN) =>
  server.api(method, route, body, token);
const channel = async () => (await api('GET', CHANNEL)).body;
const register = async (version: string) =>
  expect(
    (
      await api('POST', `/apps/${APP}/bundles`, {
        version,
        url: `https://cdn.example.com/${version}.zip`,
        sha256: 'a'.repeat(64),
      })
    ).status,
  ).toBe(201);
const hooksOf = (event: string) => hooks.filter((hook) => hook.event === event);
const auditActions = async () =>
  ((await api('GET', `/audit?app=${APP}&limit=500`)).body.items as { action: string; detail: any }[]).filter(
    (entry) => entry.action.startsWith('release.'),
  );

beforeAll(async () => {
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  server = await startTestServer({ OVERAIR_WEBHOOK_ALLOW_HOSTS: '127.0.0.1' });
  expect((await api('POST', '/apps', { id: APP })).status).toBe(201);
  const token = async (name: string, role: string) => {
    const created = await api('POST', '/tokens', { name, roles: { apps: { [APP]: role } } });
    expect(created.status).toBe(201);
    return created.body as { id: number; token: string };
  };
  const publisher = await token('publisher', 'publish');
  tokens.publisher = publisher.token;
  tokens.publisherId = publisher.id;
  tokens.approver = (await token('approver', 'release')).token;
  tokens.second = (await token('second', 'release')).token;
  const { port } = receiver.address() as AddressInfo;
  expect((await api('POST', '/webhooks', { url: `http://127.0.0.1:${port}/hook`, app_id: APP })).status).toBe(
    201,
  );
  for (const version of ['1.0.0', '1.1.0', '1.2.0', '1.3.0', '1.4.0']) await register(version);
  expect((await api('PUT', `${CHANNEL}/bundle`, { version: '1.0.0' })).status).toBe(200);
  expect((await api('PUT', `${CHANNEL}/bundle`, { version: '1.1.0' })).status).toBe(200);
});
afterAll(async () => {
  await server?.stop();
  await new Promise((resolve) => receiver.close(resolve));
});

describe('a protected channel', () => {
  it('is protected and unprotected only with the release role', async () => {
    const refused = await api('PATCH', CHANNEL, { protected: true }, tokens.publisher);
    expect(refused).toMatchObject({ status: 403, body: { error: 'protected_channel' } });
    expect(refused.body.message).toMatch(/"release" role/);
    expect(await channel()).toMatchObject({ protected: false });
    expect(await api('PATCH', CHANNEL, { protected: true }, tokens.approver)).toMatchObject({
      status: 200,
      body: { protected: true },
    });
    expect(await api('PATCH', CHANNEL, { protected: false }, tokens.publisher)).toMatchObject({
      status: 403,
      body: { error: 'protected_channel' },
    });
    expect(await channel()).toMatchObject({ protected: true });
  });

  it('refuses a publisher making a bundle live, or starting a rollout, and changes nothing', async () => {
    const set = await api('PUT', `${CHANNEL}/bundle`, { version: '1.2.0' }, tokens.publisher);
    expect(set).toMatchObject({ status: 403, body: { error: 'protected_channel' } });
    expect(set.body.message).toMatch(/making a bundle live needs the "release" role .* this token lacks/);
    expect(set.body.message).toMatch(/release_approval/);
    const rollout = await api(
      'POST',
      `${CHANNEL}/rollout`,
      { version: '1.2.0', percent: 10 },
      tokens.publisher,
    );
    expect(rollout).toMatchObject({ status: 403, body: { error: 'protected_channel' } });
    // Nor a scheduled rollout, whose every step would change what the channel serves.
    const scheduled = await api(
      'POST',
      `${CHANNEL}/rollout`,
      { version: '1.2.0', steps: '10%:1h,100%' },
      tokens.publisher,
    );
    expect(scheduled).toMatchObject({ status: 403, body: { error: 'protected_channel' } });
    expect((await api('GET', `${CHANNEL}/schedule`)).status).toBe(404);
    expect(await channel()).toMatchObject({ version: '1.1.0', rollout: null });
  });

  it("refuses a publisher's settings, a protected new channel, and taking the default from it", async () => {
    for (const change of [{ platforms: ['ios'] }, { allow_dev: true }, { failure_threshold: null }]) {
      expect(await api('PATCH', CHANNEL, change, tokens.publisher)).toMatchObject({
        status: 403,
        body: { error: 'protected_channel' },
      });
    }
    const create = (body: object) => api('POST', `/apps/${APP}/channels`, body, tokens.publisher);
    expect(await create({ name: 'locked', protected: true })).toMatchObject({
      status: 403,
      body: { error: 'protected_channel' },
    });
    expect(await create({ name: 'takeover', is_default: true, version: '1.4.0' })).toMatchObject({
      status: 403,
      body: { error: 'protected_channel' },
    });
    expect((await create({ name: 'beta', version: '1.4.0' })).status).toBe(201);
    expect(
      await api('PATCH', `/apps/${APP}/channels/beta`, { is_default: true }, tokens.publisher),
    ).toMatchObject({
      status: 403,
      body: { error: 'protected_channel' },
    });
    // An unprotected channel stays the publisher's.
    expect(
      (await api('PUT', `/apps/${APP}/channels/beta/bundle`, { version: '1.3.0' }, tokens.publisher)).status,
    ).toBe(200);
    expect(await channel()).toMatchObject({ is_default: true, platforms: [], version: '1.1.0' });
  });

  it('refuses a publisher deleting its live bundle, not a bundle it does not serve', async () => {
    const refused = await api('DELETE', `/apps/${APP}/bundles/1.1.0`, undefined, tokens.publisher);
    expect(refused).toMatchObject({ status: 403, body: { error: 'protected_channel' } });
    expect(refused.body.message).toMatch(/Roll back first/);
    expect((await api('GET', `/apps/${APP}/bundles/1.1.0`)).status).toBe(200);
    // Which devices may get the live bundle is the release role's too; its notes are not.
    const bundle = `/apps/${APP}/bundles/1.1.0`;
    expect(await api('PATCH', bundle, { min_native_version: '0.1.0' }, tokens.publisher)).toMatchObject({
      status: 403,
      body: { error: 'protected_channel' },
    });
    expect(await api('PATCH', bundle, { notes: 'Fixes the login' }, tokens.publisher)).toMatchObject({
      status: 200,
      body: { notes: 'Fixes the login', min_native_version: null },
    });
    await register('0.0.1');
    expect((await api('DELETE', `/apps/${APP}/bundles/0.0.1`, undefined, tokens.publisher)).status).toBe(200);
  });

  it('lets a publisher roll back, and stop a rollout', async () => {
    expect(
      (await api('POST', `${CHANNEL}/rollout`, { version: '1.2.0', percent: 10 }, tokens.approver)).status,
    ).toBe(200);
    const stopped = await api('POST', `${CHANNEL}/rollback`, { reason: 'crash' }, tokens.publisher);
    expect(stopped).toMatchObject({ status: 200, body: { version: '1.1.0', rollout: null } });
    const back = await api('POST', `${CHANNEL}/rollback`, {}, tokens.publisher);
    expect(back).toMatchObject({ status: 200, body: { version: '1.0.0' } });
  });

  it('lets the release role make a bundle live, roll out and change settings', async () => {
    expect(await api('PUT', `${CHANNEL}/bundle`, { version: '1.1.0' }, tokens.approver)).toMatchObject({
      status: 200,
      body: { version: '1.1.0' },
    });
    expect(
      await api('POST', `${CHANNEL}/rollout`, { version: '1.2.0', percent: 100 }, tokens.approver),
    ).toMatchObject({ status: 200, body: { version: '1.2.0', rollout: null } });
    expect((await api('PATCH', CHANNEL, { allow_emulator: true }, tokens.approver)).status).toBe(200);
    expect((await api('POST', `${CHANNEL}/rollback`, {}, tokens.approver)).body).toMatchObject({
      version: '1.1.0',
    });
  });

  it('is halted automatically like any channel', async () => {
    expect(await api('PATCH', CHANNEL, { failure_threshold: 0.2, failure_min_devices: 10 })).toMatchObject({
      status: 200,
    });
    expect((await api('POST', `${CHANNEL}/rollout`, { version: '1.2.0', percent: 50 })).status).toBe(200);
    const fleet = new Fleet(server.url, APP, 60);
    try {
      await fleet.cycle(() => 'install_fail');
      await server.services.activity.flush();
    } finally {
      await fleet.close();
    }
    expect(await channel()).toMatchObject({ version: '1.1.0', rollout: null, protected: true });
    const [halt] = (await api('GET', `${CHANNEL}/history`)).body.items;
    expect(halt).toMatchObject({ action: 'halt', actor: 'overair', previous_version: '1.2.0' });
    await api('PATCH', CHANNEL, { failure_threshold: null });
  });
});

describe('four-eyes releases', () => {
  /** A publisher's release on the protected channel: the 202 and its request. */
  const request = async (body: { version: string; percent?: number }) => {
    const answer =
      body.percent === undefined
        ? await api('PUT', `${CHANNEL}/bundle`, body, tokens.publisher)
        : await api('POST', `${CHANNEL}/rollout`, body, tokens.publisher);
    expect(answer.status, JSON.stringify(answer.body)).toBe(202);
    return answer.body as { id: number; status: string; [key: string]: unknown };
  };

  it('is turned on by an app admin only', async () => {
    expect(await api('PATCH', `/apps/${APP}`, { release_approval: true }, tokens.publisher)).toMatchObject({
      status: 403,
      body: { error: 'forbidden' },
    });
    expect(await api('PATCH', `/apps/${APP}`, { release_approval: true })).toMatchObject({
      status: 200,
      body: { release_approval: true },
    });
  });

  it("turns a publisher's release into a pending request that someone else approves", async () => {
    const before = await channel();
    const made = await request({ version: '1.3.0' });
    expect(made).toMatchObject({
      app_id: APP,
      channel: 'production',
      action: 'set',
      version: '1.3.0',
      percent: null,
      status: 'pending',
      requested_by: 'token:publisher',
      decided_by: null,
    });
    const ttl = Date.parse(made.expires_at as string) - Date.parse(made.created_at as string);
    expect(ttl).toBe(72 * 3600 * 1000);
    expect(await channel()).toMatchObject({ version: before.version, rollout: null });
    const pending = (await api('GET', `${REQUESTS}?status=pending`, undefined, tokens.publisher)).body.items;
    expect(pending.map((r: { id: number }) => r.id)).toContain(made.id);
    expect((await api('GET', `${REQUESTS}/${made.id}`)).body).toEqual(made);
    await waitFor(() => hooksOf('release.requested').some((hook) => hook.data.id === made.id));

    // Not by the publisher (no release role), and not by the requester even once it has the role.
    expect(await api('POST', `${REQUESTS}/${made.id}/approve`, undefined, tokens.publisher)).toMatchObject({
      status: 403,
      body: { error: 'forbidden' },
    });
    await runSql(server, "UPDATE tokens SET all_apps_role = 'release' WHERE id = ?", tokens.publisherId);
    try {
      expect(await api('POST', `${REQUESTS}/${made.id}/approve`, undefined, tokens.publisher)).toMatchObject({
        status: 403,
        body: { error: 'self_approval' },
      });
    } finally {
      await runSql(server, 'UPDATE tokens SET all_apps_role = NULL WHERE id = ?', tokens.publisherId);
    }

    const approved = await api('POST', `${REQUESTS}/${made.id}/approve`, undefined, tokens.approver);
    expect(approved).toMatchObject({
      status: 200,
      body: { id: made.id, status: 'approved', decided_by: 'token:approver' },
    });
    expect(await channel()).toMatchObject({ version: '1.3.0', rollout: null });
    const [entry] = (await api('GET', `${CHANNEL}/history`)).body.items;
    expect(entry).toMatchObject({ action: 'set', version: '1.3.0', actor: 'token:approver' });
    expect(entry.reason).toBe(`release request ${made.id} by token:publisher`);
    expect(await api('POST', `${REQUESTS}/${made.id}/approve`, undefined, tokens.second)).toMatchObject({
      status: 409,
      body: { error: 'release_request_closed' },
    });
    await waitFor(() => hooksOf('release.approved').some((hook) => hook.data.id === made.id));
    expect(hooksOf('release.approved').find((hook) => hook.data.id === made.id)!.data).toMatchObject({
      channel: 'production',
      action: 'set',
      version: '1.3.0',
      requested_by: 'token:publisher',
      actor: 'token:approver',
    });
    await waitFor(() => hooksOf('channel.released').some((hook) => hook.data.version === '1.3.0'));
    const audit = await auditActions();
    expect(audit.filter((entry) => entry.detail?.id === made.id).map((entry) => entry.action)).toEqual([
      'release.approve',
      'release.request',
    ]);
  });

  it('approves a rollout request: the rollout starts then', async () => {
    const made = await request({ version: '1.4.0', percent: 25 });
    expect(made).toMatchObject({ action: 'rollout', percent: 25 });
    expect((await api('POST', `${REQUESTS}/${made.id}/approve`, undefined, tokens.approver)).status).toBe(
      200,
    );
    expect(await channel()).toMatchObject({ version: '1.3.0', rollout: { version: '1.4.0', percent: 25 } });
    // Stopping it needs no one's approval.
    expect((await api('POST', `${CHANNEL}/rollback`, {}, tokens.publisher)).body.rollout).toBeNull();
  });

  it('rejects a request with a reason: nothing changes, and it cannot be approved after', async () => {
    const made = await request({ version: '1.4.0', percent: 50 });
    const rejected = await api(
      'POST',
      `${REQUESTS}/${made.id}/reject`,
      { reason: 'not this week' },
      tokens.approver,
    );
    expect(rejected).toMatchObject({
      status: 200,
      body: { status: 'rejected', reason: 'not this week', decided_by: 'token:approver' },
    });
    expect(await channel()).toMatchObject({ version: '1.3.0', rollout: null });
    expect(await api('POST', `${REQUESTS}/${made.id}/approve`, undefined, tokens.second)).toMatchObject({
      status: 409,
      body: { error: 'release_request_closed' },
    });
    expect((await api('GET', `${REQUESTS}?status=rejected`)).body.items[0]).toMatchObject({ id: made.id });
    await waitFor(() => hooksOf('release.rejected').some((hook) => hook.data.id === made.id));
    expect(hooksOf('release.rejected').find((hook) => hook.data.id === made.id)!.data).toMatchObject({
      reason: 'not this week',
      actor: 'token:approver',
    });
    expect((await auditActions()).some((e) => e.action === 'release.reject' && e.detail.id === made.id)).toBe(
      true,
    );
  });

  it('fails the approval of a request whose channel changed, or whose bundle went', async () => {
    const stale = await request({ version: '1.4.0' });
    expect((await api('POST', `${CHANNEL}/rollback`, {}, tokens.publisher)).status).toBe(200);
    const live = (await channel()).version;
    const failed = await api('POST', `${REQUESTS}/${stale.id}/approve`, undefined, tokens.approver);
    expect(failed).toMatchObject({ status: 409, body: { error: 'release_request_failed' } });
    expect(failed.body.message).toMatch(/changed since the request/);
    expect((await api('GET', `${REQUESTS}/${stale.id}`)).body).toMatchObject({
      status: 'failed',
      reason: 'channel "production" changed since the request was made',
    });
    expect((await channel()).version).toBe(live);

    const orphan = await request({ version: '1.4.0' });
    expect((await api('DELETE', `/apps/${APP}/bundles/1.4.0`, undefined, tokens.approver)).status).toBe(200);
    const gone = await api('POST', `${REQUESTS}/${orphan.id}/approve`, undefined, tokens.approver);
    expect(gone).toMatchObject({ status: 409, body: { error: 'release_request_failed' } });
    expect((await api('GET', `${REQUESTS}/${orphan.id}`)).body.status).toBe('failed');
    await register('1.4.0');
  });

  it('expires requests: an expired one cannot be approved', async () => {
    const made = await request({ version: '1.4.0' });
    await runSql(
      server,
      'UPDATE release_requests SET expires_at = ? WHERE id = ?',
      new Date(Date.now() - 1000).toISOString(),
      made.id,
    );
    expect((await api('GET', `${REQUESTS}/${made.id}`)).body.status).toBe('expired');
    const expired = (await api('GET', `${REQUESTS}?status=expired`)).body.items;
    expect(expired.map((r: { id: number }) => r.id)).toEqual([made.id]);
    expect((await api('GET', `${REQUESTS}?status=pending`)).body.items).toEqual([]);
    const refused = await api('POST', `${REQUESTS}/${made.id}/approve`, undefined, tokens.approver);
    expect(refused).toMatchObject({ status: 409, body: { error: 'release_request_closed' } });
    expect(refused.body.message).toMatch(/is expired/);
    expect((await channel()).version).not.toBe('1.4.0');
  });

  it('forgets settled requests with the audit log, never one that can still be decided', async () => {
    const days = (n: number) => new Date(Date.now() + n * 86_400_000).toISOString();
    const made = async (version: string) => (await request({ version })).id;
    const [old, expiredLong, rejectedLately, open] = [
      await made('1.4.0'),
      await made('1.4.0'),
      await made('1.4.0'),
      await made('1.4.0'),
    ];
    // Decided 400 days ago; pending but expired 400 days ago; rejected 2 days ago; still open.
    await runSql(
      server,
      `UPDATE release_requests SET status = 'approved', decided_at = ? WHERE id = ?`,
      days(-400),
      old,
    );
    await runSql(server, 'UPDATE release_requests SET expires_at = ? WHERE id = ?', days(-400), expiredLong);
    await runSql(
      server,
      `UPDATE release_requests SET status = 'rejected', decided_at = ? WHERE id = ?`,
      days(-2),
      rejectedLately,
    );
    const others = (await api('GET', `${REQUESTS}?limit=100`)).body.items.length;
    // What the hourly retention runs with OVERAIR_AUDIT_RETENTION=366d.
    await pruneAudit(new Repos(server.db), 366 * 86_400);
    const left = (await api('GET', `${REQUESTS}?limit=100`)).body.items.map((r: { id: number }) => r.id);
    expect(left).not.toContain(old);
    expect(left).not.toContain(expiredLong);
    expect(left).toContain(rejectedLately);
    expect(left).toContain(open);
    expect(left).toHaveLength(others - 2);
    // An open request is never deleted, whatever the retention.
    await pruneAudit(new Repos(server.db), 1);
    expect((await api('GET', `${REQUESTS}/${open}`)).body.status).toBe('pending');
    expect((await api('GET', `${REQUESTS}/${rejectedLately}`)).status).toBe(404);
    await api('POST', `${REQUESTS}/${open}/reject`, { reason: 'tidy up' }, tokens.approver);
  });

  it('answers 404 for a request of another app or none', async () => {
    expect(await api('GET', `${REQUESTS}/999999`)).toMatchObject({
      status: 404,
      body: { error: 'release_request_not_found' },
    });
    expect(await api('POST', `${REQUESTS}/999999/approve`, undefined, tokens.approver)).toMatchObject({
      status: 404,
    });
  });

  it('works end to end through the CLI', async () => {
    const folder = await makeProject({ appId: APP });
    const as = (token: string) => ({
      cwd: folder,
      env: { OVERAIR_SERVER: server.url, OVERAIR_TOKEN: token },
    });
    const set = await cli(['channel', 'set', 'production', '1.4.0'], as(tokens.publisher));
    expect(set.code, set.stderr).toBe(0);
    const id = Number(/release request (\d+) waits/.exec(set.stdout)?.[1]);
    expect(id).toBeGreaterThan(0);
    const list = await cli(['release', 'list', '--status', 'pending', '--json'], as(tokens.publisher));
    expect(list.json.map((r: { id: number }) => r.id)).toEqual([id]);
    const own = await cli(['release', 'approve', String(id)], as(tokens.publisher));
    expect(own.code).not.toBe(0);
    expect(own.stderr).toMatch(/forbidden/);
    const approve = await cli(['release', 'approve', String(id)], as(tokens.approver));
    expect(approve.code, approve.stderr).toBe(0);
    expect(approve.stdout).toMatch(new RegExp(`Release request ${id} .*: approved by token:approver`));
    expect((await channel()).version).toBe('1.4.0');

    const rollout = await cli(
      ['channel', 'rollout', 'production', '1.3.0', '--percent', '10', '--json'],
      as(tokens.publisher),
    );
    expect(rollout.json).toMatchObject({ status: 'pending', action: 'rollout', percent: 10 });
    const reject = await cli(
      ['release', 'reject', String(rollout.json.id), '--reason', 'wait'],
      as(tokens.approver),
    );
    expect(reject.code, reject.stderr).toBe(0);
    expect(reject.stdout).toMatch(/rejected by token:approver \(wait\)/);
    const again = await cli(['release', 'reject', String(rollout.json.id)], as(tokens.approver));
    expect(again.code).not.toBe(0);
    expect(again.stderr).toMatch(/is rejected/);

    const off = await cli(['app', 'update', '--release-approval', 'off'], as(ADMIN_TOKEN));
    expect(off.code, off.stderr).toBe(0);
    expect(off.stdout).toMatch(/release approval: off/);
    const refused = await cli(['channel', 'set', 'production', '1.3.0'], as(tokens.publisher));
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/protected/);
    const unprotect = await cli(
      ['channel', 'update', 'production', '--protected', 'off'],
      as(tokens.publisher),
    );
    expect(unprotect.code).not.toBe(0);
    const on = await cli(['app', 'update', '--release-approval', 'on'], as(ADMIN_TOKEN));
    expect(on.code, on.stderr).toBe(0);

    // A pipeline's `bundle upload --channel` on the protected channel: uploaded, and a request made.
    const upload = await cli(
      ['bundle', 'upload', '--bundle', '1.5.0', '--channel', 'production'],
      as(tokens.publisher),
    );
    expect(upload.code, upload.stderr).toBe(0);
    expect(upload.stdout).toMatch(/Uploaded .* 1\.5\.0/);
    const uploadRequest = Number(/release request (\d+) waits/.exec(upload.stdout)?.[1]);
    expect((await api('GET', `${REQUESTS}/${uploadRequest}`)).body).toMatchObject({
      version: '1.5.0',
      status: 'pending',
    });
    expect((await channel()).version).toBe('1.4.0');
    expect((await api('POST', `${REQUESTS}/${uploadRequest}/reject`, {}, tokens.approver)).status).toBe(200);
  });
});

describe('two approvers at once', () => {
  let other: TestServer | undefined;
  /** On PostgreSQL a second instance on the same database; SQLite is one instance's file. */
  beforeAll(async () => {
    if (TEST_BACKEND === 'postgres') other = await startTestServer(server.stateEnv);
  });
  afterAll(async () => {
    await other?.stop();
  });

  it('apply the change exactly once', async () => {
    const second = other ?? server;
    for (const [round, version] of ['1.0.0', '1.1.0', '1.2.0', '1.3.0', '1.4.0'].entries()) {
      const live = (await channel()).version;
      const target = version === live ? '1.0.0' : version;
      const made = await api('PUT', `${CHANNEL}/bundle`, { version: target }, tokens.publisher);
      expect(made.status, `round ${round}: ${JSON.stringify(made.body)}`).toBe(202);
      const id = made.body.id as number;
      const answers = await Promise.all([
        server.api('POST', `${REQUESTS}/${id}/approve`, undefined, tokens.approver),
        second.api('POST', `${REQUESTS}/${id}/approve`, undefined, tokens.second),
      ]);
      const statuses = answers.map((answer) => answer.status).sort();
      expect(statuses, JSON.stringify(answers.map((answer) => answer.body))).toEqual([200, 409]);
      expect(answers.find((answer) => answer.status === 409)!.body.error).toBe('release_request_closed');
      const history = (await api('GET', `${CHANNEL}/history?limit=500`)).body.items as {
        reason: string | null;
      }[];
      expect(
        history.filter((entry) => entry.reason === `release request ${id} by token:publisher`),
      ).toHaveLength(1);
      const approvals = (await auditActions()).filter(
        (entry) => entry.action === 'release.approve' && entry.detail.id === id,
      );
      expect(approvals).toHaveLength(1);
      expect((await channel()).version).toBe(target);
    }
  });
});
