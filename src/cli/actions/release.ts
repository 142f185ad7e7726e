import type { Command } from 'commander';
import type {
  ChannelJson,
  DeviceJson,
  HistoryJson,
  HoldJson,
  Page,
  ReleaseRequestJson,
  RolloutScheduleJson,
} from '../../api-types.js';
import { resolveAppId } from '../capacitor.js';
import { contextOf } from '../context.js';
import { CliError, type CliIo } from '../io.js';
import { emit, fields, table } from '../output.js';

const enc = encodeURIComponent;

const onOff = (value: string): boolean => {
  if (value === 'on' || value === 'true') return true;
  if (value === 'off' || value === 'false') return false;
  throw new CliError(`expected on or off, not "${value}"`);
};

interface ChannelUpdateOptions {
  app?: string;
  selfAssign?: string;
  default?: boolean;
  platforms?: string;
  emulators?: string;
  devBuilds?: string;
  prodBuilds?: string;
  nativePolicy?: string;
  downgrade?: string;
  failureThreshold?: string;
  failureMinDevices?: string;
  haltOnEvidence?: string;
  evidenceMinDevices?: string;
  unregisteredBinaries?: string;
  protected?: string;
}

/** The API's channel settings from `channel update` flags; only the flags given. */
function channelChanges(options: ChannelUpdateOptions): Record<string, unknown> {
  const changes: Record<string, unknown> = {};
  if (options.selfAssign !== undefined) changes.allow_self_assign = onOff(options.selfAssign);
  if (options.default) changes.is_default = true;
  if (options.platforms !== undefined) {
    changes.platforms = options.platforms === 'all' ? [] : options.platforms.split(',').map((p) => p.trim());
  }
  if (options.emulators !== undefined) changes.allow_emulator = onOff(options.emulators);
  if (options.devBuilds !== undefined) changes.allow_dev = onOff(options.devBuilds);
  if (options.prodBuilds !== undefined) changes.allow_prod = onOff(options.prodBuilds);
  if (options.nativePolicy !== undefined) changes.native_policy = options.nativePolicy;
  if (options.downgrade !== undefined) changes.allow_downgrade = onOff(options.downgrade);
  if (options.failureThreshold !== undefined) {
    changes.failure_threshold = options.failureThreshold === 'off' ? null : Number(options.failureThreshold);
  }
  if (options.failureMinDevices !== undefined)
    changes.failure_min_devices = Number(options.failureMinDevices);
  if (options.haltOnEvidence !== undefined) changes.halt_on_evidence = onOff(options.haltOnEvidence);
  if (options.evidenceMinDevices !== undefined)
    changes.evidence_min_devices = Number(options.evidenceMinDevices);
  if (options.unregisteredBinaries !== undefined)
    changes.unregistered_binaries = options.unregisteredBinaries;
  if (options.protected !== undefined) changes.protected = onOff(options.protected);
  return changes;
}

const channelLine = (c: ChannelJson) =>
  `Channel "${c.name}": ${c.version ?? 'no bundle'}` +
  (c.rollout ? `, rolling out ${c.rollout.version} to ${c.rollout.percent}%` : '') +
  (c.is_default ? ' (default)' : '') +
  (c.allow_self_assign ? ' (self-assign)' : '') +
  (c.protected ? ' (protected)' : '');

/** A release on a protected channel of an app with release_approval answers 202 with a request. */
const isRequest = (answer: ChannelJson | ReleaseRequestJson): answer is ReleaseRequestJson =>
  'requested_by' in answer;

/** The channel as changed, or the request made instead (which someone else must approve). */
const releaseLine = (answer: ChannelJson | ReleaseRequestJson) =>
  isRequest(answer)
    ? `Channel "${answer.channel}" is protected: release request ${answer.id} waits for someone with the release role ` +
      `(overair release approve ${answer.id}); it expires at ${answer.expires_at}`
    : channelLine(answer);

