import fs from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { METRICS_PAGE, renderMetricsPage } from '../../scripts/docs/metrics.js';
import { Metrics } from './registry.js';

describe('the metrics', () => {
  it('are exposed in the Prometheus text format, each with its help and type', async () => {
    const metrics = new Metrics();
    metrics.updateCheck(0, 1, '8.1.0');
    metrics.updateCheckDuration(200, 0.0004);
    const { contentType, text } = await metrics.exposition();
    expect(contentType).toBe('text/plain; version=0.0.4; charset=utf-8');
    for (const { name, type } of metrics.describe().filter((metric) => metric.type !== 'gauge')) {
      expect(text).toContain(`# TYPE ${name} ${type}\n`);
      expect(text).toContain(`# HELP ${name} `);
    }
    expect(text).toContain(
      'overair_update_checks_total{plugin="capgo",plugin_major="8",outcome="up_to_date"} 1\n',
    );
    expect(text).toContain(
      'overair_http_request_duration_seconds_bucket{route="/updates",method="POST",status_class="2xx",le="0.0005"} 1\n',
    );
  });

  it('match docs/metrics.md, which names no metric that does not exist', async () => {
    const committed = await fs.readFile(METRICS_PAGE, 'utf8');
    expect(
      committed === (await renderMetricsPage()),
      'docs/metrics.md is out of date with src/metrics/registry.ts: run `npm run docs:metrics` and commit the result',
    ).toBe(true);
    const known = new Set(new Metrics().describe().map((metric) => metric.name));
    const named = [...committed.matchAll(/\boverair_[a-z_]+/g)].map((match) =>
      match[0].replace(/_(bucket|sum|count)$/, ''),
    );
    expect(named.length).toBeGreaterThan(10);
    expect(named.filter((name) => !known.has(name))).toEqual([]);
  });
});
