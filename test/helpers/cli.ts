import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { runCli } from '../../src/cli/program.js';

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
  /** stdout parsed as JSON (for --json runs). */
  json: any;
}

/** Runs the overair CLI in-process, as a user would type it, with its own env and folder. */
export async function cli(
  args: string[],
  options: { cwd: string; env?: Record<string, string>; stdin?: string },
): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  const code = await runCli(args, {
    stdout: (text) => (stdout += text),
    stderr: (text) => (stderr += text),
    env: { HOME: options.cwd, ...options.env },
    cwd: options.cwd,
    interactive: false,
    // What a pipe into the command would give it (none: there is no stdin to read).
    readSecret: options.stdin === undefined ? undefined : async () => options.stdin!,
  });
  let json: unknown;
  try {
    json = JSON.parse(stdout);
  } catch {
    json = undefined;
  }
  return { code, stdout, stderr, json };
}

/** A Capacitor project folder: config, package.json and a built web folder. */
export async function makeProject(options: {
  appId: string;
  version?: string;
  files?: Record<string, string>;
  updater?: Record<string, unknown>;
}): Promise<string> {
  const root = await fs.mkdtemp(path.join(os.tmpdir(), 'overair-project-'));
  await fs.writeFile(
    path.join(root, 'capacitor.config.json'),
    JSON.stringify({
      appId: options.appId,
      appName: 'Test',
      webDir: 'dist',
      plugins: { CapacitorUpdater: options.updater ?? {} },
    }),
  );
  await fs.writeFile(
    path.join(root, 'package.json'),
    JSON.stringify({ name: 'app', version: options.version ?? '1.0.0' }),
  );
  const files = options.files ?? {
    'index.html': '<!doctype html><script type="module" src="assets/main.js"></script>',
    'assets/main.js':
      "import { CapacitorUpdater } from '@capgo/capacitor-updater';\nCapacitorUpdater.notifyAppReady();",
  };
  for (const [name, content] of Object.entries(files)) {
    await fs.mkdir(path.dirname(path.join(root, 'dist', name)), { recursive: true });
    await fs.writeFile(path.join(root, 'dist', name), content);
  }
  return root;
}
