import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';

const ROOT = path.resolve(import.meta.dirname, '../..');

/** `overair serve` in a process of its own, as an operator runs it: for crash and signal tests. */
export interface SpawnedServer {
  child: ChildProcess;
  url: string;
  port: number;
  /** Everything it printed so far (JSON log lines). */
  output(): string;
  /** Resolves when the process ends, with its exit code (null when a signal ended it). */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>;
  /** Whether the process is still running. */
  alive(): boolean;
  /** SIGKILL, and waits for the process to be gone. */
  kill(): Promise<void>;
}

/**
 * Starts `overair serve` through tsx with `env` added to this process's environment, and resolves
 * once it logs the URL it listens on. The caller owns the process: kill it, or let it exit.
 * `wrapper` runs the server under another program (strace), which then gets the command line.
 */
export async function spawnServer(
  env: Record<string, string>,
  args: string[] = [],
  wrapper: string[] = [],
): Promise<SpawnedServer> {
  const command = [process.execPath, '--import', 'tsx', path.join(ROOT, 'src/cli/main.ts'), 'serve', ...args];
  const child = spawn(
    wrapper[0] ?? command[0]!,
    [...wrapper.slice(1), ...(wrapper.length > 0 ? command : command.slice(1))],
    {
      env: {
        ...process.env,
        OVERAIR_PORT: '0',
        OVERAIR_HOST: '127.0.0.1',
        OVERAIR_LOG_LEVEL: 'info',
        ...env,
      },
      cwd: ROOT,
    },
  );
  let output = '';
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal, at: Date.now() })),
  );
  const url = await new Promise<string>((resolve, reject) => {
    const collect = (chunk: Buffer) => {
      output += chunk.toString();
      const match = /"url":"(http:\/\/[^"]+)"/.exec(output);
      if (match) resolve(match[1]!);
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    void exited.then(() => reject(new Error(`overair serve exited before listening:\n${output}`)));
  });
  const alive = () => child.exitCode === null && child.signalCode === null;
  return {
    child,
    url,
    port: Number(new URL(url).port),
    output: () => output,
    exited,
    alive,
    async kill() {
      if (alive()) child.kill('SIGKILL');
      await exited;
    },
  };
}
