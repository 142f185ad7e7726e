import type { Command } from 'commander';
import type { CliIo } from '../io.js';
import { run } from '../lazy.js';

/** `doctor`: checks a Capacitor project's updater config against the server and says what to fix. */
export function registerDoctorCommand(program: Command, io: CliIo): void {
  program
    .command('doctor')
    .description("check this Capacitor project's updater settings against the server")
    .action(run(io, async () => (await import('../actions/doctor.js')).doctor));
}
