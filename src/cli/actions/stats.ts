import type { Command } from 'commander';
import type { StatsJson } from '../../api-types.js';
import { resolveAppId } from '../capacitor.js';
import { contextOf } from '../context.js';
import { CliError, type CliIo } from '../io.js';
import { emit, table } from '../output.js';

interface StatsOptions {
  app?: string;
  channel?: string;
  since?: string;
  until?: string;
  bucket?: string;
}

const day = (iso: string) => iso.replace('T', ' ').replace(/:\d\d\.\d+Z$/, ' UTC');

/** The statistics as tables: per version, then plugin versions in the field. */
function render(stats: StatsJson): string {
  const heading =
    `App ${stats.app_id}, ${stats.channel ? `channel "${stats.channel}"` : 'all channels'}, ` +
    `events from ${day(stats.since)} to ${day(stats.until)}`;
  const versions = table(
    ['VERSION', 'DEVICES', 'DOWNLOADS', 'INSTALLS', 'DOWNLOAD FAILURES', 'INSTALL FAILURES', 'ROLLBACKS'],
    stats.versions.map((v) => [
      v.version,
      v.devices,
      v.downloads,
      v.installs,
      v.download_failures,
      v.install_failures,
      v.rollbacks,
    ]),
  );
  const plugins = table(
    ['PLUGIN VERSION', 'DEVICES'],
    stats.plugin_versions.map((p) => [p.plugin_version, p.devices]),
  );
  return `${heading}\n\n${versions}\n\nPlugin versions in the field:\n${plugins}`;
}

export async function stats(io: CliIo, options: StatsOptions, command: Command): Promise<void> {
  const ctx = contextOf(io, command);
  if (options.bucket !== undefined && options.bucket !== 'hour' && options.bucket !== 'day')
    throw new CliError('--bucket must be hour or day');
  const appId = await resolveAppId(io.cwd, options.app);
  const stats = await (
    await ctx.api()
  ).get<StatsJson>(`/apps/${encodeURIComponent(appId)}/stats`, {
    channel: options.channel,
    since: options.since,
    until: options.until,
    bucket: options.bucket,
  });
  emit(io, ctx.json, stats, render);
}
