import { lookup as dnsLookup } from 'node:dns/promises';
import http from 'node:http';
import https from 'node:https';
import { isIP, type LookupFunction } from 'node:net';
import type { Logger } from 'pino';
import { webhookSignature } from '../crypto/webhooks.js';
import { normalizeHost, WebhookTargetPolicy } from '../domain/webhook-targets.js';
import type { AttemptResult, DueDelivery, WebhooksRepo } from '../db/webhooks.js';
import { now } from '../db/time.js';
import { isDatabaseUnavailable } from '../db/unavailable.js';
import type { Metrics } from '../metrics/registry.js';

/** After the n-th failed attempt, wait the n-th delay; after the last, the delivery has failed. */
const DEFAULT_RETRY_DELAYS_MS = [5_000, 30_000, 120_000, 600_000, 3_600_000];

/** An address a name resolves to, as `dns.lookup` gives it. */
export interface ResolvedAddress {
  address: string;
  family: number;
}

/** Every address a host name resolves to (`dns.lookup` with `all: true` unless replaced). */
export type WebhookResolver = (hostname: string) => Promise<ResolvedAddress[]>;

export interface WebhookDeliveryOptions {
  /** Waits between attempts; `retryDelaysMs.length + 1` attempts in all (6 by default). */
  retryDelaysMs?: number[];
  /** How long one attempt may take, answer included (10 s by default). */
  timeoutMs?: number;
  /** Attempts in flight at once (8 by default). */
  concurrency?: number;
  /** How often the database is looked at even when nothing woke the dispatcher (15 s by default). */
  pollMs?: number;
  /** How receivers' names are resolved (tests answer a public-looking name with a loopback address). */
  lookup?: WebhookResolver;
}

/** How much longer than an attempt's timeout its claim on a delivery lasts. */
const LEASE_MARGIN_MS = 30_000;
/** How soon the dispatcher looks again after it failed to read or claim deliveries. */
const RETRY_AFTER_FAILURE_MS = 5_000;

const systemResolver: WebhookResolver = (hostname) => dnsLookup(hostname, { all: true, verbatim: true });

/**
 * A receiver the target policy refuses. The delivery fails at once rather than after the whole
 * schedule: the policy will not change before the next attempt, and a name that resolves inside the
 * network is not to be asked again and again.
 */
class RefusedTarget extends Error {}

const isoIn = (ms: number) => new Date(Date.now() + ms).toISOString();

/**
 * Sends pending webhook deliveries. Everything it works from is in the database, so deliveries
 * survive restarts and several instances can share the work: an instance takes a delivery for one
 * attempt with a conditional update (a lease), sends it, and records the outcome: a 2xx delivers it;
 * anything else, a network error or a timeout schedules the next attempt, until the last one marks it
 * failed; a receiver the target policy refuses (an internal address) fails at once. `wake()` looks for
 * due deliveries at once; a timer catches retries and other instances' work.
 */
export class WebhookDispatcher {
  readonly retryDelaysMs: number[];
  readonly maxAttempts: number;
  private readonly timeoutMs: number;
  private readonly concurrency: number;
  private readonly pollMs: number;
  private readonly resolve: WebhookResolver;
  private running = false;
  private again = false;
  private timer: NodeJS.Timeout | undefined;
  private pumping: Promise<void> | undefined;
  private readonly inFlight = new Map<number, { controller: AbortController; done: Promise<void> }>();

