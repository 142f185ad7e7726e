import type { Command } from 'commander';
import type { CliIo } from '../io.js';
import { PRIVATE_KEY_FILE } from '../key-file-names.js';
import { run } from '../lazy.js';

/** `bundle zip|upload|list|info|delete`. */
export function registerBundleCommands(program: Command, io: CliIo): void {
  const bundle = program.command('bundle').description('make, upload and manage bundles');

  bundle
    .command('zip [appId]')
    .description('zip a web build with its files at the root, as the plugin expects, and print its sha256')
    .option('--path <dir>', "web folder (default: the Capacitor config's webDir)")
    .option('--bundle <version>', "bundle version (default: package.json's version)")
    .option('--name <file>', 'zip file to write (default: APPID_VERSION.zip)')
    .option(
      '--no-code-check',
      "skip the check for index.html and the updater plugin's ready call (notifyAppReady() or LiveUpdate.ready())",
    )
    .action(run(io, async () => (await import('../actions/bundle.js')).bundleZip));

  bundle
    .command('upload')
    .description('upload a bundle (a folder, a zip, or an external URL) and optionally make it live')
    .option('--app <appId>', "app id (default: the Capacitor config's appId)")
    .option('--path <dir>', "web folder to zip and upload (default: the Capacitor config's webDir)")
    .option('--zip <file>', 'a zip to upload as it is (e.g. made by the Capgo CLI)')
    .option('--bundle <version>', "bundle version (default: package.json's version)")
    .option('--channel <channel>', 'make the bundle live on this channel once uploaded')
    .option(
      '--wait-files',
      'wait until its files for delta updates are ready (prepared after the upload; until then devices get the whole zip)',
    )
    .option('--min-native <version>', 'minimum native version (version_build) that may get the bundle')
    .option('--comment <text>', 'release notes, shown in listings and sent to devices as comment')
    .option('--external <url>', 'register a bundle hosted at this URL instead of uploading bytes')
    .option(
      '--checksum <checksum>',
      'with --external: its sha256; for encrypted bundles: the checksum from `bundle encrypt`',
    )
    .option('--iv-session-key <key>', 'the ivSessionKey printed by `bundle encrypt` (encrypted bundles)')
    .option('--key-id <id>', 'key id of the public key the bundle was encrypted for')
    .option('--no-verify', 'with --external: do not download the bundle once to check its checksum')
    .option('--encrypt', 'encrypt the zip here before uploading (the private key never leaves this machine)')
    .option('--key <file>', `with --encrypt: private key file (default ./${PRIVATE_KEY_FILE})`)
    .option('--key-data <pem>', 'with --encrypt: the private key itself')
    .option('--private-key <file>', 'sign the uploaded bytes with this RSA private key (RSA-SHA256)')
    .option(
      '--no-code-check',
      "with --path: skip the check for index.html and the updater plugin's ready call",
    )
    .option(
      '--native-from <dir>',
      "record the native layer of the project in this folder (default: this folder's, unless --zip or --external)",
    )
    .option('--no-native-layer', 'record no native layer: the bundle is served to every binary')
    .option(
      '--s3-bucket-name <bucket>',
      'upload the zip to this bucket of yours and register its URL as an external bundle (the bytes never pass through the server)',
    )
    .option('--s3-region <region>', 'with --s3-bucket-name: its region (default us-east-1)')
    .option('--s3-endpoint <host>', 'with --s3-bucket-name: host or URL of a non-AWS service (R2, Ceph, ...)')
    .option('--s3-port <port>', 'with --s3-endpoint: its port')
    .option(
      '--s3-apikey <key>',
      'with --s3-bucket-name: access key id (or OVERAIR_S3_ACCESS_KEY; none: the AWS default chain)',
    )
    .option(
      '--s3-apisecret <secret>',
      'with --s3-bucket-name: secret key (or, better, OVERAIR_S3_SECRET_KEY)',
    )
    .option('--no-s3-ssl', 'with --s3-endpoint: plain http to it')
    .option(
      '--s3-public-url <url>',
      "with --s3-bucket-name: base URL devices download the bucket's objects from (public domain or CDN)",
    )
    .option(
      '--s3-presign <duration>',
      'with --s3-bucket-name: register a presigned URL valid this long (at most 7d) instead of a public one; devices cannot download it after that',
    )
    .action(run(io, async () => (await import('../actions/bundle.js')).bundleUpload));

  bundle
    .command('encrypt <zip> <checksum>')
    .description(
      'encrypt a bundle zip as the Capgo CLI does: writes ZIP_encrypted.zip, prints its session key and checksum',
    )
    .option('--key <file>', `private key file (default ./${PRIVATE_KEY_FILE})`)
    .option('--key-data <pem>', 'the private key itself')
    .action(run(io, async () => (await import('../actions/bundle.js')).bundleEncrypt));

  bundle
    .command('decrypt <zip> <ivSessionKey>')
    .description('decrypt a bundle with the public key only, as a device does: writes ZIP_decrypted.zip')
    .option(
      '--key <file>',
      "public key file (default: the Capacitor config's publicKey, else ./.capgo_key_v2.pub)",
    )
    .option('--key-data <pem>', 'the public key itself')
    .option('--checksum <checksum>', 'the encrypted checksum: check the decrypted zip against it')
    .action(run(io, async () => (await import('../actions/bundle.js')).bundleDecrypt));

  bundle
    .command('verify <zip>')
    .description("check a bundle's RSA-SHA256 signature with a public key")
    .requiredOption('--public-key <file>', 'public key (PEM) of the key that signed it')
    .option('--signature <base64>', 'the signature (default: the one stored with --bundle on the server)')
    .option('--bundle <version>', 'take the signature stored with this bundle on the server')
    .option('--app <appId>', 'app id, with --bundle')
    .action(run(io, async () => (await import('../actions/bundle.js')).bundleVerify));

  bundle
    .command('list')
    .description('list bundles, newest first')
    .option('--app <appId>', 'app id')
    .option('--limit <n>', 'how many', '50')
    .action(run(io, async () => (await import('../actions/bundle.js')).bundleList));

  bundle
    .command('info <version>')
    .description('show a bundle')
    .option('--app <appId>', 'app id')
    .action(run(io, async () => (await import('../actions/bundle.js')).bundleInfo));

  bundle
    .command('update <version>')
    .description(
      "correct a bundle's release notes, minimum native version or native layer after its upload (never its bytes)",
    )
    .option('--app <appId>', 'app id')
    .option('--comment <text>', 'new release notes (sent to devices as comment)')
    .option('--no-comment', 'remove the release notes')
    .option('--min-native <version>', 'new minimum native version (version_build) that may get the bundle')
    .option('--no-min-native', 'remove the minimum native version')
    .option('--native-from <dir>', 'record the native layer of the project in this folder instead')
    .option('--no-native-layer', 'record the native layer as unknown: the bundle is served to every binary')
    .action(run(io, async () => (await import('../actions/bundle.js')).bundleUpdate));

  bundle
    .command('compatibility <version>')
    .description(
      'check a bundle against every registered binary before it goes live: per native package, and the devices it would reach and refuse',
    )
    .option('--app <appId>', 'app id')
    .option(
      '--channel <channel>',
      "count this channel's devices and apply its rule for unregistered binaries",
    )
    .option(
      '--fail-on-incompatible',
      'exit with status 2 when the bundle would refuse any device seen in 30 days',
    )
    .action(run(io, async () => (await import('../actions/bundle.js')).bundleCompatibility));

  bundle
    .command('cleanup')
    .description(
      "delete old bundles no channel can still need (never one live, rolling out or a channel's rollback target)",
    )
    .option('--app <appId>', 'app id')
    .option('--keep <n>', "keep this many of the newest bundles (default: the app's keep_bundles)")
    .option('--older-than <duration>', 'delete only bundles uploaded longer ago than this, e.g. 30d or 12h')
    .option('--dry-run', 'list what would be deleted; delete nothing')
    .action(run(io, async () => (await import('../actions/bundle.js')).bundleCleanup));

  bundle
    .command('delete <version>')
    .description('delete a bundle; channels it is live on fall back to their previous bundle')
    .option('--app <appId>', 'app id')
    .action(run(io, async () => (await import('../actions/bundle.js')).bundleDelete));
}