export async function channelCreate(
  io: CliIo,
  name: string,
  options: { app?: string; default?: boolean; selfAssign?: boolean; protected?: boolean },
  command: Command,
): Promise<void> {
  const ctx = contextOf(io, command);
  const appId = await resolveAppId(io.cwd, options.app);
  const created = await (
    await ctx.api()
  ).post<ChannelJson>(`/apps/${enc(appId)}/channels`, {
    name,
    ...(options.default && { is_default: true }),
    allow_self_assign: Boolean(options.selfAssign),
    ...(options.protected && { protected: true }),
  });
  emit(io, ctx.json, created, (c) => `Created ${channelLine(c)}`);
}

export async function channelList(io: CliIo, options: { app?: string }, command: Command): Promise<void> {
  const ctx = contextOf(io, command);
  const appId = await resolveAppId(io.cwd, options.app);
  const { items } = await (await ctx.api()).get<Page<ChannelJson>>(`/apps/${enc(appId)}/channels`);
  emit(io, ctx.json, items, (rows) =>
    table(
      ['CHANNEL', 'LIVE', 'ROLLOUT', 'DEFAULT', 'SELF-ASSIGN', 'PLATFORMS', 'PROTECTED'],
      rows.map((c) => [
        c.name,
        c.version,
        c.rollout ? `${c.rollout.version} ${c.rollout.percent}%` : null,
        c.is_default,
        c.allow_self_assign,
        c.platforms.length ? c.platforms.join(',') : 'all',
        c.protected,
      ]),
    ),
  );
}

export async function channelInfo(
  io: CliIo,
  name: string,
  options: { app?: string },
  command: Command,
): Promise<void> {
  const ctx = contextOf(io, command);
  const appId = await resolveAppId(io.cwd, options.app);
  emit(
    io,
    ctx.json,
    await (await ctx.api()).get<ChannelJson>(`/apps/${enc(appId)}/channels/${enc(name)}`),
    (c) => fields({ ...c }),
  );
}

export async function channelSet(
  io: CliIo,
  name: string,
  version: string,
  options: { app?: string },
  command: Command,
): Promise<void> {
  const ctx = contextOf(io, command);
  const appId = await resolveAppId(io.cwd, options.app);
  const updated = await (
    await ctx.api()
  ).put<ChannelJson | ReleaseRequestJson>(`/apps/${enc(appId)}/channels/${enc(name)}/bundle`, { version });
  emit(io, ctx.json, updated, releaseLine);
}

export async function channelRollback(
  io: CliIo,
  name: string,
  options: { app?: string; reason?: string },
  command: Command,
): Promise<void> {
  const ctx = contextOf(io, command);
  const appId = await resolveAppId(io.cwd, options.app);
  const updated = await (
    await ctx.api()
  ).post<ChannelJson>(`/apps/${enc(appId)}/channels/${enc(name)}/rollback`, {
    reason: options.reason,
  });
  emit(io, ctx.json, updated, (c) => `Rolled back: ${channelLine(c)}`);
}

export async function channelHistory(
  io: CliIo,
  name: string,
  options: { app?: string; limit: string },
  command: Command,
): Promise<void> {
  const ctx = contextOf(io, command);
  const appId = await resolveAppId(io.cwd, options.app);
  const { items } = await (
    await ctx.api()
  ).get<Page<HistoryJson>>(`/apps/${enc(appId)}/channels/${enc(name)}/history`, { limit: options.limit });
  emit(io, ctx.json, items, (rows) =>
    table(
      ['AT', 'ACTION', 'VERSION', 'PREVIOUS', 'BY', 'REASON'],
      rows.map((h) => [h.at, h.action, h.version, h.previous_version, h.actor, h.reason]),
    ),
  );
}

