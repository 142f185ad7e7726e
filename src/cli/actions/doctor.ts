import type { Command } from 'commander';
import type { AppJson, BundleJson, ChannelJson, Page } from '../../api-types.js';
import { keyIdOf, loadPublicKey, verifyDigestSignature } from '../../crypto/capgo.js';
import { CryptoInputError } from '../../crypto/input-error.js';
import { installedUpdaterPlugins, readCapacitorConfig } from '../capacitor.js';
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

type Add = (level: Finding['level'], check: string, detail: string) => void;

/**
 * A plugin's `publicKey` from the config: undefined when there is none, null when it is not a
 * public key (reported).
 */
function configKey(add: Add, plugin: string, value: unknown): string | undefined | null {
  if (value === undefined || value === '') return undefined;
  try {
    if (typeof value !== 'string') throw new CryptoInputError('not a string');
    loadPublicKey(value);
    return value;
  } catch (error) {
    if (!(error instanceof CryptoInputError)) throw error;
    add('fail', 'publicKey', `plugins.${plugin}.publicKey is not an RSA public key in PEM format`);
    return null;
  }
}

/** Whether two PEMs (PKCS#1 or SPKI) hold the same public key. */
function sameKey(a: string, b: string): boolean {
  const der = (pem: string) => loadPublicKey(pem).export({ type: 'pkcs1', format: 'der' });
  return der(a).equals(der(b));
}

/** Capawesome: the plugin calls https://{serverDomain}/v1/apps/{LiveUpdate.appId}/... */
function checkCapawesomeServer(
  add: Add,
  liveUpdate: Record<string, unknown>,
  appId: string | undefined,
  server: string,
): void {
  const host = new URL(server).host;
  const domain = liveUpdate.serverDomain;
  if (typeof domain !== 'string' || domain === '') {
    add(
      'fail',
      'serverDomain',
      `plugins.LiveUpdate.serverDomain is not set; set it to Overair's host name (${host})`,
    );
  } else if (domain !== host) {
    add('warn', 'serverDomain', `"${domain}" is not ${host} (fine if that is Overair's public host name)`);
  } else add('ok', 'serverDomain', domain);
  if (liveUpdate.appId !== appId) {
    add(
      'fail',
      'LiveUpdate.appId',
      `plugins.LiveUpdate.appId must be the app id (${appId ?? 'appId'}): the plugin puts it in every request`,
    );
  }
}

/** Capgo: CapacitorUpdater.publicKey against the app's encryption key and require_encryption. */
function checkEncryptionSettings(add: Add, app: AppJson, key: string | undefined): void {
  const registered = app.encryption_public_key;
  if (app.require_encryption) {
    if (!key) {
      add(
        'fail',
        'encryption key',
        `the app requires bundles encrypted for key ${app.encryption_key_id}, but plugins.CapacitorUpdater.publicKey is not set: devices cannot decrypt them; set it to that public key`,
      );
    } else if (registered && !sameKey(key, registered)) {
      add(
        'fail',
        'encryption key',
        `plugins.CapacitorUpdater.publicKey (key ${keyIdOf(key)}) is not the app's encryption key on the server (key ${app.encryption_key_id})`,
      );
    } else add('ok', 'encryption key', `encryption required for key ${app.encryption_key_id}, as configured`);
    return;
  }
  if (!key) return;
  if (!registered) {
    add(
      'warn',
      'encryption key',
      'plugins.CapacitorUpdater.publicKey is set but the server does not know it, so an unencrypted upload would be accepted and every device would refuse it: overair app update --encryption-public-key .capgo_key_v2.pub --require-encryption',
    );
  } else if (!sameKey(key, registered)) {
    add(
      'fail',
      'encryption key',
      `plugins.CapacitorUpdater.publicKey (key ${keyIdOf(key)}) is not the app's encryption key on the server (key ${app.encryption_key_id})`,
    );
  } else {
    add(
      'warn',
      'encryption key',
      'the server has the public key but does not require encryption, so an unencrypted upload would be accepted and every device would refuse it: overair app update --require-encryption',
    );
  }
}

