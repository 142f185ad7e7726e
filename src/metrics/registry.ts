import { collectDefaultMetrics, Gauge, Registry, type Metric } from 'prom-client';
import {
  BoundedCounter,
  BoundedHistogram,
  type CounterChild,
  type HistogramChild,
  type LabelValues,
} from './instruments.js';
import {
  type CheckOutcome,
  type Plugin,
  CHECK_OUTCOMES,
  PLUGINS,
  PLUGIN_MAJORS,
  pluginMajorIndex,
} from './labels.js';
import { EVENT_ACTIONS, HTTP_METHODS, STATUS_CLASSES } from './labels.js';

/**
 * Every metric an instance exposes at /metrics (docs/metrics.md; its table is generated from the
 * instruments below by `npm run docs:metrics`), and the calls that feed them. One `Metrics` per
 * running server (tests run several in one process), reached as `services.metrics`.
 *
 * For a new metric: add its instrument here (labels with bounded values: a fixed list, or a
 * `distinct` cap; never a raw path, a device id or anything else a client chooses freely), register
 * it in the constructor, give callers a method (or a pre-resolved child for a hot path), run
 * `npm run docs:metrics`.
 */

/** Seconds: an update check answered from memory takes well under a millisecond. */
const DURATION_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10];

/** How many route patterns the request histogram keeps apart (the app registers about a hundred). */
const MAX_ROUTES = 300;

/** What halted a release: the automatic safety (failure rate); add a trigger here for another. */
const HALT_TRIGGERS = ['automatic'] as const;
export type HaltTrigger = (typeof HALT_TRIGGERS)[number];

const WEBHOOK_OUTCOMES = ['delivered', 'retrying', 'failed'] as const;
export type WebhookOutcome = (typeof WEBHOOK_OUTCOMES)[number];

const DOWNLOAD_KINDS = ['bundle', 'file', 'native'] as const;
export type DownloadKind = (typeof DOWNLOAD_KINDS)[number];
const DOWNLOAD_ANSWERS = ['full', 'partial', 'not_modified', 'redirect'] as const;
export type DownloadAnswer = (typeof DOWNLOAD_ANSWERS)[number];

/** The database pool as pg counts it (PostgreSQL only). */
export interface PoolStats {
  total: number;
  idle: number;
  waiting: number;
}

/** One metric as docs/metrics.md lists it. */
export interface MetricDescription {
  name: string;
  type: 'counter' | 'histogram' | 'gauge';
  help: string;
  /** Each label with the values it may take, as text. */
  labels: [string, string][];
}

/** The pool gauge, made only on PostgreSQL (described here for the docs). */
const POOL_GAUGE = {
  name: 'overair_database_pool_connections',
  help: 'Connections of the PostgreSQL pool: total open, idle, and requests waiting for one (not on SQLite).',
  states: ['total', 'idle', 'waiting'],
} as const;

export class Metrics {
  readonly registry = new Registry();

  readonly updateChecks = new BoundedCounter({
    name: 'overair_update_checks_total',
    help: 'Update checks answered, by plugin (protocol), major plugin version and outcome.',
    labels: { plugin: PLUGINS, plugin_major: PLUGIN_MAJORS, outcome: CHECK_OUTCOMES },
  });

  readonly requestDuration = new BoundedHistogram(
    {
      name: 'overair_http_request_duration_seconds',
      help: 'Time to answer a request, by route pattern, method and status class (its _count counts requests).',
      labels: { route: { distinct: MAX_ROUTES }, method: HTTP_METHODS, status_class: STATUS_CLASSES },
    },
    DURATION_BUCKETS,
  );

  readonly downloadBytes = new BoundedCounter({
    name: 'overair_download_bytes_total',
    help: 'Bytes of bundles, delta files and native builds streamed by this server (not presigned redirects).',
    labels: { kind: DOWNLOAD_KINDS },
  });

  readonly downloads = new BoundedCounter({
    name: 'overair_downloads_total',
    help: 'Download requests answered, by kind and answer (full, partial range, not modified, redirect to S3).',
    labels: { kind: DOWNLOAD_KINDS, answer: DOWNLOAD_ANSWERS },
  });

