import type { Context, Hono } from 'hono';
import type { Services } from '../services/index.js';
import { releaseCallerOf, type ReleaseCaller } from '../services/release-permission.js';
import * as a from './admin-schemas.js';
import { requireRole, type AdminEnv } from './auth.js';
import { readJson } from './json-body.js';
import * as s from './schemas.js';
import { releaseRequestJson } from './serialize.js';
import { parseInput } from './validation.js';

type C = Context<AdminEnv>;
const appParam = (c: C) => parseInput(s.appId, c.req.param('appId'), 'app id');
const requestId = (c: C) => parseInput(a.numericId, c.req.param('id'), 'release request id');

/**
 * Four-eyes releases under /api/v1/apps/APP/release-requests: anyone who may read the app sees
 * the requests; approving or rejecting one needs the release role on the app.
 */
export function registerReleaseRequestRoutes(api: Hono<AdminEnv>, services: Services): void {
  const read = requireRole('read');
  const release = requireRole('release');
  const base = '/apps/:appId/release-requests';

  api.get(base, read, async (c) => {
    const { status, limit, cursor } = parseInput(a.releaseRequestsQuery, c.req.query(), 'query');
    const rows = await services.releases.list(appParam(c), status, limit, cursor);
    return c.json({
      items: rows.map(releaseRequestJson),
      next_cursor: rows.length === limit ? String(rows[rows.length - 1]!.id) : null,
    });
  });
  api.get(`${base}/:id`, read, async (c) =>
    c.json(releaseRequestJson(await services.releases.get(appParam(c), requestId(c)))),
  );
  api.post(`${base}/:id/approve`, release, async (c) =>
    c.json(releaseRequestJson(await services.releases.approve(appParam(c), requestId(c), callerOf(c)))),
  );
  api.post(`${base}/:id/reject`, release, async (c) => {
    const { reason } = parseInput(a.rejectBody, await readJson(c, {}));
    return c.json(
      releaseRequestJson(await services.releases.reject(appParam(c), requestId(c), callerOf(c), reason)),
    );
  });
}

const callerOf = (c: C): ReleaseCaller => releaseCallerOf(c.get('principal'), c.get('actor'), appParam(c));