/** Capawesome: LiveUpdate.publicKey against the app's signing key and require_signature. */
function checkSignatureSettings(add: Add, app: AppJson, key: string | undefined): void {
  const registered = app.signing_public_key;
  if (app.require_signature) {
    if (!key) {
      add(
        'warn',
        'signing key',
        'the app requires signed bundles, but plugins.LiveUpdate.publicKey is not set, so devices do not verify them; set it to the signing public key',
      );
    } else if (registered && !sameKey(key, registered)) {
      add(
        'fail',
        'signing key',
        `plugins.LiveUpdate.publicKey (key ${keyIdOf(key)}) is not the app's signing key on the server (key ${keyIdOf(registered)}): devices refuse every bundle`,
      );
    } else add('ok', 'signing key', 'signatures required, with the key devices verify them with');
    return;
  }
  if (!key) return;
  if (registered && !sameKey(key, registered)) {
    add(
      'fail',
      'signing key',
      `plugins.LiveUpdate.publicKey (key ${keyIdOf(key)}) is not the app's signing key on the server (key ${keyIdOf(registered)})`,
    );
  } else {
    add(
      'warn',
      'signing key',
      `plugins.LiveUpdate.publicKey is set, so devices refuse unsigned bundles ("Bundle does not contain a signature"), but the server ${registered ? 'does not require signatures' : 'does not know the key'}: overair app update${registered ? '' : ' --signing-public-key public.pem'} --require-signature`,
    );
  }
}

/** Capawesome devices with a publicKey install only a bundle whose signature verifies with it. */
function checkLiveSignature(add: Add, key: string, live: BundleJson): void {
  if (live.signature === null) {
    add(
      'fail',
      'signature',
      `the live bundle ${live.version} has no signature: devices with plugins.LiveUpdate.publicKey refuse it`,
    );
  } else if (!verifyDigestSignature(live.sha256, live.signature, key)) {
    add(
      'fail',
      'signature',
      `the live bundle ${live.version}'s signature does not verify with plugins.LiveUpdate.publicKey: devices refuse it`,
    );
  } else add('ok', 'signature', `the live bundle ${live.version} is signed with the configured key`);
}

export async function doctor(io: CliIo, _options: unknown, command: Command): Promise<void> {
  const ctx = contextOf(io, command);
  const project = await readCapacitorConfig(io.cwd);
  if (!project) throw new CliError(`no capacitor.config.(json|ts|js) in ${io.cwd}`);
  const findings: Finding[] = [];
  const add = (level: Finding['level'], check: string, detail: string) =>
    findings.push({ level, check, detail });
  const updater = project.updater;
  const liveUpdate = project.liveUpdate;
  const api = await ctx.api();
  // Which plugin the app uses: package.json says; without it, the config's sections do (Capgo
  // when neither has one, as before).
  const installed = await installedUpdaterPlugins(io.cwd);
  const configured = {
    capgo: Object.keys(updater).length > 0,
    capawesome: Object.keys(liveUpdate).length > 0,
  };
  const usesCapawesome =
    installed.includes('capawesome') || (installed.length === 0 && configured.capawesome);
  const usesCapgo = installed.includes('capgo') || (installed.length === 0 && !usesCapawesome);

  if (!project.appId) add('fail', 'appId', `${project.file} has no appId`);
  if (usesCapawesome) checkCapawesomeServer(add, liveUpdate, project.appId, api.server);
  for (const [key, route] of usesCapgo ? ENDPOINTS : []) {
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
      add('warn', key, 'plain http: release builds on Android and iOS refuse it; serve Overair over https');
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
      else if (!main.version) add('warn', 'channel', `default channel "${main.name}" has no live bundle yet`);
      else add('ok', 'channel', `default channel "${main.name}" serves ${main.version}`);
      const capgoKey = usesCapgo ? configKey(add, 'CapacitorUpdater', updater.publicKey) : undefined;
      const capawesomeKey = usesCapawesome ? configKey(add, 'LiveUpdate', liveUpdate.publicKey) : undefined;
      if (usesCapgo && capgoKey !== null) checkEncryptionSettings(add, app, capgoKey);
      if (usesCapawesome && capawesomeKey !== null) checkSignatureSettings(add, app, capawesomeKey);
      if (main?.version) {
        const live = await api.get<BundleJson>(
          `/apps/${encodeURIComponent(project.appId)}/bundles/${encodeURIComponent(main.version)}`,
        );
        if (usesCapgo && capgoKey !== null) checkEncryption(add, capgoKey, live);
        if (usesCapawesome && capawesomeKey) checkLiveSignature(add, capawesomeKey, live);
      }
    }
  }

  const failed = findings.some((finding) => finding.level === 'fail');
  emit(io, ctx.json, { ok: !failed, findings }, (v) =>
    v.findings
      .map(
        (f) => `${f.level === 'ok' ? 'ok  ' : f.level === 'warn' ? 'warn' : 'FAIL'}  ${f.check}: ${f.detail}`,
      )
      .join('\n'),
  );
  if (failed) throw new CliError('doctor found problems to fix (marked FAIL above)', 1);
}
