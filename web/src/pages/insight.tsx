import { lazy, Suspense, useState } from 'react';
import { enc, withQuery, type AdoptionJson, type GroupHealthJson, type ReleaseHealthJson } from '../api.js';
import { Badge, Card, Empty, ErrorBox, formatPercent, Loading } from '../components.js';
import { useApi, useWidth } from '../hooks.js';
import { colourOf } from '../version-colours.js';

// uPlot and its stylesheet load with the first chart, not with the dashboard.
const AdoptionChart = lazy(() => import('../adoption-chart.js'));

type Bucket = 'hour' | 'day';
/** The periods offered: points per day over 30 or 7 days, per hour over 48 hours. */
const PERIODS = {
  '30d': { bucket: 'day', label: 'Per day, 30 days' },
  '7d': { bucket: 'day', label: 'Per day, 7 days' },
  '48h': { bucket: 'hour', label: 'Per hour, 48 hours' },
} as const satisfies Record<string, { bucket: Bucket; label: string }>;
type Period = keyof typeof PERIODS;

/** "12-07" for a day, "12-07 14:00" for an hour (UTC): short enough for a phone's table. */
const when = (at: string, bucket: Bucket) =>
  bucket === 'hour' ? at.slice(5, 16).replace('T', ' ') : at.slice(5, 10);

/** Devices per bundle version over time, as a stacked area and as a table; the release's installs. */
export function AdoptionCard({ appId, channel }: { appId: string; channel: string }) {
  const [period, setPeriod] = useState<Period>('30d');
  const route = withQuery(`/apps/${enc(appId)}/channels/${enc(channel)}/adoption`, {
    bucket: PERIODS[period].bucket,
    since: period,
  });
  const adoption = useApi<AdoptionJson>(route);
  // The previous period's answer is not shown while the next one loads.
  const a = adoption.loading ? undefined : adoption.data;
  const empty = a && a.versions.length === 0;
  return (
    <Card
      title="Adoption"
      className="span-2 insight"
      actions={
        <select
          aria-label="Period"
          value={period}
          onChange={(event) => setPeriod(event.target.value as Period)}
        >
          {Object.entries(PERIODS).map(([value, { label }]) => (
            <option key={value} value={value}>
              {label}
            </option>
          ))}
        </select>
      }
    >
      <ErrorBox error={adoption.error} />
      {!a && !adoption.error && <Loading />}
      {empty && <Empty>No device has checked in on this channel yet.</Empty>}
      {a && !empty && (
        <div data-testid="adoption">
          <p className="muted">
            Devices running each bundle at the end of each {a.bucket} (UTC), from what they reported.
          </p>
          <Suspense fallback={<Loading what="Loading the chart" />}>
            <AdoptionChart adoption={a} />
          </Suspense>
          {a.release && (
            <p data-testid="release-installs">
              <strong>{a.release.installs.toLocaleString()}</strong> devices installed {a.release.version}
              {a.release.since
                ? ` since it went live on ${a.release.since.slice(0, 16).replace('T', ' ')} UTC`
                : ''}
              .
            </p>
          )}
          <AdoptionTable adoption={a} />
        </div>
      )}
    </Card>
  );
}