  constructor(
    private readonly repo: WebhooksRepo,
    private readonly log: Logger,
    private readonly targets: WebhookTargetPolicy = new WebhookTargetPolicy(),
    options: WebhookDeliveryOptions = {},
    private readonly metrics?: Metrics,
  ) {
    this.retryDelaysMs = options.retryDelaysMs ?? DEFAULT_RETRY_DELAYS_MS;
    this.maxAttempts = this.retryDelaysMs.length + 1;
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.concurrency = options.concurrency ?? 8;
    this.pollMs = options.pollMs ?? 15_000;
    this.resolve = options.lookup ?? systemResolver;
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
    const signal = AbortSignal.any([stopping, timeout]);
    let status: number | null = null;
    let error: string | null = null;
    let final = false;
    try {
      const url = new URL(delivery.url);
      const addresses = await this.checkedAddresses(url, signal);
      status = await post(url, addresses, signal, delivery.payload, {
        'content-type': 'application/json',
        'user-agent': 'Overair-Webhooks',
        'x-overair-event': delivery.event,
        'x-overair-delivery': String(delivery.id),
        'x-overair-timestamp': String(timestamp),
        'x-overair-signature': webhookSignature(delivery.secret, timestamp, delivery.payload),
      });
      // Only the status is kept, never the answer's body: whatever a receiver says stays with it.
      // A redirect is not a delivery (and is never followed): the receiver must answer at its URL.
      if (status < 200 || status > 299)
        error = `HTTP ${status}${status >= 300 && status <= 399 ? ' (redirects are not followed)' : ''}`;
    } catch (caught) {
      if (stopping.aborted) {
        await this.repo.release(delivery.id, now());
        return;
      }
      if (caught instanceof RefusedTarget) {
        error = caught.message;
        final = true;
      } else error = timeout.aborted ? `timed out after ${this.timeoutMs} ms` : requestErrorText(caught);
    }
    const result = this.outcome(delivery.attempts + 1, status, error, final);
    await this.repo.recordAttempt(delivery.id, result);
    this.metrics?.webhookDelivery(
      result.status === 'delivered' ? 'delivered' : result.status === 'failed' ? 'failed' : 'retrying',
    );
    const entry = { delivery: delivery.id, webhook: delivery.webhook_id, event: delivery.event, status };
    if (result.status === 'failed')
      this.log.warn({ ...entry, attempts: result.attempts, error }, 'webhook delivery failed for good');
    else if (result.status === 'pending')
      this.log.info({ ...entry, attempts: result.attempts, error }, 'webhook delivery failed, will retry');
    else this.log.debug(entry, 'webhook delivered');
  }

  /**
   * The addresses this attempt may connect to: the URL's own when it is an address, else every one its
   * name resolves to now, each checked against the policy. The request then connects to these and
   * nothing else, so a name cannot answer a public address to the check and an internal one to the
   * connection (DNS rebinding). Webhooks stored before a rule existed are checked here too.
   */
  private async checkedAddresses(url: URL, signal: AbortSignal): Promise<ResolvedAddress[]> {
    const problem = this.targets.urlProblem(url);
    if (problem) throw new RefusedTarget(`refused: ${problem.reason}`);
    const host = normalizeHost(url.hostname);
    const family = isIP(host);
    const addresses =
      family === 0 ? await abortable(this.resolve(host), signal) : [{ address: host, family }];
    if (addresses.length === 0) throw new Error('ENOTFOUND');
    for (const { address } of addresses) {
      const refused = this.targets.addressProblem(host, address);
      if (refused) throw new RefusedTarget(`refused: ${host} resolves to ${address}, ${refused}`);
    }
    return addresses;
  }

  /** `final`: no further attempt, whatever is left of the schedule (a refused receiver). */
  private outcome(
    attempts: number,
    status: number | null,
    error: string | null,
    final = false,
  ): AttemptResult {
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
    const last = final || attempts >= this.maxAttempts;
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

/**
 * One POST, connected to exactly the addresses given (the lookup answers with them instead of asking
 * DNS again); resolves to the answer's status. The body is never read: the connection is closed once
 * the status line and headers are in. No agent, so no pooled connection outlives its check.
 */
function post(
  url: URL,
  addresses: ResolvedAddress[],
  signal: AbortSignal,
  body: string,
  headers: Record<string, string>,
): Promise<number> {
  const pinned: LookupFunction = (_hostname, options, callback) => {
    if (options.all) callback(null, addresses);
    else callback(null, addresses[0]!.address, addresses[0]!.family);
  };
  const transport = url.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const request = transport.request(
      url,
      {
        method: 'POST',
        headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) },
        agent: false,
        lookup: pinned,
        signal,
      },
      (response) => {
        resolve(response.statusCode ?? 0);
        // Closing a half-read answer may report the reset; the status is all that was wanted.
        response.on('error', () => undefined);
        response.destroy();
      },
    );
    request.on('error', reject);
    request.end(body);
  });
}

/** Waits for `promise` unless the signal aborts first (a DNS lookup cannot be cancelled itself). */
function abortable<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason as Error);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason as Error);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

/** How long an error kept in `last_error` may be: a reason, not a report. */
const ERROR_CHARS = 200;

/** A short reason for a failed request: the system's code (ECONNREFUSED, ENOTFOUND, ...) when there is one. */
function requestErrorText(error: unknown): string {
  const { code, message } = (error ?? {}) as { code?: string; message?: string };
  return (code ?? message ?? String(error)).slice(0, ERROR_CHARS);
}