export async function channelUpdate(
  io: CliIo,
  name: string,
  options: ChannelUpdateOptions,
  command: Command,
): Promise<void> {
  const ctx = contextOf(io, command);
  const appId = await resolveAppId(io.cwd, options.app);
  const changes = channelChanges(options);
  if (Object.keys(changes).length === 0) throw new CliError('nothing to change: see --help for the settings');
  const updated = await (
    await ctx.api()
  ).patch<ChannelJson>(`/apps/${enc(appId)}/channels/${enc(name)}`, changes);
  emit(io, ctx.json, updated, (c) => `Updated ${channelLine(c)}`);
}

export async function channelRollout(
  io: CliIo,
  name: string,
  version: string,
  options: { app?: string; percent?: string; steps?: string },
  command: Command,
): Promise<void> {
  const ctx = contextOf(io, command);
  if ((options.percent === undefined) === (options.steps === undefined))
    throw new CliError('give either --percent or --steps');
  const appId = await resolveAppId(io.cwd, options.app);
  const route = `/apps/${enc(appId)}/channels/${enc(name)}/rollout`;
  if (options.steps !== undefined) {
    // The server reads the steps (one set of rules) and names what is wrong with them.
    const started = await (
      await ctx.api()
    ).post<ChannelJson & { schedule: RolloutScheduleJson }>(route, { version, steps: options.steps });
    emit(io, ctx.json, started, (c) => `${channelLine(c)}\n${scheduleText(c.schedule)}`);
    return;
  }
  const percent = Number(options.percent);
  if (!Number.isFinite(percent) || percent <= 0 || percent > 100)
    throw new CliError('--percent must be a number above 0, at most 100');
  const updated = await (await ctx.api()).post<ChannelJson | ReleaseRequestJson>(route, { version, percent });
  emit(io, ctx.json, updated, releaseLine);
}

/** A schedule for people: its steps, where it is, and what comes next (or how it ended). */
function scheduleText(s: RolloutScheduleJson): string {
  const lines = [
    `Schedule of ${s.version}: ${s.steps}`,
    `Step ${s.current_step} of ${s.step_list.length} (${s.percent}%) since ${s.step_started_at}, ${s.state}`,
  ];
  if (s.next_step_at) {
    const next = s.step_list[s.current_step];
    lines.push(
      `Next: ${next?.percent ?? 100}% at ${s.next_step_at} or the tick after, if the release is healthy`,
    );
  }
  if (s.reason) lines.push(`Why it ended: ${s.reason}`);
  return lines.join('\n');
}

export async function channelScheduleShow(
  io: CliIo,
  name: string,
  options: { app?: string },
  command: Command,
): Promise<void> {
  const ctx = contextOf(io, command);
  const appId = await resolveAppId(io.cwd, options.app);
  const schedule = await (
    await ctx.api()
  ).get<RolloutScheduleJson>(`/apps/${enc(appId)}/channels/${enc(name)}/schedule`);
  emit(io, ctx.json, schedule, scheduleText);
}

export async function channelScheduleCancel(
  io: CliIo,
  name: string,
  options: { app?: string },
  command: Command,
): Promise<void> {
  const ctx = contextOf(io, command);
  const appId = await resolveAppId(io.cwd, options.app);
  const schedule = await (
    await ctx.api()
  ).delete<RolloutScheduleJson>(`/apps/${enc(appId)}/channels/${enc(name)}/schedule`);
  emit(io, ctx.json, schedule, (s) => `Cancelled: ${scheduleText(s)}`);
}

export async function channelDelete(
  io: CliIo,
  name: string,
  options: { app?: string },
  command: Command,
): Promise<void> {
  const ctx = contextOf(io, command);
  const appId = await resolveAppId(io.cwd, options.app);
  await (await ctx.api()).delete(`/apps/${enc(appId)}/channels/${enc(name)}`);
  emit(io, ctx.json, { deleted: name }, () => `Deleted channel "${name}"`);
}

