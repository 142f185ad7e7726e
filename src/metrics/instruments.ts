/**
 * Counters and histograms whose label sets are bounded by construction and whose children are
 * resolved once and then cost a few additions each: what the update check, the hot path, needs.
 *
 * prom-client's own labelled metrics (and their `labels()` children) hash the label values into a
 * string and allocate on every `inc` or `observe`, about 150 ns a call measured here: several of
 * those on every check of every device is not "next to nothing". These keep each child's values in
 * plain fields and a Float64Array, and give prom-client what its registry reads (`get()`), so
 * prom-client still writes the exposition format, next to its default process metrics.
 */

/**
 * The values a label may take: a fixed list (anything else is counted under `other`), or any value, up to `distinct` of them (later ones under `other`): a hostile client
 * cannot grow memory through labels either way.
 */
export type LabelValues = readonly string[] | { distinct: number };

const OTHER = 'other';

export interface InstrumentSpec<L extends string> {
  name: string;
  help: string;
  /** Label names in the order `child()` takes their values, each with the values it may take. */
  labels: Readonly<Record<L, LabelValues>>;
}

/** One sample as prom-client's registry formats it (`metricName` for a histogram's series). */
interface Sample {
  labels: Record<string, string | number>;
  value: number;
  metricName?: string;
}

/** What prom-client's registry reads from a metric at each scrape. */
export interface Collected {
  name: string;
  help: string;
  type: 'counter' | 'histogram';
  aggregator: 'sum';
  values: Sample[];
}

/** Label values as given to `child()`, in the order of the spec's labels. */
type Values<L extends string> = { readonly [K in L]: string };

abstract class Instrument<L extends string, C extends { labels: Record<string, string> }> {
  readonly name: string;
  readonly help: string;
  abstract readonly type: Collected['type'];
  readonly aggregator = 'sum' as const;
  private readonly names: L[];
  private readonly seen: Map<L, Set<string>>;
  protected readonly children = new Map<string, C>();

  constructor(readonly spec: InstrumentSpec<L>) {
    this.name = spec.name;
    this.help = spec.help;
    this.names = Object.keys(spec.labels) as L[];
    this.seen = new Map(this.names.map((name) => [name, new Set<string>()]));
  }

  /**
   * The child of these label values, made on first use: keep it and call it rather than look it up
   * again on a hot path. A value outside the label's list (or past its `distinct` limit) is `other`.
   */
  child(values: Values<L>): C {
    const labels: Record<string, string> = {};
    for (const name of this.names) labels[name] = this.bounded(name, values[name]);
    const key = this.names.map((name) => labels[name]).join('\u0000');
    let child = this.children.get(key);
    if (!child) {
      child = this.make(labels);
      this.children.set(key, child);
    }
    return child;
  }

  /** How many children (label sets) exist: bounded by the product of the labels' bounds. */
  get size(): number {
    return this.children.size;
  }

  private bounded(name: L, value: string): string {
    const allowed = this.spec.labels[name] as LabelValues;
    if (Array.isArray(allowed)) return (allowed as readonly string[]).includes(value) ? value : OTHER;
    const seen = this.seen.get(name)!;
    if (seen.has(value)) return value;
    if (seen.size >= (allowed as { distinct: number }).distinct) return OTHER;
    seen.add(value);
    return value;
  }

  protected abstract make(labels: Record<string, string>): C;

  /** What prom-client's registry formats (called at each scrape). */
  abstract get(): Promise<Collected>;

  /**
   * prom-client's registry may ask (`resetMetrics`): values go back to zero, children stay (callers
   * on the hot path keep them).
   */
  reset(): void {
    for (const child of this.children.values()) this.zero(child);
  }

  protected abstract zero(child: C): void;
}

export class CounterChild {
  value = 0;
  constructor(readonly labels: Record<string, string>) {}

  inc(by = 1): void {
    this.value += by;
  }
}

export class BoundedCounter<L extends string> extends Instrument<L, CounterChild> {
  readonly type = 'counter' as const;

  protected make(labels: Record<string, string>): CounterChild {
    return new CounterChild(labels);
  }

  protected zero(child: CounterChild): void {
    child.value = 0;
  }

  get(): Promise<Collected> {
    const values = [...this.children.values()].map((child) => ({ labels: child.labels, value: child.value }));
    return Promise.resolve({
      name: this.name,
      help: this.help,
      type: this.type,
      aggregator: this.aggregator,
      values,
    });
  }
}

export class HistogramChild {
  /** Observations per bucket (not cumulative; the last one is +Inf). */
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(
    readonly labels: Record<string, string>,
    private readonly bounds: readonly number[],
  ) {
    this.counts = new Float64Array(bounds.length + 1);
  }

  /** One observation, in the histogram's unit: a loop over a dozen bounds, no allocation. */
  observe(value: number): void {
    const bounds = this.bounds;
    let index = 0;
    while (index < bounds.length && value > bounds[index]!) index++;
    this.counts[index]! += 1;
    this.sum += value;
    this.count += 1;
  }
}

export class BoundedHistogram<L extends string> extends Instrument<L, HistogramChild> {
  readonly type = 'histogram' as const;

  constructor(
    spec: InstrumentSpec<L>,
    readonly buckets: readonly number[],
  ) {
    super(spec);
  }

  protected make(labels: Record<string, string>): HistogramChild {
    return new HistogramChild(labels, this.buckets);
  }

  protected zero(child: HistogramChild): void {
    child.counts.fill(0);
    child.sum = 0;
    child.count = 0;
  }

  get(): Promise<Collected> {
    const values: Sample[] = [];
    for (const child of this.children.values()) {
      let cumulative = 0;
      for (let index = 0; index <= this.buckets.length; index++) {
        cumulative += child.counts[index]!;
        const le = index < this.buckets.length ? this.buckets[index]! : '+Inf';
        values.push({
          labels: { ...child.labels, le },
          value: cumulative,
          metricName: `${this.name}_bucket`,
        });
      }
      values.push({ labels: child.labels, value: child.sum, metricName: `${this.name}_sum` });
      values.push({ labels: child.labels, value: child.count, metricName: `${this.name}_count` });
    }
    return Promise.resolve({
      name: this.name,
      help: this.help,
      type: this.type,
      aggregator: this.aggregator,
      values,
    });
  }
}
