import type { Command } from 'commander';
import type { ChannelJson, DeviceJson, HistoryJson, HoldJson, Page } from '../../api-types.js';
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
  unregisteredBinaries?: string;
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
  if (options.unregisteredBinaries !== undefined)
    changes.unregistered_binaries = options.unregisteredBinaries;
  return changes;
}

const channelLine = (c: ChannelJson) =>
  `Channel "${c.name}": ${c.version ?? 'no bundle'}` +
  (c.rollout ? `, rolling out ${c.rollout.version} to ${c.rollout.percent}%` : '') +
  (c.is_default ? ' (default)' : '') +
  (c.allow_self_assign ? ' (self-assign)' : '');

/** `channel …` and `device …`: who gets which bundle. */
export function registerReleaseCommands(program: Command, io: CliIo): void {
  const channel = program.command('channel').description('manage channels and what is live on them');
  const appOption = ['--app <appId>', "app id (default: the Capacitor config's appId)"] as const;

  channel
    .command('create <channel>')
    .description('create a channel')
    .option(...appOption)
    .option('--default', 'make it the default channel of the app')
    .option('--self-assign', 'let devices join it themselves (setChannel)')
    .action(
      async (
        name: string,
        options: { app?: string; default?: boolean; selfAssign?: boolean },
        command: Command,
      ) => {
        const ctx = contextOf(io, command);
        const appId = await resolveAppId(io.cwd, options.app);
        const created = await (
          await ctx.api()
        ).post<ChannelJson>(`/apps/${enc(appId)}/channels`, {
          name,
          ...(options.default && { is_default: true }),
          allow_self_assign: Boolean(options.selfAssign),
        });
        emit(io, ctx.json, created, (c) => `Created ${channelLine(c)}`);
      },
    );

  channel
    .command('list')
    .description('list channels')
    .option(...appOption)
    .action(async (options: { app?: string }, command: Command) => {
      const ctx = contextOf(io, command);
      const appId = await resolveAppId(io.cwd, options.app);
      const { items } = await (await ctx.api()).get<Page<ChannelJson>>(`/apps/${enc(appId)}/channels`);
      emit(io, ctx.json, items, (rows) =>
        table(
          ['CHANNEL', 'LIVE', 'ROLLOUT', 'DEFAULT', 'SELF-ASSIGN', 'PLATFORMS'],
          rows.map((c) => [
            c.name,
            c.version,
            c.rollout ? `${c.rollout.version} ${c.rollout.percent}%` : null,
            c.is_default,
            c.allow_self_assign,
            c.platforms.length ? c.platforms.join(',') : 'all',
          ]),
        ),
      );
    });

  channel
    .command('info <channel>')
    .description('show a channel')
    .option(...appOption)
    .action(async (name: string, options: { app?: string }, command: Command) => {
      const ctx = contextOf(io, command);
      const appId = await resolveAppId(io.cwd, options.app);
      emit(
        io,
        ctx.json,
        await (await ctx.api()).get<ChannelJson>(`/apps/${enc(appId)}/channels/${enc(name)}`),
        (c) => fields({ ...c }),
      );
    });

  channel
    .command('set <channel> <version>')
    .description('make a bundle live on a channel')
    .option(...appOption)
    .action(async (name: string, version: string, options: { app?: string }, command: Command) => {
      const ctx = contextOf(io, command);
      const appId = await resolveAppId(io.cwd, options.app);
      const updated = await (
        await ctx.api()
      ).put<ChannelJson>(`/apps/${enc(appId)}/channels/${enc(name)}/bundle`, { version });
      emit(io, ctx.json, updated, (c) => channelLine(c));
    });

  channel
    .command('rollback <channel>')
    .description('make the bundle that was live before the current one live again')
    .option(...appOption)
    .option('--reason <text>', 'why, recorded in the history')
    .action(async (name: string, options: { app?: string; reason?: string }, command: Command) => {
      const ctx = contextOf(io, command);
      const appId = await resolveAppId(io.cwd, options.app);
      const updated = await (
        await ctx.api()
      ).post<ChannelJson>(`/apps/${enc(appId)}/channels/${enc(name)}/rollback`, {
        reason: options.reason,
      });
      emit(io, ctx.json, updated, (c) => `Rolled back: ${channelLine(c)}`);
    });

  channel
    .command('history <channel>')
    .description('every change of the live bundle, newest first')
    .option(...appOption)
    .option('--limit <n>', 'how many', '50')
    .action(async (name: string, options: { app?: string; limit: string }, command: Command) => {
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
    });

  channel
    .command('update <channel>')
    .description("change a channel's settings")
    .option(...appOption)
    .option('--self-assign <on|off>', 'let devices join it themselves')
    .option('--default', 'make it the default channel of the app')
    .option('--platforms <list>', 'platforms it serves: ios,android,electron, or "all"')
    .option('--emulators <on|off>', 'serve emulators and simulators')
    .option('--dev-builds <on|off>', 'serve development (debuggable) builds')
    .option('--prod-builds <on|off>', 'serve store (production) builds')
    .option(
      '--native-policy <level>',
      'none | major | minor | patch | under_native: keep devices off bundles beyond their native version',
    )
    .option('--downgrade <on|off>', 'serve bundles older than what a device runs (rollbacks need it)')
    .option(
      '--failure-threshold <rate>',
      'halt a release when this share of its devices fail (0-1), or "off"',
    )
    .option('--failure-min-devices <n>', 'devices that must have tried a release before it can be halted')
    .option(
      '--unregistered-binaries <serve|refuse>',
      'devices on a binary nobody registered (overair native register): serve them, or refuse bundles whose native layer is known',
    )
    .action(async (name: string, options: ChannelUpdateOptions, command: Command) => {
      const ctx = contextOf(io, command);
      const appId = await resolveAppId(io.cwd, options.app);
      const changes = channelChanges(options);
      if (Object.keys(changes).length === 0)
        throw new CliError('nothing to change: see --help for the settings');
      const updated = await (
        await ctx.api()
      ).patch<ChannelJson>(`/apps/${enc(appId)}/channels/${enc(name)}`, changes);
      emit(io, ctx.json, updated, (c) => `Updated ${channelLine(c)}`);
    });

  channel
    .command('rollout <channel> <version>')
    .description(
      "serve a bundle to a share of the channel's devices (raise it step by step; 100 completes it)",
    )
    .option(...appOption)
    .requiredOption('--percent <n>', 'share of devices, 0.01 to 100')
    .action(
      async (name: string, version: string, options: { app?: string; percent: string }, command: Command) => {
        const ctx = contextOf(io, command);
        const appId = await resolveAppId(io.cwd, options.app);
        const percent = Number(options.percent);
        if (!Number.isFinite(percent) || percent <= 0 || percent > 100)
          throw new CliError('--percent must be a number above 0, at most 100');
        const updated = await (
          await ctx.api()
        ).post<ChannelJson>(`/apps/${enc(appId)}/channels/${enc(name)}/rollout`, { version, percent });
        emit(io, ctx.json, updated, (c) => channelLine(c));
      },
    );

  channel
    .command('delete <channel>')
    .description('delete a channel (devices pinned to it go back to the normal rules)')
    .option(...appOption)
    .action(async (name: string, options: { app?: string }, command: Command) => {
      const ctx = contextOf(io, command);
      const appId = await resolveAppId(io.cwd, options.app);
      await (await ctx.api()).delete(`/apps/${enc(appId)}/channels/${enc(name)}`);
      emit(io, ctx.json, { deleted: name }, () => `Deleted channel "${name}"`);
    });

  const device = program.command('device').description('see devices and pin them to channels');
  device
    .command('list')
    .description('devices, most recently seen first')
    .option(...appOption)
    .option('--channel <channel>', 'only devices served from this channel')
    .option('--version <version>', 'only devices running this bundle')
    .option('--platform <platform>', 'ios, android or electron')
    .option('--limit <n>', 'how many', '50')
    .action(
      async (
        options: { app?: string; channel?: string; version?: string; platform?: string; limit: string },
        command: Command,
      ) => {
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
      },
    );
  device
    .command('info <deviceId>')
    .description('show a device')
    .option(...appOption)
    .action(async (deviceId: string, options: { app?: string }, command: Command) => {
      const ctx = contextOf(io, command);
      const appId = await resolveAppId(io.cwd, options.app);
      emit(
        io,
        ctx.json,
        await (await ctx.api()).get<DeviceJson>(`/apps/${enc(appId)}/devices/${enc(deviceId)}`),
        (d) => fields({ ...d }),
      );
    });
  device
    .command('set-channel <deviceId> <channel>')
    .description('pin a device to a channel, whatever it asks for')
    .option(...appOption)
    .action(async (deviceId: string, name: string, options: { app?: string }, command: Command) => {
      const ctx = contextOf(io, command);
      const appId = await resolveAppId(io.cwd, options.app);
      const updated = await (
        await ctx.api()
      ).put<DeviceJson>(`/apps/${enc(appId)}/devices/${enc(deviceId)}/channel`, { channel: name });
      emit(
        io,
        ctx.json,
        updated,
        (d) => `Device ${d.device_id} is pinned to channel "${d.channel_override}"`,
      );
    });
  device
    .command('unset-channel <deviceId>')
    .description('remove the pin')
    .option(...appOption)
    .action(async (deviceId: string, options: { app?: string }, command: Command) => {
      const ctx = contextOf(io, command);
      const appId = await resolveAppId(io.cwd, options.app);
      const updated = await (
        await ctx.api()
      ).delete<DeviceJson>(`/apps/${enc(appId)}/devices/${enc(deviceId)}/channel`);
      emit(io, ctx.json, updated, (d) => `Device ${d.device_id} follows the normal channel rules again`);
    });
  device
    .command('holds')
    .description(
      'versions held back from devices that failed them (rolled back, or failed to download repeatedly)',
    )
    .option(...appOption)
    .option('--device <deviceId>', 'only this device')
    .action(async (options: { app?: string; device?: string }, command: Command) => {
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
    });
  device
    .command('clear-hold <deviceId>')
    .description('offer a device the versions it failed again (all, or --version)')
    .option(...appOption)
    .option('--version <version>', 'only this version')
    .action(async (deviceId: string, options: { app?: string; version?: string }, command: Command) => {
      const ctx = contextOf(io, command);
      const appId = await resolveAppId(io.cwd, options.app);
      const route = `/apps/${enc(appId)}/devices/${enc(deviceId)}/holds${options.version ? `?version=${enc(options.version)}` : ''}`;
      const result = await (await ctx.api()).delete<{ cleared: number }>(route);
      emit(io, ctx.json, result, (r) => `Cleared ${r.cleared} hold(s) of device ${deviceId}`);
    });
}
