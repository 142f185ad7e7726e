/**
 * The adoption chart: a stacked area of devices per bundle version over time, drawn by uPlot (a
 * small canvas library made for time series). Loaded lazily (insight.tsx), so uPlot stays out of
 * the dashboard's first load.
 */
import { useEffect, useRef } from 'react';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import type { AdoptionJson } from './api.js';
import { useWidth } from './hooks.js';
import { colourOf } from './version-colours.js';

/**
 * uPlot has no stacking of its own: each version's series is the running sum up to it (oldest
 * at the bottom), filled down to zero and drawn top first, so each band shows one version; the
 * legend and the cursor show each version's own count.
 */
function stacked(adoption: AdoptionJson) {
  const bottomUp = [...adoption.versions].reverse();
  const x = adoption.points.map((point) => Date.parse(point.at) / 1000);
  const own = bottomUp.map((version) => adoption.points.map((point) => point.devices[version] ?? 0));
  const sums: number[][] = [];
  own.forEach((counts, index) =>
    sums.push(counts.map((count, at) => count + (index ? sums[index - 1]![at]! : 0))),
  );
  // Drawn top first: the newest version's band is the top of the stack.
  return {
    x,
    series: bottomUp.map((version, index) => ({ version, own: own[index]!, sum: sums[index]! })).reverse(),
  };
}

export default function AdoptionChart({ adoption }: { adoption: AdoptionJson }) {
  const [box, width] = useWidth<HTMLDivElement>();
  const target = useRef<HTMLDivElement>(null);
  useEffect(() => {
    if (!target.current || width === 0) return;
    const { x, series } = stacked(adoption);
    const hourly = adoption.bucket === 'hour';
    const narrow = width < 520;
    const plot = new uPlot(
      {
        width,
        height: narrow ? 220 : 280,
        cursor: { drag: { x: false, y: false } },
        scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, Math.max(1, max)] } },
        // Buckets are UTC days and hours: so are the axis and its ticks, whatever the browser's zone.
        tzDate: (seconds) => uPlot.tzDate(new Date(seconds * 1000), 'Etc/UTC'),
        axes: [
          {
            stroke: '#637085',
            grid: { stroke: '#eef1f6' },
            ticks: { stroke: '#dfe4ec' },
            incrs: hourly ? [3600, 3 * 3600, 6 * 3600, 12 * 3600, 86400] : [86400, 2 * 86400, 7 * 86400],
            values: (_u, splits) =>
              splits.map((seconds) => {
                const at = new Date(seconds * 1000).toISOString();
                return hourly ? `${at.slice(5, 10)} ${at.slice(11, 13)}h` : at.slice(5, 10);
              }),
          },
          {
            stroke: '#637085',
            grid: { stroke: '#eef1f6' },
            ticks: { stroke: '#dfe4ec' },
            size: narrow ? 44 : 56,
            values: (_u, splits) => splits.map((value) => value.toLocaleString()),
          },
        ],
        // Names only: the exact counts are in the table below, and a phone has no hover.
        legend: { live: false },
        series: [
          {
            label: hourly ? 'Hour' : 'Day',
            value: (_u, seconds) =>
              seconds == null
                ? '–'
                : new Date(seconds * 1000)
                    .toISOString()
                    .slice(0, hourly ? 16 : 10)
                    .replace('T', ' '),
          },
          ...series.map(({ version, own }) => {
            const colour = colourOf(adoption.versions.indexOf(version));
            return {
              label: version,
              stroke: colour,
              fill: `${colour}cc`,
              width: 1,
              points: { show: false },
              value: (_u: uPlot, _v: number | null, _s: number, index: number | null) =>
                index == null ? '–' : own[index]!.toLocaleString(),
            };
          }),
        ],
      },
      [x, ...series.map((s) => s.sum)],
      target.current,
    );
    return () => plot.destroy();
  }, [adoption, width]);
  return (
    <div ref={box} className="adoption-chart" role="img" aria-label="Devices per bundle version over time">
      <div ref={target} />
    </div>
  );
}
