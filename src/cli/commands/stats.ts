import type { Command } from 'commander';
import type { CliIo } from '../io.js';
import { run } from '../lazy.js';

/** `stats`: devices per bundle version and what they reported (counts of distinct devices). */
export function registerStatsCommand(program: Command, io: CliIo): void {
  program
    .command('stats')
    .description('devices per bundle version, downloads, installs, failures and rollbacks')
    .option('--app <appId>', "app id (default: the Capacitor config's appId)")
    .option('--channel <channel>', 'only devices and events of this channel')
    .option('--since <when>', 'events from an ISO date or a time ago such as 24h, 7d, 2w (default 30d)')
    .option('--until <when>', 'events before this moment (default now)')
    .option('--bucket <hour|day>', 'bucket of the time series in --json output (default day)')
    .action(run(io, async () => (await import('../actions/stats.js')).stats));
}
