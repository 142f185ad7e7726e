import type { Command } from 'commander';
import type { AppJson, BundleJson, ChannelJson, Page } from '../../api-types.js';
import { keyIdOf } from '../../crypto/capgo.js';
import { readCapacitorConfig } from '../capacitor.js';
import { contextOf } from '../context.js';
import { CliError, type CliIo } from '../io.js';
import { emit } from '../output.js';

interface Finding {
  level: 'ok' | 'warn' | 'fail';
  check: string;
  detail: string;
}

const ENDPOINTS = [
  ['updateUrl', '/updates'],
  ['statsUrl', '/stats'],
  ['channelUrl', '/channel_self'],
] as const;

/** `doctor`: checks a Capacitor project's updater config against the server and says what to fix. */
export function registerDoctorCommand(program: Command, io: CliIo): void {
  program
    .command('doctor')
    .description("check this Capacitor project's updater settings against the server")
    .action(async (_options, command: Command) => {
      const ctx = contextOf(io, command);
      const project = await readCapacitorConfig(io.cwd);
      if (!project) throw new CliError(`no capacitor.config.(json|ts|js) in ${io.cwd}`);
      const findings: Finding[] = [];
      const add = (level: Finding['level'], check: string, detail: string) =>
        findings.push({ level, check, detail });
      const updater = project.updater;
      const api = await ctx.api();

      if (!project.appId) add('fail', 'appId', `${project.file} has no appId`);
      for (const [key, route] of ENDPOINTS) {
        const value = updater[key];
        const expected = `${api.server}${route}`;
        if (typeof value !== 'string' || value === '') {
          add('fail', key, `plugins.CapacitorUpdater.${key} is not set; set it to ${expected}`);
          continue;
        }
        let url: URL | undefined;
        try {
          url = new URL(value);
        } catch {
          add('fail', key, `"${value}" is not a URL; set it to ${expected}`);
          continue;
        }
        if (!url.pathname.replace(/\/+$/, '').endsWith(route))
          add('fail', key, `"${value}" should end with ${route}`);
        else if (url.origin !== new URL(api.server).origin)
          add('warn', key, `"${value}" is not on ${api.server} (fine if that is your public address)`);
        else add('ok', key, value);
        if (url.protocol === 'http:' && !['localhost', '127.0.0.1', '10.0.2.2'].includes(url.hostname)) {
          add(
            'warn',
            key,
            'plain http: release builds on Android and iOS refuse it; serve Overair over https',
          );
        }
      }
      if (updater.autoUpdate === false || updater.autoUpdate === 'off') {
        add('warn', 'autoUpdate', 'autoUpdate is off: the app only updates when its code asks');
      }

      if (project.appId) {
        const app = await api.get<AppJson>(`/apps/${encodeURIComponent(project.appId)}`).catch(() => null);
        if (!app) {
          add(
            'fail',
            'app',
            `the server has no app ${project.appId}: run \`overair app create ${project.appId}\``,
          );
        } else {
          add('ok', 'app', `${project.appId} exists on the server`);
          const { items: channels } = await api.get<Page<ChannelJson>>(
            `/apps/${encodeURIComponent(project.appId)}/channels`,
          );
          const main = channels.find((c) => c.is_default);
          if (!main)
            add('fail', 'channel', 'the app has no default channel: `overair channel update NAME --default`');
          else if (!main.version)
            add('warn', 'channel', `default channel "${main.name}" has no live bundle yet`);
          else add('ok', 'channel', `default channel "${main.name}" serves ${main.version}`);
          if (main?.version) {
            const live = await api.get<BundleJson>(
              `/apps/${encodeURIComponent(project.appId)}/bundles/${encodeURIComponent(main.version)}`,
            );
            checkEncryption(add, typeof updater.publicKey === 'string' ? updater.publicKey : undefined, live);
          }
        }
      }

      const failed = findings.some((finding) => finding.level === 'fail');
      emit(io, ctx.json, { ok: !failed, findings }, (v) =>
        v.findings
          .map(
            (f) =>
              `${f.level === 'ok' ? 'ok  ' : f.level === 'warn' ? 'warn' : 'FAIL'}  ${f.check}: ${f.detail}`,
          )
          .join('\n'),
      );
      if (failed) throw new CliError('doctor found problems to fix (marked FAIL above)', 1);
    });
}

function checkEncryption(
  add: (level: Finding['level'], check: string, detail: string) => void,
  publicKey: string | undefined,
  live: { version: string; encrypted: boolean; key_id: string | null },
): void {
  if (publicKey && !live.encrypted) {
    add(
      'fail',
      'encryption',
      `the app has a publicKey, so devices refuse the unencrypted live bundle ${live.version}`,
    );
  } else if (!publicKey && live.encrypted) {
    add(
      'fail',
      'encryption',
      `the live bundle ${live.version} is encrypted but the app has no publicKey to decrypt it`,
    );
  } else if (publicKey && live.key_id && live.key_id !== keyIdOf(publicKey)) {
    add(
      'fail',
      'encryption',
      `the live bundle ${live.version} was encrypted for another key (${live.key_id}, not ${keyIdOf(publicKey)})`,
    );
  } else {
    add('ok', 'encryption', publicKey ? 'encrypted bundles, public key configured' : 'no encryption');
  }
}
