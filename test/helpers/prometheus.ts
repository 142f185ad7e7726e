import { Readable } from 'node:stream';
import { getMetricsFromStream, type PromMetric } from 'prom2javascript';

/**
 * One scrape of /metrics, parsed by a Prometheus text-format parser (prom2javascript), not by
 * prom-client's code: what a scraper reads. (parse-prometheus-text-format was tried first: it merges
 * every labelled histogram series into one, its issue #13, open since 2020.)
 */
export interface Scrape {
  /** The parsed families, by name. */
  families: Map<string, PromMetric>;
  /** The value of the counter or gauge sample with exactly these labels, 0 when absent. */
  value(name: string, labels?: Record<string, string>): number;
  /** A histogram's count for exactly these labels (le aside), 0 when absent. */
  count(name: string, labels?: Record<string, string>): number;
  /** Every series (a histogram's once per label set) as `name{labels}`, for counting them. */
  series(): string[];
}

interface Sample {
  labels: Record<string, string>;
  value?: number;
  count?: number;
}

const matches = (have: Record<string, string>, want: Record<string, string>) =>
  Object.keys(have).length === Object.keys(want).length &&
  Object.entries(want).every(([key, value]) => have[key] === value);

/**
 * prom-client writes `Nan` for its event-loop gauges before their first sample; Prometheus reads it
 * (Go's ParseFloat takes any case), prom2javascript reads no NaN at all. Those lines are set apart
 * here, and any other NaN fails the test.
 */
function withoutNaN(text: string): string {
  const nan = /^([a-z_:][a-z0-9_:]*)(\{.*\})? nan$/i;
  return text
    .split('\n')
    .filter((line) => {
      const name = nan.exec(line)?.[1];
      if (name === undefined) return true;
      if (!name.startsWith('nodejs_eventloop_lag_')) throw new Error(`NaN sample: ${line}`);
      return false;
    })
    .join('\n');
}

export async function parseScrape(text: string): Promise<Scrape> {
  const parsed = await getMetricsFromStream(Readable.from([withoutNaN(text)]));
  const families = new Map(Object.entries(parsed));
  const samples = (name: string) => (families.get(name)?.data ?? []) as Sample[];
  const sample = (name: string, labels: Record<string, string>) =>
    samples(name).find((entry) => matches(entry.labels, labels));
  return {
    families,
    value: (name, labels = {}) => sample(name, labels)?.value ?? 0,
    count: (name, labels = {}) => sample(name, labels)?.count ?? 0,
    series: () =>
      [...families.keys()].flatMap((name) =>
        samples(name).map((entry) => `${name}${JSON.stringify(entry.labels)}`),
      ),
  };
}
