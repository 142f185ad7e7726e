import { createReadStream } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { Transform } from 'node:stream';
import type { Command } from 'commander';
import type { NativeBuildJson } from '../../api-types.js';
import { hashFile } from '../../bundle/zip-folder.js';
import { resolveAppId } from '../capacitor.js';
import { contextOf } from '../context.js';
import { CliError, type CliIo } from '../io.js';
import { emit, formatBytes, progressBar, table } from '../output.js';

const PLATFORMS = ['android', 'ios'];
const enc = encodeURIComponent;

function platformOf(value: string): string {
  if (!PLATFORMS.includes(value)) throw new CliError(`platform must be android or ios, not "${value}"`);
  return value;
}

/** `native upload|list|delete`: native test builds (APK, AAB, IPA) for testers. */
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
    .option('--app <appId>', 'app id')
    .action(
      async (
        file: string,
        options: {
          platform: string;
          version: string;
          channel: string;
          versionCode?: string;
          notes?: string;
          app?: string;
        },
        command: Command,
      ) => {
        const ctx = contextOf(io, command);
        const appId = await resolveAppId(io.cwd, options.app);
        const platform = platformOf(options.platform);
        const target = path.resolve(io.cwd, file);
        if (!(await fs.stat(target).catch(() => null))?.isFile())
          throw new CliError(`${target}: no such file`);
        const { sha256, size } = await hashFile(target);
        const bar = progressBar(io, io.interactive && !ctx.json, size, `Uploading ${path.basename(target)}`);
        let sent = 0;
        const counter = new Transform({
          transform(chunk: Buffer, _encoding, callback) {
            sent += chunk.length;
            bar.update(sent);
            callback(null, chunk);
          },
        });
        const uploaded = await (
          await ctx.api()
        ).request<NativeBuildJson>('POST', `/apps/${enc(appId)}/native/upload`, {
          query: {
            platform,
            version: options.version,
            channel: options.channel,
            version_code: options.versionCode,
            notes: options.notes,
            sha256,
          },
          stream: {
            body: createReadStream(target).pipe(counter),
            length: size,
            type: 'application/octet-stream',
          },
        });
        bar.finish();
        // The server hashed what it received; anything else is a corrupted transfer.
        if (uploaded.sha256 !== sha256) {
          throw new CliError(
            `checksum mismatch: the server stored ${uploaded.sha256}, the file is ${sha256}`,
          );
        }
        emit(io, ctx.json, uploaded, (v) =>
          [
            `Uploaded ${appId} ${v.platform} ${v.version} (${v.file_kind}, ${formatBytes(v.size)}) to native channel "${v.channel}", sha256 ${v.sha256}`,
            `Latest ${v.platform} build of "${v.channel}": ${v.latest_url}`,
          ].join('\n'),
        );
      },
    );

  native
    .command('list')
    .description('list native builds, newest first')
    .option('--platform <platform>', 'android or ios')
    .option('--channel <channel>', 'only this native channel')
    .option('--app <appId>', 'app id')
    .action(async (options: { platform?: string; channel?: string; app?: string }, command: Command) => {
      const ctx = contextOf(io, command);
      const appId = await resolveAppId(io.cwd, options.app);
      const { items } = await (
        await ctx.api()
      ).get<{ items: NativeBuildJson[] }>(`/apps/${enc(appId)}/native`, {
        platform: options.platform === undefined ? undefined : platformOf(options.platform),
        channel: options.channel,
      });
      emit(io, ctx.json, items, (rows) =>
        table(
          ['PLATFORM', 'VERSION', 'CODE', 'CHANNEL', 'KIND', 'SIZE', 'CREATED', 'SHA256'],
          rows.map((b) => [
            b.platform,
            b.version,
            b.version_code,
            b.channel,
            b.file_kind,
            formatBytes(b.size),
            b.created_at,
            b.sha256.slice(0, 12),
          ]),
        ),
      );
    });

  native
    .command('delete <platform> <version>')
    .description('delete a native build')
    .option('--app <appId>', 'app id')
    .action(async (platform: string, version: string, options: { app?: string }, command: Command) => {
      const ctx = contextOf(io, command);
      const appId = await resolveAppId(io.cwd, options.app);
      const result = await (
        await ctx.api()
      ).delete<{ deleted: boolean }>(`/apps/${enc(appId)}/native/${platformOf(platform)}/${enc(version)}`);
      emit(
        io,
        ctx.json,
        { ...result, platform, version },
        (v) => `Deleted ${appId} ${v.platform} ${v.version}`,
      );
    });
}
