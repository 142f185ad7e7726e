import type { Command } from 'commander';
import type { CliIo } from '../io.js';
import { run } from '../lazy.js';

/** `native upload|list|delete|register|binaries|unregister`: native builds and registered binaries. */
export function registerNativeCommands(program: Command, io: CliIo): void {
  const native = program
    .command('native')
    .description('upload and manage native test builds (APK, AAB, IPA) on native channels');

  native
    .command('upload <file>')
    .description('upload an APK, AAB or IPA to a native channel')
    .requiredOption('--platform <platform>', 'android or ios')
    .requiredOption('--version <version>', 'the native version, e.g. 1.4.0')
    .requiredOption('--channel <channel>', 'the native channel, e.g. beta')
    .option('--version-code <n>', 'build number (versionCode / CFBundleVersion)')
    .option('--notes <text>', 'release notes for testers')
    .option(
      '--native-from <dir>',
      "register the build's native layer from the project in this folder (default: this folder, when it has a package.json)",
    )
    .option('--app <appId>', 'app id')
    .action(run(io, async () => (await import('../actions/native.js')).nativeUpload));

  native
    .command('list')
    .description('list native builds, newest first')
    .option('--platform <platform>', 'android or ios')
    .option('--channel <channel>', 'only this native channel')
    .option('--app <appId>', 'app id')
    .action(run(io, async () => (await import('../actions/native.js')).nativeList));

  native
    .command('register')
    .description(
      "record a binary's native layer from the project it is built from (a CI step beside the native build)",
    )
    .requiredOption('--platform <platform>', 'android or ios')
    .requiredOption(
      '--version <version>',
      'the native version devices report (versionName / CFBundleShortVersionString)',
    )
    .option(
      '--version-code <n>',
      'the build number (versionCode / CFBundleVersion); default: every build of the version',
    )
    .option(
      '--store-url <url>',
      'where users get this build (a store page), sent to devices a bundle is refused to',
    )
    .option('--native-from <dir>', 'the project folder (default: this folder)')
    .option('--app <appId>', 'app id')
    .action(run(io, async () => (await import('../actions/native.js')).nativeRegister));

  native
    .command('binaries')
    .description('list the binaries registered with their native layer')
    .option('--app <appId>', 'app id')
    .action(run(io, async () => (await import('../actions/native.js')).nativeBinaries));

  native
    .command('unregister <platform> <version>')
    .description(
      "remove a binary's registration (its devices then follow the channel's rule for unregistered binaries)",
    )
    .option('--version-code <n>', 'the build number it was registered with')
    .option('--app <appId>', 'app id')
    .action(run(io, async () => (await import('../actions/native.js')).nativeUnregister));

  native
    .command('delete <platform> <version>')
    .description('delete a native build')
    .option('--app <appId>', 'app id')
    .action(run(io, async () => (await import('../actions/native.js')).nativeDelete));
}
