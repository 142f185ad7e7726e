import type { Context, Hono } from 'hono';
import type { Services } from '../services/index.js';
import { requireScope, type AdminEnv } from './auth.js';
import * as a from './admin-schemas.js';
import { readJson } from './json-body.js';
import { parseInput } from './validation.js';
import { deliveryJson, webhookJson } from './serialize.js';

const webhookId = (c: Context<AdminEnv>) => parseInput(a.numericId, c.req.param('id'), 'webhook id');

/** Webhooks under /api/v1/webhooks: configuration, delivery log and test sends, for admin tokens. */
export function registerWebhookRoutes(api: Hono<AdminEnv>, services: Services): void {
  const admin = requireScope('admin');

  api.get('/webhooks', admin, async (c) => {
    const { app } = parseInput(a.webhooksQuery, c.req.query(), 'query');
    return c.json({ items: (await services.webhooks.list(app)).map(webhookJson) });
  });
  api.post('/webhooks', admin, async (c) => {
    const input = parseInput(a.newWebhookBody, await readJson(c));
    const { webhook, secret } = await services.webhooks.create(
      { url: input.url, events: input.events, appId: input.app_id },
      c.get('actor'),
    );
    return c.json({ ...webhookJson(webhook), secret }, 201);
  });
  api.delete('/webhooks/:id', admin, async (c) => {
    await services.webhooks.delete(webhookId(c), c.get('actor'));
    return c.json({ deleted: true });
  });
  api.get('/webhooks/:id/deliveries', admin, async (c) => {
    const id = webhookId(c);
    const { limit, cursor } = parseInput(a.pageQuery, c.req.query(), 'query');
    const rows = await services.webhooks.deliveries(id, limit, cursor);
    return c.json({
      items: rows.map(deliveryJson),
      next_cursor: rows.length === limit ? String(rows[rows.length - 1]!.id) : null,
    });
  });
  api.post('/webhooks/:id/test', admin, async (c) => {
    const delivery = await services.webhooks.test(webhookId(c), c.get('actor'));
    return c.json(deliveryJson(delivery), 202);
  });
}
