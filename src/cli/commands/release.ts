import type { Command } from 'commander';
import type { CliIo } from '../io.js';
import { run } from '../lazy.js';

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
    .option('--protected', 'making a bundle live and rollouts on it need the release role (rollbacks do not)')
    .action(run(io, async () => (await import('../actions/release.js')).channelCreate));

  channel
    .command('list')
    .description('list channels')
    .option(...appOption)
    .action(run(io, async () => (await import('../actions/release.js')).channelList));

  channel
    .command('info <channel>')
    .description('show a channel')
    .option(...appOption)
    .action(run(io, async () => (await import('../actions/release.js')).channelInfo));

  channel
    .command('set <channel> <version>')
    .description('make a bundle live on a channel')
    .option(...appOption)
    .action(run(io, async () => (await import('../actions/release.js')).channelSet));

  channel
    .command('rollback <channel>')
    .description('make the bundle that was live before the current one live again')
    .option(...appOption)
    .option('--reason <text>', 'why, recorded in the history')
    .action(run(io, async () => (await import('../actions/release.js')).channelRollback));

  channel
    .command('history <channel>')
    .description('every change of the live bundle, newest first')
    .option(...appOption)
    .option('--limit <n>', 'how many', '50')
    .action(run(io, async () => (await import('../actions/release.js')).channelHistory));

  channel
    .command('update <channel>')
    .description("change a channel's settings")
    .option(...appOption)
    .option('--self-assign <on|off>', 'let devices join it themselves')
    .option('--default', 'make it the default channel of the app')
    .option(
      '--protected <on|off>',
      'making a bundle live, rollouts and settings need the release role (rollbacks do not)',
    )
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
      '--halt-on-evidence <on|off>',
      "halt a rollout whose failure rate's 95% interval lies above the control group's (devices installing the live bundle meanwhile)",
    )
    .option(
      '--evidence-min-devices <n>',
      'devices each group needs before the evidence rule judges (default 100)',
    )
    .option(
      '--unregistered-binaries <serve|refuse>',
      'devices on a binary nobody registered (overair native register): serve them, or refuse bundles whose native layer is known',
    )
    .action(run(io, async () => (await import('../actions/release.js')).channelUpdate));

  channel
    .command('rollout <channel> <version>')
    .description(
      "serve a bundle to a share of the channel's devices (raise it step by step; 100 completes it)",
    )
    .option(...appOption)
    .option('--percent <n>', 'share of devices, 0.01 to 100')
    .option(
      '--steps <steps>',
      'or a schedule that advances itself while the release is healthy, e.g. 1%:1h,10%:6h,50%:24h,100%',
    )
    .action(run(io, async () => (await import('../actions/release.js')).channelRollout));

  const schedule = channel
    .command('schedule')
    .description('the scheduled rollout of a channel (channel rollout --steps)');
  schedule
    .command('show <channel>')
    .description("steps, current step, next step's time and state of the channel's rollout schedule")
    .option(...appOption)
    .action(run(io, async () => (await import('../actions/release.js')).channelScheduleShow));
  schedule
    .command('cancel <channel>')
    .description('stop the running schedule; the rollout stays at its current step')
    .option(...appOption)
    .action(run(io, async () => (await import('../actions/release.js')).channelScheduleCancel));

  channel
    .command('adoption <channel>')
    .description(
      "devices on each bundle per hour or day, and the current release's installs since it went live",
    )
    .option(...appOption)
    .option('--bucket <hour|day>', 'one row per hour or per day (default day)')
    .option('--since <when>', 'from an ISO date or a time ago such as 48h, 7d (default 30d)')
    .option(
      '--version <version>',
      "count this release's installs (default: the rollout's, else the live bundle)",
    )
    .action(run(io, async () => (await import('../actions/insight.js')).channelAdoption));

  channel
    .command('health <channel>')
    .description(
      "the current release's failure rate with its 95% interval, next to the release it replaced and a rollout's control group",
    )
    .option(...appOption)
    .action(run(io, async () => (await import('../actions/insight.js')).channelHealth));

  channel
    .command('delete <channel>')
    .description('delete a channel (devices pinned to it go back to the normal rules)')
    .option(...appOption)
    .action(run(io, async () => (await import('../actions/release.js')).channelDelete));

  const release = program
    .command('release')
    .description('release requests: protected channels on apps with four-eyes releases (release_approval)');
  release
    .command('list')
    .description('release requests, newest first')
    .option(...appOption)
    .option('--status <status>', 'pending, approved, rejected, failed or expired')
    .option('--limit <n>', 'how many', '50')
    .action(run(io, async () => (await import('../actions/release-requests.js')).releaseList));
  release
    .command('info <id>')
    .description('show a release request')
    .option(...appOption)
    .action(run(io, async () => (await import('../actions/release-requests.js')).releaseInfo));
  release
    .command('approve <id>')
    .description("approve someone else's request: its change is made now (needs the release role)")
    .option(...appOption)
    .action(run(io, async () => (await import('../actions/release-requests.js')).releaseApprove));
  release
    .command('reject <id>')
    .description('reject a request; nothing changes (needs the release role)')
    .option(...appOption)
    .option('--reason <text>', 'why, for the requester')
    .action(run(io, async () => (await import('../actions/release-requests.js')).releaseReject));

  const device = program.command('device').description('see devices and pin them to channels');
  device
    .command('list')
    .description('devices, most recently seen first')
    .option(...appOption)
    .option('--channel <channel>', 'only devices served from this channel')
    .option('--version <version>', 'only devices running this bundle')
    .option('--platform <platform>', 'ios, android or electron')
    .option('--limit <n>', 'how many', '50')
    .action(run(io, async () => (await import('../actions/release.js')).deviceList));
  device
    .command('info <deviceId>')
    .description('show a device')
    .option(...appOption)
    .action(run(io, async () => (await import('../actions/release.js')).deviceInfo));
  device
    .command('watch <deviceId>')
    .description(
      "a device's update checks (what it sent, what it was answered and why), downloads and events, as they happen (Ctrl-C stops)",
    )
    .option(...appOption)
    .option('--count <n>', 'stop after this many events')
    .action(run(io, async () => (await import('../actions/device-watch.js')).deviceWatch));
  device
    .command('set-channel <deviceId> <channel>')
    .description('pin a device to a channel, whatever it asks for')
    .option(...appOption)
    .action(run(io, async () => (await import('../actions/release.js')).deviceSetChannel));
  device
    .command('unset-channel <deviceId>')
    .description('remove the pin')
    .option(...appOption)
    .action(run(io, async () => (await import('../actions/release.js')).deviceUnsetChannel));
  device
    .command('holds')
    .description(
      'versions held back from devices that failed them (rolled back, or failed to download repeatedly)',
    )
    .option(...appOption)
    .option('--device <deviceId>', 'only this device')
    .action(run(io, async () => (await import('../actions/release.js')).deviceHolds));
  device
    .command('clear-hold <deviceId>')
    .description('offer a device the versions it failed again (all, or --version)')
    .option(...appOption)
    .option('--version <version>', 'only this version')
    .action(run(io, async () => (await import('../actions/release.js')).deviceClearHold));
}
