import type { Context, Hono } from 'hono';
import { z } from 'zod';
import { RELEASE_EVENTS } from '../services/events.js';
import type { Services } from '../services/index.js';
import { requireScope, type AdminEnv } from './auth.js';
import { parseInput, readJson } from './errors.js';
import * as s from './schemas.js';
import { deliveryJson, webhookJson } from './serialize.js';

const webhookId = (c: Context<AdminEnv>) =>
  parseInput(z.coerce.number().int().positive(), c.req.param('id'), 'webhook id');

const newWebhook = z
  .object({
    url: z.url({ protocol: /^https?$/, error: 'expected an http(s) URL' }).max(2048),
    /** '*' (the default) or some of the release events. */
    events: z
      .union([
        z.literal('*'),
        z
          .array(z.enum(RELEASE_EVENTS))
          .min(1)
          .max(RELEASE_EVENTS.length * 2),
      ])
      .default('*'),
    /** Only this app's events; absent or null for every app. */
    app_id: s.appId.nullable().optional(),
  })
  .strict();

/** Webhooks under /api/v1/webhooks: configuration, delivery log and test sends, for admin tokens. */
export function registerWebhookRoutes(api: Hono<AdminEnv>, services: Services): void {
  const admin = requireScope('admin');

  api.get('/webhooks', admin, async (c) => {
    const { app } = parseInput(z.object({ app: s.appId.optional() }), c.req.query(), 'query');
    return c.json({ items: (await services.webhooks.list(app)).map(webhookJson) });
  });
  api.post('/webhooks', admin, async (c) => {
    const input = parseInput(newWebhook, await readJson(c));
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
    const { limit, cursor } = parseInput(
      z.object({ limit: s.pageLimit, cursor: s.cursorId }),
      c.req.query(),
      'query',
    );
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