/** The same numbers as the chart, newest bucket first (the chart's table, for reading exact counts). */
function AdoptionTable({ adoption }: { adoption: AdoptionJson }) {
  const installs = new Map(adoption.release?.points.map((point) => [point.at, point.installs]));
  return (
    <details className="insight-table">
      <summary>Numbers</summary>
      <div className="table-wrap">
        <table>
          <thead>
            <tr>
              <th>{adoption.bucket === 'hour' ? 'Hour' : 'Day'}</th>
              {adoption.versions.map((version, index) => (
                <th key={version}>
                  <span
                    className="swatch"
                    ref={(el) => el?.style.setProperty('background', colourOf(index))}
                  />
                  {version}
                </th>
              ))}
              {adoption.release && <th>Installs of {adoption.release.version}</th>}
            </tr>
          </thead>
          <tbody>
            {[...adoption.points].reverse().map((point) => (
              <tr key={point.at}>
                <td>{when(point.at, adoption.bucket)}</td>
                {adoption.versions.map((version) => (
                  <td key={version} className="num">
                    {(point.devices[version] ?? 0).toLocaleString()}
                  </td>
                ))}
                {adoption.release && <td className="num">{installs.get(point.at)?.toLocaleString()}</td>}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </details>
  );
}

const VERDICT: Record<NonNullable<ReleaseHealthJson['verdict']>, string> = {
  worse: 'fails more than its control',
  no_evidence: 'no evidence it fails more',
  too_few_devices: 'too few devices to judge',
};

/** The release's failure rate with its 95% interval, next to its control group and the release it replaced. */
export function HealthCard({ appId, channel }: { appId: string; channel: string }) {
  const health = useApi<ReleaseHealthJson>(`/apps/${enc(appId)}/channels/${enc(channel)}/health`);
  const h = health.data;
  const groups = h
    ? ([
        ['Release', h.release],
        ['Control', h.control],
        ['Replaced', h.previous],
      ].filter(([, group]) => group) as [string, GroupHealthJson][])
    : [];
  return (
    <Card title="Release health" className="span-2 insight">
      <ErrorBox error={health.error} />
      {!h && !health.error && <Loading />}
      {h && (
        <div data-testid="health">
          <p>
            {h.healthy ? <Badge tone="good">healthy</Badge> : <Badge tone="bad">unhealthy</Badge>}{' '}
            {h.verdict && <Badge tone={h.verdict === 'worse' ? 'bad' : 'plain'}>{VERDICT[h.verdict]}</Badge>}{' '}
            {h.halt_on_evidence ? (
              <span className="muted">Halts on evidence ({h.evidence_min_devices} devices per group).</span>
            ) : (
              <span className="muted">Halt on evidence is off.</span>
            )}
          </p>
          {groups.length === 0 ? (
            <Empty>Nothing is released on this channel.</Empty>
          ) : (
            <>
              <IntervalChart groups={groups} />
              <div className="table-wrap">
                <table>
                  <thead>
                    <tr>
                      <th>Group</th>
                      <th>Version</th>
                      <th>Devices</th>
                      <th>Failed</th>
                      <th>Rate</th>
                      <th>95% interval</th>
                    </tr>
                  </thead>
                  <tbody>
                    {groups.map(([label, group]) => (
                      <tr key={label}>
                        <td>{label}</td>
                        <td>{group.version}</td>
                        <td className="num">{group.devices.toLocaleString()}</td>
                        <td className="num">{group.failed.toLocaleString()}</td>
                        <td className="num">{formatPercent(group.rate)}</td>
                        <td className="num">
                          {formatPercent(group.low)} – {formatPercent(group.high)}
                        </td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
            </>
          )}
          <p className="muted health-reason">{h.reason}</p>
        </div>
      )}
    </Card>
  );
}

/**
 * Each group's failure rate as a dot on its 95% interval, on one scale: two intervals that do not
 * overlap are what the evidence rule halts on. Plain SVG: a handful of marks needs no library.
 */
function IntervalChart({ groups }: { groups: [string, GroupHealthJson][] }) {
  const [ref, width] = useWidth<HTMLDivElement>();
  const row = 34;
  const labelWidth = Math.min(150, Math.max(84, width * 0.28));
  const right = 16;
  const top = 22;
  const span = Math.max(40, width - labelWidth - right);
  // The scale: up to the highest interval end, rounded up to 5%, at least 10%.
  const max = Math.max(0.1, Math.ceil(Math.max(...groups.map(([, g]) => g.high)) * 20) / 20);
  const x = (rate: number) => labelWidth + (Math.min(rate, max) / max) * span;
  const ticks = [0, max / 2, max];
  const height = top + groups.length * row;
  return (
    <div ref={ref} className="chart interval-chart">
      {width > 0 && (
        <svg
          width={width}
          height={height}
          role="img"
          aria-label="Failure rates with their 95% intervals"
          viewBox={`0 0 ${width} ${height}`}
        >
          {ticks.map((tick) => (
            <g key={tick}>
              <line x1={x(tick)} x2={x(tick)} y1={top - 4} y2={height} className="interval-grid" />
              <text x={x(tick)} y={12} textAnchor="middle" className="chart-value">
                {formatPercent(tick)}
              </text>
            </g>
          ))}
          {groups.map(([label, group], index) => {
            const y = top + index * row + row / 2;
            const tone = index === 0 ? 'interval interval-release' : 'interval';
            return (
              <g key={label} className={tone}>
                <title>{`${label} ${group.version}: ${group.failed} of ${group.devices} failed (${formatPercent(group.rate)}, 95% interval ${formatPercent(group.low)} – ${formatPercent(group.high)})`}</title>
                <text
                  x={labelWidth - 8}
                  y={y}
                  textAnchor="end"
                  dominantBaseline="central"
                  className="chart-label"
                >
                  {label} {group.version.length > 10 ? `${group.version.slice(0, 9)}…` : group.version}
                </text>
                <line x1={x(group.low)} x2={x(group.high)} y1={y} y2={y} className="interval-line" />
                <line x1={x(group.low)} x2={x(group.low)} y1={y - 6} y2={y + 6} className="interval-line" />
                <line x1={x(group.high)} x2={x(group.high)} y1={y - 6} y2={y + 6} className="interval-line" />
                <circle cx={x(group.rate)} cy={y} r={4.5} className="interval-dot" />
              </g>
            );
          })}
        </svg>
      )}
    </div>
  );
}
