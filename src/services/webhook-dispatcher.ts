import type { Logger } from 'pino';
import { webhookSignature } from '../crypto/webhooks.js';
import type { AttemptResult, DueDelivery, WebhooksRepo } from '../db/webhooks.js';
import { now } from '../db/time.js';
import { isDatabaseUnavailable } from '../db/unavailable.js';

/** After the n-th failed attempt, wait the n-th delay; after the last, the delivery has failed. */
export const DEFAULT_RETRY_DELAYS_MS = [5_000, 30_000, 120_000, 600_000, 3_600_000];

export interface WebhookDeliveryOptions {
  /** Waits between attempts; `retryDelaysMs.length + 1` attempts in all (6 by default). */
  retryDelaysMs?: number[];
  /** How long one attempt may take, answer included (10 s by default). */
  timeoutMs?: number;
  /** Attempts in flight at once (8 by default). */
  concurrency?: number;
  /** How often the database is looked at even when nothing woke the dispatcher (15 s by default). */
  pollMs?: number;
}

/** How much longer than an attempt's timeout its claim on a delivery lasts. */
const LEASE_MARGIN_MS = 30_000;
/** How soon the dispatcher looks again after it failed to read or claim deliveries. */
const RETRY_AFTER_FAILURE_MS = 5_000;
/** How much of a failed answer's body is kept in `last_error`. */
const ERROR_BODY_CHARS = 200;

const isoIn = (ms: number) => new Date(Date.now() + ms).toISOString();

/**
 * Sends pending webhook deliveries. Everything it works from is in the database, so deliveries
 * survive restarts and several instances can share the work: an instance takes a delivery for one
 * attempt with a conditional update (a lease), sends it, and records the outcome: a 2xx delivers it;
 * anything else, a network error or a timeout schedules the next attempt, until the last one marks it
 * failed. `wake()` looks for due deliveries at once; a timer catches retries and other instances' work.
 */
export class WebhookDispatcher {
  readonly retryDelaysMs: number[];
  readonly maxAttempts: number;
  private readonly timeoutMs: number;
  private readonly concurrency: number;
  private readonly pollMs: number;
  private running = false;
  private again = false;
  private timer: NodeJS.Timeout | undefined;
  private pumping: Promise<void> | undefined;
  private readonly inFlight = new Map<number, { controller: AbortController; done: Promise<void> }>();

  constructor(
    private readonly repo: WebhooksRepo,
    private readonly log: Logger,
    options: WebhookDeliveryOptions = {},
  ) {
    this.retryDelaysMs = options.retryDelaysMs ?? DEFAULT_RETRY_DELAYS_MS;
    this.maxAttempts = this.retryDelaysMs.length + 1;
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.concurrency = options.concurrency ?? 8;
    this.pollMs = options.pollMs ?? 15_000;
  }

