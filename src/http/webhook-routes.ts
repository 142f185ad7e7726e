import type { Context, Hono } from 'hono';
import { grantsOf, may } from '../domain/roles.js';
import { errors } from '../errors.js';
import type { Services } from '../services/index.js';
import type { PublicWebhook } from '../services/webhooks.js';
import { forbiddenToNonServerAdmin, requireRoleOn, requireSomeAppAdmin, type AdminEnv } from './auth.js';
import * as a from './admin-schemas.js';
import { readJson } from './json-body.js';
import { parseInput } from './validation.js';
import { deliveryJson, webhookJson } from './serialize.js';

type C = Context<AdminEnv>;

const webhookId = (c: C) => parseInput(a.numericId, c.req.param('id'), 'webhook id');

/**
 * Whether the caller manages a webhook: an app's webhook is managed by that app's admins, a webhook of
 * every app (app_id null: it receives every app's events) by server admins only.
 */
const manages = (c: C, webhook: Pick<PublicWebhook, 'app_id'>) => {
  const grants = grantsOf(c.get('principal'));
  return webhook.app_id === null ? grants.serverAdmin : may(grants, webhook.app_id, 'admin');
};

/**
 * Webhooks under /api/v1/webhooks: configuration, delivery log and test sends, for the admins of
 * their app (server admins for webhooks of every app). The routes need admin of some app; a webhook
 * the caller does not manage is answered 404, as if it did not exist (its number tells nothing).
 */
export function registerWebhookRoutes(api: Hono<AdminEnv>, services: Services): void {
  const appAdmin = requireSomeAppAdmin();
  /** The webhook of the path, when the caller manages it. */
  const managed = async (c: C) => {
    const id = webhookId(c);
    const webhook = await services.webhooks.get(id);
    if (!manages(c, webhook)) throw errors.webhookNotFound({ id });
    return id;
  };

  api.get('/webhooks', appAdmin, async (c) => {
    const { app } = parseInput(a.webhooksQuery, c.req.query(), 'query');
    if (app !== undefined) requireRoleOn(c, app, 'admin', "Listing an app's webhooks");
    const items = (await services.webhooks.list(app)).filter((webhook) => manages(c, webhook));
    return c.json({ items: items.map(webhookJson) });
  });
  api.post('/webhooks', appAdmin, async (c) => {
    const input = parseInput(a.newWebhookBody, await readJson(c));
    if (input.app_id === undefined || input.app_id === null) {
      if (!grantsOf(c.get('principal')).serverAdmin)
        throw forbiddenToNonServerAdmin(c, 'A webhook of every app (no app_id)');
    } else requireRoleOn(c, input.app_id, 'admin', "Creating an app's webhook");
    const { webhook, secret } = await services.webhooks.create(
      { url: input.url, events: input.events, appId: input.app_id },
      c.get('actor'),
    );
    return c.json({ ...webhookJson(webhook), secret }, 201);
  });
  api.delete('/webhooks/:id', appAdmin, async (c) => {
    await services.webhooks.delete(await managed(c), c.get('actor'));
    return c.json({ deleted: true });
  });
  api.get('/webhooks/:id/deliveries', appAdmin, async (c) => {
    const { limit, cursor } = parseInput(a.pageQuery, c.req.query(), 'query');
    const id = await managed(c);
    const rows = await services.webhooks.deliveries(id, limit, cursor);
    return c.json({
      items: rows.map(deliveryJson),
      next_cursor: rows.length === limit ? String(rows[rows.length - 1]!.id) : null,
    });
  });
  api.post('/webhooks/:id/test', appAdmin, async (c) => {
    const delivery = await services.webhooks.test(await managed(c), c.get('actor'));
    return c.json(deliveryJson(delivery), 202);
  });
}
