import { createHmac, randomBytes } from 'node:crypto';

/** A new webhook signing secret: 32 random bytes, prefixed so a leaked one is easy to recognise. */
export function newWebhookSecret(): string {
  return 'whsec_' + randomBytes(32).toString('base64url');
}

/**
 * The `x-overair-signature` header: HMAC-SHA256, keyed by the webhook's secret, of
 * "<unix seconds>.<raw body>". The timestamp is signed too, so a receiver can refuse old replays.
 */
export function webhookSignature(secret: string, timestamp: number, body: string): string {
  return 'sha256=' + createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex');
}
