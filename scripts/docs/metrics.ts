/**
 * Writes the table of metrics in docs/metrics.md, between its markers, from the metrics themselves
 * (src/metrics/registry.ts): `npm run docs:metrics`. src/metrics/registry.spec.ts fails when the
 * committed page differs from what this makes, or names a metric that does not exist.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import * as prettier from 'prettier';
import { Metrics } from '../../src/metrics/registry.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
export const METRICS_PAGE = path.join(ROOT, 'docs/metrics.md');

const START = '<!-- metrics:start (generated from src/metrics/registry.ts by `npm run docs:metrics`) -->';
const END = '<!-- metrics:end -->';

function table(): string {
  const rows = new Metrics().describe().map((metric) => {
    const labels = metric.labels.map(([name, values]) => `\`${name}\`: ${values}`).join('<br>');
    return [`\`${metric.name}\``, metric.type, metric.help, labels || '–'];
  });
  const lines = [['Metric', 'Type', 'What it counts', 'Labels'], ['---', '---', '---', '---'], ...rows];
  return lines
    .map((cells) => `| ${cells.map((cell) => cell.replace(/\|/g, '\\|')).join(' | ')} |`)
    .join('\n');
}

/** The page as it should be committed: the hand-written text, the table between the markers. */
export async function renderMetricsPage(): Promise<string> {
  const page = await fs.readFile(METRICS_PAGE, 'utf8');
  const start = page.indexOf(START);
  const end = page.indexOf(END);
  if (start === -1 || end < start) throw new Error(`${METRICS_PAGE}: the metrics markers are missing`);
  const text = `${page.slice(0, start)}${START}\n\n${table()}\n\n${page.slice(end)}`;
  const options = await prettier.resolveConfig(METRICS_PAGE);
  return prettier.format(text, { ...options, filepath: METRICS_PAGE });
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  await fs.writeFile(METRICS_PAGE, await renderMetricsPage());
  console.log(`wrote ${path.relative(process.cwd(), METRICS_PAGE)}`);
}
