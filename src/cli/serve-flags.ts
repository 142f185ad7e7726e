import { Option } from 'commander';
import type { ConfigOverrides } from '../config.js';
import { SETTINGS, SETTING_KEYS, defaultShown, type Setting, type SettingKey } from '../config-settings.js';

/**
 * The `overair serve` flags, made from the settings list (config-settings.ts): one per setting,
 * with the Capgo CLI's names as aliases, and the help line `doc (ENV_VAR, default X)`.
 */

/** The flags of a setting as typed, the main one first: `--port`, `-p`, `--s3-bucket-name`... */
export function flagsOf(entry: Setting): string[] {
  const flag = entry.flag;
  switch (flag.kind) {
    case 'value':
      return [
        `--${flag.name}`,
        ...(flag.short ? [`-${flag.short}`] : []),
        ...(flag.aliases ?? []).map((alias) => `--${alias}`),
      ];
    case 'switch':
      return [`--${flag.name}`];
    case 'negatable':
      return [`--${flag.name}`, `--no-${flag.name}`];
    case 'env-only':
      return [];
  }
}

/** `doc (ENV_VAR, default X)`, as `serve --help` shows it: one line, code without its backticks. */
function helpLine(entry: Setting): string {
  const shown = defaultShown(entry)?.replace(/`/g, '');
  const notes = [entry.env, ...(shown === undefined ? [] : [`default ${shown}`])].join(', ');
  const extra =
    entry.flag.kind === 'switch'
      ? '; the flag alone means true'
      : entry.secret
        ? '; a secret: prefer the variable, ps shows flags'
        : '';
  const doc = entry.doc.replace(/`/g, '').replace(/\.$/, '');
  // Lower case as commander's own lines, unless the word is an acronym (URL).
  const lowered = /^[A-Z][a-z]/.test(doc) ? doc[0]!.toLowerCase() + doc.slice(1) : doc;
  return `${lowered} (${notes}${extra})`;
}

/** The commander options of every setting that has a flag, in the settings' order. */
export function serveOptions(): Option[] {
  const options: Option[] = [];
  for (const key of SETTING_KEYS) {
    const entry: Setting = SETTINGS[key];
    const flag = entry.flag;
    switch (flag.kind) {
      case 'value': {
        const short = flag.short ? `-${flag.short}, ` : '';
        options.push(new Option(`${short}--${flag.name} <${flag.placeholder}>`, helpLine(entry)));
        for (const alias of flag.aliases ?? []) {
          options.push(
            new Option(`--${alias} <${flag.placeholder}>`, `same as --${flag.name} (the Capgo CLI's name)`),
          );
        }
        break;
      }
      case 'switch':
        // Alone it means true; with a value it is that value (`--trust-proxy false`).
        options.push(new Option(`--${flag.name} [on]`, helpLine(entry)));
        break;
      case 'negatable':
        // Both defined, commander leaves the value unset unless one is given, so the variable counts.
        options.push(new Option(`--${flag.name}`, helpLine(entry)));
        options.push(new Option(`--no-${flag.name}`, `same as ${entry.env}=false`));
        break;
      case 'env-only':
        break;
    }
  }
  return options;
}

/** The settings only an environment variable sets (secrets), for the help's footer. */
export function envOnlySettings(): Setting[] {
  return SETTING_KEYS.map((key): Setting => SETTINGS[key]).filter((entry) => entry.flag.kind === 'env-only');
}

/** Parsed `serve` flags -> overrides for loadConfig: the main flag first, then its aliases. */
export function overridesFromFlags(flags: Record<string, unknown>): ConfigOverrides {
  const overrides: ConfigOverrides = {};
  const text = (value: unknown) =>
    value === undefined ? undefined : value === true ? 'true' : value === false ? 'false' : String(value);
  for (const key of SETTING_KEYS) {
    const flag = (SETTINGS[key] as Setting).flag;
    if (flag.kind === 'env-only') continue;
    const names = flag.kind === 'value' ? [flag.name, ...(flag.aliases ?? [])] : [flag.name];
    const given = names.map((name) => flags[attributeName(name)]).find((value) => value !== undefined);
    if (given !== undefined) overrides[key as SettingKey] = text(given);
  }
  return overrides;
}

/** What commander calls a flag's value: `s3-bucket-name` -> `s3BucketName`. */
function attributeName(flagName: string): string {
  return flagName.replace(/-([a-z0-9])/g, (_, letter: string) => letter.toUpperCase());
}
