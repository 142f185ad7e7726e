import type { Command } from 'commander';
import type { AdoptionJson, GroupHealthJson, ReleaseHealthJson } from '../../api-types.js';
import { resolveAppId } from '../capacitor.js';
import { contextOf } from '../context.js';
import { CliError, type CliIo } from '../io.js';
import { emit, table } from '../output.js';

const enc = encodeURIComponent;

/** "2026-05-01 14:00" for an hour, "2026-05-01" for a day. */
const moment = (iso: string, bucket: 'hour' | 'day') =>
  bucket === 'hour' ? iso.slice(0, 16).replace('T', ' ') : iso.slice(0, 10);

const percent = (rate: number) => `${(Math.round(rate * 1000) / 10).toFixed(1)}%`;

/** One row per bucket: devices per version (newest first), the total, and the release's installs. */
function renderAdoption(adoption: AdoptionJson): string {
  const heading =
    `App ${adoption.app_id}, channel "${adoption.channel}": devices running each bundle at the end of each ` +
    `${adoption.bucket}, since ${moment(adoption.since, adoption.bucket)}`;
  const installs = new Map(adoption.release?.points.map((point) => [point.at, point.installs]));
  const rows = adoption.points.map((point) => {
    const counts = adoption.versions.map((version) => point.devices[version] ?? 0);
    const total = counts.reduce((sum, count) => sum + count, 0);
    return [
      moment(point.at, adoption.bucket),
      ...counts,
      total,
      ...(adoption.release ? [installs.get(point.at)] : []),
    ];
  });
  const headers = [
    adoption.bucket === 'hour' ? 'HOUR (UTC)' : 'DAY (UTC)',
    ...adoption.versions,
    'TOTAL',
    ...(adoption.release ? [`INSTALLS OF ${adoption.release.version}`] : []),
  ];
  const release = adoption.release
    ? `\n\n${adoption.release.version}: ${adoption.release.installs} devices installed it since ` +
      (adoption.release.since
        ? `${moment(adoption.release.since, 'hour')} UTC (went live)`
        : 'the statistics begin')
    : '';
  return `${heading}\n\n${table(headers, rows)}${release}`;
}

export async function channelAdoption(
  io: CliIo,
  name: string,
  options: { app?: string; bucket?: string; since?: string; version?: string },
  command: Command,
): Promise<void> {
  const ctx = contextOf(io, command);
  if (options.bucket !== undefined && options.bucket !== 'hour' && options.bucket !== 'day')
    throw new CliError('--bucket must be hour or day');
  const appId = await resolveAppId(io.cwd, options.app);
  const adoption = await (
    await ctx.api()
  ).get<AdoptionJson>(`/apps/${enc(appId)}/channels/${enc(name)}/adoption`, {
    bucket: options.bucket,
    since: options.since,
    version: options.version,
  });
  emit(io, ctx.json, adoption, renderAdoption);
}

function groupRow(label: string, group: GroupHealthJson | null) {
  if (!group) return null;
  const hours = `${group.since ? moment(group.since, 'hour') : '…'} – ${group.until ? moment(group.until, 'hour') : 'now'}`;
  return [
    label,
    group.version,
    group.devices,
    group.failed,
    percent(group.rate),
    `${percent(group.low)} – ${percent(group.high)}`,
    hours,
  ];
}

function renderHealth(health: ReleaseHealthJson): string {
  const state = health.healthy ? 'healthy' : 'UNHEALTHY';
  const release = health.release
    ? `${health.release.version}${health.rollout_percent === null ? '' : ` (rollout to ${health.rollout_percent}%)`}`
    : 'nothing';
  const rows = [
    groupRow('release', health.release),
    groupRow('control', health.control),
    groupRow('replaced', health.previous),
  ].filter((row) => row !== null);
  const rules =
    `Evidence rule: ${health.halt_on_evidence ? 'halts' : 'reports only'}, ` +
    `${health.evidence_min_devices} devices per group; verdict: ${health.verdict ?? 'no control group'}` +
    (health.over_threshold ? '; over the failure threshold' : '');
  return (
    `App ${health.app_id}, channel "${health.channel}": ${release}, ${state}\n\n` +
    `${table(['GROUP', 'VERSION', 'DEVICES', 'FAILED', 'RATE', '95% INTERVAL', 'HOURS (UTC)'], rows)}\n\n` +
    `${rules}\n${health.reason}`
  );
}

export async function channelHealth(
  io: CliIo,
  name: string,
  options: { app?: string },
  command: Command,
): Promise<void> {
  const ctx = contextOf(io, command);
  const appId = await resolveAppId(io.cwd, options.app);
  const health = await (
    await ctx.api()
  ).get<ReleaseHealthJson>(`/apps/${enc(appId)}/channels/${enc(name)}/health`);
  emit(io, ctx.json, health, renderHealth);
}