  /** Starts sending, beginning with whatever was left pending by an earlier run. */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.wake();
  }

  /** Looks for due deliveries now (after new ones were recorded). */
  wake(): void {
    if (!this.running) return;
    if (this.pumping) {
      this.again = true;
      return;
    }
    clearTimeout(this.timer);
    this.timer = undefined;
    this.pumping = this.pump()
      .catch((error: unknown) => {
        // pump() sets the next timer only when it completes: without this one, a failure (the
        // database unreachable) would stop deliveries until something else woke the dispatcher.
        this.retryLater();
        if (isDatabaseUnavailable(error))
          this.log.warn({ err: error }, 'webhook dispatcher paused: the database cannot be reached');
        else this.log.error({ err: error }, 'webhook dispatcher failed');
      })
      .finally(() => {
        this.pumping = undefined;
        if (this.again) this.wake();
      });
  }

  /**
   * Stops taking deliveries and aborts the attempts in flight; an aborted attempt is handed back
   * without being counted, so the next start sends it again. Resolves once nothing is in flight.
   */
  async stop(): Promise<void> {
    this.running = false;
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.pumping;
    for (const { controller } of this.inFlight.values()) controller.abort();
    await Promise.all([...this.inFlight.values()].map((attempt) => attempt.done));
  }

  private async pump(): Promise<void> {
    do {
      this.again = false;
      while (this.running && this.inFlight.size < this.concurrency) {
        const due = await this.repo.due(now(), this.concurrency - this.inFlight.size);
        let started = 0;
        for (const delivery of due) {
          if (!this.running || this.inFlight.has(delivery.id)) continue;
          const lease = isoIn(this.timeoutMs + LEASE_MARGIN_MS);
          if (!(await this.repo.claim(delivery.id, delivery.next_attempt_at, lease))) continue;
          if (!this.running) {
            await this.repo.release(delivery.id, delivery.next_attempt_at);
            continue;
          }
          this.send(delivery);
          started++;
        }
        if (started === 0) break;
      }
    } while (this.again && this.running);
    await this.scheduleNext();
  }

  /** After a failed look at the database: try again soon, and at the latest at the next poll. */
  private retryLater(): void {
    if (!this.running) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.wake(), Math.min(this.pollMs, RETRY_AFTER_FAILURE_MS));
    this.timer.unref();
  }

  /** A timer for the next due delivery (at most `pollMs` away); none while every slot is busy. */
  private async scheduleNext(): Promise<void> {
    if (!this.running || this.inFlight.size >= this.concurrency) return;
    const next = await this.repo.nextDue();
    const wait = next === undefined ? this.pollMs : Date.parse(next) - Date.now();
    if (!this.running) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.wake(), Math.max(0, Math.min(wait, this.pollMs)));
    this.timer.unref();
  }

  private send(delivery: DueDelivery): void {
    const controller = new AbortController();
    const done = this.attempt(delivery, controller.signal)
      .catch((error: unknown) =>
        this.log.error({ err: error, delivery: delivery.id }, 'webhook delivery could not be recorded'),
      )
      .finally(() => {
        this.inFlight.delete(delivery.id);
        this.wake();
      });
    this.inFlight.set(delivery.id, { controller, done });
  }

  private async attempt(delivery: DueDelivery, stopping: AbortSignal): Promise<void> {
    const timestamp = Math.floor(Date.now() / 1000);
    const timeout = AbortSignal.timeout(this.timeoutMs);
    let status: number | null = null;
    let error: string | null = null;
    try {
      const response = await fetch(delivery.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'user-agent': 'Overair-Webhooks',
          'x-overair-event': delivery.event,
          'x-overair-delivery': String(delivery.id),
          'x-overair-timestamp': String(timestamp),
          'x-overair-signature': webhookSignature(delivery.secret, timestamp, delivery.payload),
        },
        body: delivery.payload,
        // A redirect is not a delivery: the receiver must answer at the configured URL.
        redirect: 'manual',
        signal: AbortSignal.any([stopping, timeout]),
      });
      status = response.status;
      if (status >= 200 && status <= 299) await response.body?.cancel();
      else error = `HTTP ${status}${await bodyExcerpt(response)}`;
    } catch (caught) {
      if (stopping.aborted) {
        await this.repo.release(delivery.id, now());
        return;
      }
      error = timeout.aborted ? `timed out after ${this.timeoutMs} ms` : fetchErrorText(caught);
    }
    const result = this.outcome(delivery.attempts + 1, status, error);
    await this.repo.recordAttempt(delivery.id, result);
    const entry = { delivery: delivery.id, webhook: delivery.webhook_id, event: delivery.event, status };
    if (result.status === 'failed')
      this.log.warn({ ...entry, attempts: result.attempts, error }, 'webhook delivery failed for good');
    else if (result.status === 'pending')
      this.log.info({ ...entry, attempts: result.attempts, error }, 'webhook delivery failed, will retry');
    else this.log.debug(entry, 'webhook delivered');
  }

  private outcome(attempts: number, status: number | null, error: string | null): AttemptResult {
    if (error === null) {
      return {
        status: 'delivered',
        attempts,
        response_status: status,
        last_error: null,
        next_attempt_at: null,
        delivered_at: now(),
      };
    }
    const last = attempts >= this.maxAttempts;
    return {
      status: last ? 'failed' : 'pending',
      attempts,
      response_status: status,
      last_error: error,
      next_attempt_at: last ? null : isoIn(this.retryDelaysMs[attempts - 1] ?? 0),
      delivered_at: null,
    };
  }
}

/** The start of a failed answer's body, to help whoever reads the delivery log. */
async function bodyExcerpt(response: Response): Promise<string> {
  try {
    const reader = response.body?.getReader();
    if (!reader) return '';
    const { value } = await reader.read();
    await reader.cancel();
    const text = Buffer.from(value ?? [])
      .toString('utf8')
      .replace(/\s+/g, ' ')
      .trim()
      .slice(0, ERROR_BODY_CHARS);
    return text ? `: ${text}` : '';
  } catch {
    return '';
  }
}

/** fetch's errors say "fetch failed"; the reason (ECONNREFUSED, ENOTFOUND, ...) is in the cause. */
function fetchErrorText(error: unknown): string {
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ?? cause?.message ?? (error as Error)?.message ?? String(error);
}