  readonly deviceEvents = new BoundedCounter({
    name: 'overair_device_events_total',
    help: 'Device events (the plugin\'s stats) committed, by action (actions the plugin defines; others are "other").',
    labels: { action: EVENT_ACTIONS },
  });

  readonly cacheLookups = new BoundedCounter({
    name: 'overair_release_cache_lookups_total',
    help: "Lookups of an app's release in memory: a hit answers at once, a miss loads it from the database.",
    labels: { result: ['hit', 'miss'] },
  });

  readonly cacheRefreshes = new BoundedCounter({
    name: 'overair_release_cache_refreshes_total',
    help: 'Releases refreshed past half their TTL: reloaded (their stamp moved), unchanged, or failed.',
    labels: { result: ['reloaded', 'unchanged', 'failed'] },
  });

  readonly databaseErrors = new BoundedCounter({
    name: 'overair_database_errors_total',
    help: 'Failed database queries: the database unreachable, or any other error.',
    labels: { kind: ['unavailable', 'other'] },
  });

  readonly webhookDeliveries = new BoundedCounter({
    name: 'overair_webhook_deliveries_total',
    help: 'Webhook delivery attempts: delivered, failed and retried later, or failed for good.',
    labels: { outcome: WEBHOOK_OUTCOMES },
  });

  readonly releaseHalts = new BoundedCounter({
    name: 'overair_release_halts_total',
    help: 'Releases halted (the channel rolled back), by what decided it: `automatic`, the failure rate.',
    labels: { trigger: HALT_TRIGGERS },
  });

  /** The update check's counters by [plugin][outcome][plugin major], made on first use. */
  private readonly checkChildren: (CounterChild | undefined)[][][];
  /** The update check's durations (POST /updates) by status class index (status / 100). */
  private readonly updatesDuration: (HistogramChild | undefined)[] = [];
  private readonly instruments: (BoundedCounter<string> | BoundedHistogram<string>)[];
  private readonly cacheHit: CounterChild;
  private readonly cacheMiss: CounterChild;
  private processMetrics = false;
  private pool: Gauge | undefined;

  constructor() {
    this.instruments = [
      this.updateChecks,
      this.requestDuration,
      this.downloadBytes,
      this.downloads,
      this.deviceEvents,
      this.cacheLookups,
      this.cacheRefreshes,
      this.databaseErrors,
      this.webhookDeliveries,
      this.releaseHalts,
    ];
    for (const instrument of this.instruments) {
      // prom-client's registry reads `name`, `get()` and `reset()`, which these provide.
      this.registry.registerMetric(instrument as unknown as Metric);
    }
    this.checkChildren = PLUGINS.map(() => CHECK_OUTCOMES.map(() => []));
    this.cacheHit = this.cacheLookups.child({ result: 'hit' });
    this.cacheMiss = this.cacheLookups.child({ result: 'miss' });
    // Present from the start, so that rate() and alerts see them before the first event.
    for (const outcome of WEBHOOK_OUTCOMES) this.webhookDeliveries.child({ outcome });
    for (const trigger of HALT_TRIGGERS) this.releaseHalts.child({ trigger });
  }

  /**
   * One update check answered (the hot path): an array lookup and an addition once the child exists,
   * no allocation, no string built. `pluginVersion` is read for its major number only.
   */
  updateCheck(plugin: Plugin, outcome: CheckOutcome, pluginVersion: string): void {
    const major = pluginMajorIndex(pluginVersion);
    const row = this.checkChildren[plugin]![outcome]!;
    let child = row[major];
    if (child === undefined) {
      child = this.updateChecks.child({
        plugin: PLUGINS[plugin]!,
        outcome: CHECK_OUTCOMES[outcome]!,
        plugin_major: PLUGIN_MAJORS[major]!,
      });
      row[major] = child;
    }
    child.value += 1;
  }

  /** The duration of one POST /updates answered by the Node entrance (the hot path). */
  updateCheckDuration(status: number, seconds: number): void {
    const index = (status / 100) | 0;
    let child = this.updatesDuration[index];
    if (child === undefined) {
      child = this.requestDuration.child({
        route: '/updates',
        method: 'POST',
        status_class: `${index}xx`,
      });
      this.updatesDuration[index] = child;
    }
    child.observe(seconds);
  }

