import fs from 'node:fs/promises';
import path from 'node:path';
import { UPDATER_PLUGINS, type UpdaterPlugin } from '../bundle/zip-folder.js';
import { CliError } from './io.js';

export interface CapacitorProject {
  file: string;
  appId?: string;
  webDir?: string;
  /** plugins.CapacitorUpdater (@capgo/capacitor-updater). */
  updater: Record<string, unknown>;
  /** plugins.LiveUpdate (@capawesome/capacitor-live-update). */
  liveUpdate: Record<string, unknown>;
}

/** The parts of a Capacitor config Overair reads; anything else is left alone. */
interface CapacitorConfigFile {
  appId?: unknown;
  webDir?: unknown;
  plugins?: { CapacitorUpdater?: Record<string, unknown>; LiveUpdate?: Record<string, unknown> };
}

const CONFIG_FILES = [
  'capacitor.config.json',
  'capacitor.config.ts',
  'capacitor.config.js',
  'capacitor.config.mjs',
];

/** The Capacitor config of the project in `cwd`, or null when there is none. */
export async function readCapacitorConfig(cwd: string): Promise<CapacitorProject | null> {
  for (const name of CONFIG_FILES) {
    const file = path.join(cwd, name);
    try {
      await fs.access(file);
    } catch {
      continue;
    }
    let config: CapacitorConfigFile;
    try {
      config = name.endsWith('.json')
        ? (JSON.parse(await fs.readFile(file, 'utf8')) as CapacitorConfigFile)
        : // TypeScript and JavaScript configs are modules: load them as Capacitor's own CLI does.
          // (jiti is imported only then: it costs every command ~50 ms of start-up.)
          ((await (
            await import('jiti')
          )
            .createJiti(import.meta.url)
            .import(file, { default: true })) as CapacitorConfigFile);
    } catch (error) {
      throw new CliError(`cannot read ${name}: ${(error as Error).message}`);
    }
    return {
      file,
      appId: typeof config.appId === 'string' ? config.appId : undefined,
      webDir: typeof config.webDir === 'string' ? config.webDir : undefined,
      updater: config.plugins?.CapacitorUpdater ?? {},
      liveUpdate: config.plugins?.LiveUpdate ?? {},
    };
  }
  return null;
}

/** The version in the project's package.json, the default bundle version. */
export async function packageVersion(cwd: string): Promise<string | undefined> {
  try {
    const pkg = JSON.parse(await fs.readFile(path.join(cwd, 'package.json'), 'utf8')) as {
      version?: unknown;
    };
    return typeof pkg.version === 'string' ? pkg.version : undefined;
  } catch {
    return undefined;
  }
}

/** The updater plugins among the project's dependencies (package.json), in a stable order. */
export async function installedUpdaterPlugins(cwd: string): Promise<UpdaterPlugin[]> {
  let pkg: { dependencies?: unknown; devDependencies?: unknown };
  try {
    pkg = JSON.parse(await fs.readFile(path.join(cwd, 'package.json'), 'utf8')) as typeof pkg;
  } catch {
    return [];
  }
  const names = new Set(
    [pkg.dependencies, pkg.devDependencies].flatMap((deps) =>
      deps && typeof deps === 'object' ? Object.keys(deps) : [],
    ),
  );
  return (Object.keys(UPDATER_PLUGINS) as UpdaterPlugin[]).filter((plugin) =>
    names.has(UPDATER_PLUGINS[plugin].package),
  );
}

/** The app id: the flag, else the Capacitor config's. */
export async function resolveAppId(cwd: string, given: string | undefined): Promise<string> {
  if (given) return given;
  const project = await readCapacitorConfig(cwd);
  if (project?.appId) return project.appId;
  throw new CliError('no app id: pass --app APP_ID or run this in a Capacitor project (capacitor.config.*)');
}
