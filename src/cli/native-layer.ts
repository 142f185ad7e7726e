import fs from 'node:fs/promises';
import path from 'node:path';
import { canonicalNativeLayer, type NativeLayer, type NativePlatform } from '../domain/native-layer.js';
import { CliError } from './io.js';

/** Capacitor's own packages: recorded as the layer's Capacitor versions, not as plugins. */
const CAPACITOR_PACKAGES = new Set([
  '@capacitor/core',
  '@capacitor/android',
  '@capacitor/ios',
  '@capacitor/cli',
]);

interface PackageJson {
  name?: unknown;
  version?: unknown;
  dependencies?: Record<string, unknown>;
  devDependencies?: Record<string, unknown>;
  capacitor?: { android?: unknown; ios?: unknown };
  cordova?: unknown;
}

async function readJson(file: string): Promise<PackageJson | null> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch {
    return null;
  }
  try {
    return JSON.parse(text) as PackageJson;
  } catch {
    throw new CliError(`${file} is not valid JSON`);
  }
}

const exists = (target: string) =>
  fs.stat(target).then(
    (stat) => stat.isDirectory() || stat.isFile(),
    () => false,
  );

/**
 * An installed package's folder, looked up as Node (and Capacitor's CLI) resolve it: node_modules
 * of the project, then of each folder above it (workspaces hoist packages to the root).
 */
async function packageFolder(project: string, name: string): Promise<string | null> {
  let dir = project;
  for (;;) {
    const candidate = path.join(dir, 'node_modules', name);
    if (await exists(path.join(candidate, 'package.json'))) return candidate;
    const parent = path.dirname(dir);
    if (parent === dir) return null;
    dir = parent;
  }
}

/**
 * The platforms a package has native code for, found the way Capacitor's CLI finds native plugins
 * (cli/src/plugin.ts): a `capacitor` field in its package.json names its android and ios sources
 * (their folders are `android` and `ios` unless it says otherwise); a Cordova plugin has a
 * plugin.xml with a <platform> per platform. None: a JavaScript-only package.
 */
async function nativePlatforms(folder: string, meta: PackageJson): Promise<NativePlatform[]> {
  const platforms: NativePlatform[] = [];
  if (meta.capacitor && typeof meta.capacitor === 'object') {
    for (const platform of ['android', 'ios'] as const) {
      const declared = meta.capacitor[platform];
      const src =
        declared && typeof declared === 'object' && typeof (declared as { src?: unknown }).src === 'string'
          ? (declared as { src: string }).src
          : platform;
      if (declared !== undefined || (await exists(path.join(folder, src)))) platforms.push(platform);
    }
    return platforms;
  }
  let xml: string;
  try {
    xml = await fs.readFile(path.join(folder, 'plugin.xml'), 'utf8');
  } catch {
    return platforms;
  }
  for (const platform of ['android', 'ios'] as const) {
    if (new RegExp(`<platform\\s+name=["']${platform}["']`).test(xml)) platforms.push(platform);
  }
  return platforms;
}

/** Whether `project` is a Capacitor project: its package.json depends on @capacitor/core. */
export async function isCapacitorProject(project: string): Promise<boolean> {
  const manifest = await readJson(path.join(project, 'package.json')).catch(() => null);
  return Boolean(
    manifest?.dependencies?.['@capacitor/core'] ?? manifest?.devDependencies?.['@capacitor/core'],
  );
}

/**
 * The native layer of the Capacitor project in `project`: the installed versions of Capacitor's
 * core and platforms, and every dependency (and dev dependency, as Capacitor's CLI reads them) that
 * has native code, in canonical order. A dependency that is not installed is an error (the layer
 * would be wrong); a dev dependency that is not installed is left out.
 */
export async function detectNativeLayer(project: string): Promise<NativeLayer> {
  const manifest = await readJson(path.join(project, 'package.json'));
  if (!manifest) throw new CliError(`no package.json in ${project}: cannot read its native layer`);
  if (!(await isCapacitorProject(project))) {
    throw new CliError(`${project} is not a Capacitor project (@capacitor/core is not a dependency)`);
  }
  const dependencies = Object.keys(manifest.dependencies ?? {});
  const devDependencies = Object.keys(manifest.devDependencies ?? {}).filter(
    (name) => !dependencies.includes(name),
  );
  const layer: NativeLayer = { capacitor: { core: null, android: null, ios: null }, packages: [] };
  for (const [name, required] of [
    ...dependencies.map((name) => [name, true] as const),
    ...devDependencies.map((name) => [name, false] as const),
  ]) {
    const folder = await packageFolder(project, name);
    const meta = folder ? await readJson(path.join(folder, 'package.json')) : null;
    if (!folder || !meta) {
      if (required) {
        throw new CliError(
          `${name} is a dependency of ${project} but is not installed: run npm install first`,
        );
      }
      continue;
    }
    const version = typeof meta.version === 'string' ? meta.version : '';
    if (CAPACITOR_PACKAGES.has(name)) {
      if (name === '@capacitor/core') layer.capacitor.core = version;
      if (name === '@capacitor/android') layer.capacitor.android = version;
      if (name === '@capacitor/ios') layer.capacitor.ios = version;
      continue;
    }
    const platforms = await nativePlatforms(folder, meta);
    if (platforms.length > 0) layer.packages.push({ name, version, platforms });
  }
  return canonicalNativeLayer(layer);
}

/** One line about a layer, for the CLI's output. */
export function describeNativeLayer(layer: NativeLayer | null, fingerprint?: string | null): string {
  if (!layer) return 'unknown (served to every binary; give --native-from DIR to record it)';
  const capacitor = [
    layer.capacitor.core && `core ${layer.capacitor.core}`,
    layer.capacitor.android && `android ${layer.capacitor.android}`,
    layer.capacitor.ios && `ios ${layer.capacitor.ios}`,
  ].filter(Boolean);
  const count = layer.packages.length;
  return [
    `Capacitor ${capacitor.length > 0 ? capacitor.join(', ') : 'not installed'}`,
    `${count} native package${count === 1 ? '' : 's'}`,
    fingerprint ? `fingerprint ${fingerprint.slice(0, 12)}` : undefined,
  ]
    .filter(Boolean)
    .join('; ');
}