export async function deviceList(
  io: CliIo,
  options: { app?: string; channel?: string; version?: string; platform?: string; limit: string },
  command: Command,
): Promise<void> {
  const ctx = contextOf(io, command);
  const appId = await resolveAppId(io.cwd, options.app);
  const { items } = await (
    await ctx.api()
  ).get<Page<DeviceJson>>(`/apps/${enc(appId)}/devices`, {
    channel: options.channel,
    version: options.version,
    platform: options.platform,
    limit: options.limit,
  });
  emit(io, ctx.json, items, (rows) =>
    table(
      ['DEVICE', 'PLATFORM', 'BUNDLE', 'NATIVE', 'CHANNEL', 'OVERRIDE', 'PLUGIN', 'LAST SEEN'],
      rows.map((d) => [
        d.device_id,
        d.platform,
        d.version_name,
        d.version_build,
        d.channel,
        d.channel_override,
        d.plugin_version,
        d.last_seen,
      ]),
    ),
  );
}

export async function deviceInfo(
  io: CliIo,
  deviceId: string,
  options: { app?: string },
  command: Command,
): Promise<void> {
  const ctx = contextOf(io, command);
  const appId = await resolveAppId(io.cwd, options.app);
  emit(
    io,
    ctx.json,
    await (await ctx.api()).get<DeviceJson>(`/apps/${enc(appId)}/devices/${enc(deviceId)}`),
    (d) => fields({ ...d }),
  );
}

export async function deviceSetChannel(
  io: CliIo,
  deviceId: string,
  name: string,
  options: { app?: string },
  command: Command,
): Promise<void> {
  const ctx = contextOf(io, command);
  const appId = await resolveAppId(io.cwd, options.app);
  const updated = await (
    await ctx.api()
  ).put<DeviceJson>(`/apps/${enc(appId)}/devices/${enc(deviceId)}/channel`, { channel: name });
  emit(io, ctx.json, updated, (d) => `Device ${d.device_id} is pinned to channel "${d.channel_override}"`);
}

export async function deviceUnsetChannel(
  io: CliIo,
  deviceId: string,
  options: { app?: string },
  command: Command,
): Promise<void> {
  const ctx = contextOf(io, command);
  const appId = await resolveAppId(io.cwd, options.app);
  const updated = await (
    await ctx.api()
  ).delete<DeviceJson>(`/apps/${enc(appId)}/devices/${enc(deviceId)}/channel`);
  emit(io, ctx.json, updated, (d) => `Device ${d.device_id} follows the normal channel rules again`);
}

export async function deviceHolds(
  io: CliIo,
  options: { app?: string; device?: string },
  command: Command,
): Promise<void> {
  const ctx = contextOf(io, command);
  const appId = await resolveAppId(io.cwd, options.app);
  const { items } = await (
    await ctx.api()
  ).get<Page<HoldJson>>(`/apps/${enc(appId)}/holds`, { device: options.device });
  emit(io, ctx.json, items, (rows) =>
    table(
      ['DEVICE', 'VERSION', 'HELD', 'INSTALL FAILS', 'DOWNLOAD FAILS', 'LAST', 'AT'],
      rows.map((h) => [
        h.device_id,
        h.version,
        h.held,
        h.install_failures,
        h.download_failures,
        h.last_action,
        h.last_at,
      ]),
    ),
  );
}

export async function deviceClearHold(
  io: CliIo,
  deviceId: string,
  options: { app?: string; version?: string },
  command: Command,
): Promise<void> {
  const ctx = contextOf(io, command);
  const appId = await resolveAppId(io.cwd, options.app);
  const route = `/apps/${enc(appId)}/devices/${enc(deviceId)}/holds${options.version ? `?version=${enc(options.version)}` : ''}`;
  const result = await (await ctx.api()).delete<{ cleared: number }>(route);
  emit(io, ctx.json, result, (r) => `Cleared ${r.cleared} hold(s) of device ${deviceId}`);
}