  /** Any other request: `route` is the pattern that matched (never the raw path). */
  request(route: string, method: string, status: number, seconds: number): void {
    this.requestDuration.child({ route, method, status_class: `${(status / 100) | 0}xx` }).observe(seconds);
  }

  cacheLookup(hit: boolean): void {
    (hit ? this.cacheHit : this.cacheMiss).value += 1;
  }

  cacheRefresh(result: 'reloaded' | 'unchanged' | 'failed', apps = 1): void {
    this.cacheRefreshes.child({ result }).inc(apps);
  }

  deviceEvent(action: string): void {
    this.deviceEvents.child({ action }).inc();
  }

  downloaded(kind: DownloadKind, answer: DownloadAnswer): void {
    this.downloads.child({ kind, answer }).inc();
  }

  /** A counter of bytes streamed, to call per chunk (resolved once per download). */
  bytesOf(kind: DownloadKind): CounterChild {
    return this.downloadBytes.child({ kind });
  }

  databaseError(unavailable: boolean): void {
    this.databaseErrors.child({ kind: unavailable ? 'unavailable' : 'other' }).inc();
  }

  webhookDelivery(outcome: WebhookOutcome): void {
    this.webhookDeliveries.child({ outcome }).inc();
  }

  /** A release halted (its channel rolled back), whatever decided it. */
  releaseHalted(trigger: HaltTrigger): void {
    this.releaseHalts.child({ trigger }).inc();
  }

  /**
   * prom-client's default metrics: CPU, memory (RSS, heap), event-loop delay, handles, GC. Only when
   * /metrics is served: they keep an event-loop delay monitor running.
   */
  collectProcessMetrics(): void {
    if (this.processMetrics) return;
    this.processMetrics = true;
    collectDefaultMetrics({ register: this.registry });
  }

  /** The database pool's connections, read at each scrape (PostgreSQL). */
  watchPool(stats: () => PoolStats): void {
    if (this.pool) return;
    this.pool = new Gauge({
      name: POOL_GAUGE.name,
      help: POOL_GAUGE.help,
      labelNames: ['state'],
      registers: [this.registry],
      collect() {
        const { total, idle, waiting } = stats();
        this.set({ state: 'total' }, total);
        this.set({ state: 'idle' }, idle);
        this.set({ state: 'waiting' }, waiting);
      },
    });
  }

  /** The exposition text (Prometheus text format 0.0.4) and its content type. */
  async exposition(): Promise<{ contentType: string; text: string }> {
    return { contentType: this.registry.contentType, text: await this.registry.metrics() };
  }

  /** Every metric of ours with its labels and their values, for docs/metrics.md (`npm run docs:metrics`). */
  describe(): MetricDescription[] {
    const ours = this.instruments.map((instrument) => ({
      name: instrument.name,
      type: instrument.type,
      help: instrument.help,
      labels: Object.entries(instrument.spec.labels).map(
        ([label, values]) => [label, valuesText(values as LabelValues)] as [string, string],
      ),
    }));
    const pool: MetricDescription = {
      name: POOL_GAUGE.name,
      type: 'gauge',
      help: POOL_GAUGE.help,
      labels: [['state', valuesText(POOL_GAUGE.states, false)]],
    };
    return [...ours, pool];
  }
}

/** A label's values as the docs show them: a short list in full, a long one by its first few. */
function valuesText(values: LabelValues, other = true): string {
  if (!Array.isArray(values))
    return `the route's pattern, e.g. \`/api/v1/apps/:appId\` (${(values as { distinct: number }).distinct} at most)`;
  const list = values as readonly string[];
  const shown = list.length > 8 ? [...list.slice(0, 4), '…', ...list.slice(-2)] : list;
  const text = shown.map((value) => (value === '…' ? value : `\`${value}\``)).join(', ');
  const rest = list.length > 8 ? ` (${list.length} values, src/metrics/labels.ts)` : '';
  return other && !list.includes('other') ? `${text}${rest}; else \`other\`` : `${text}${rest}`;
}
