/**
 * Where a CLI run reads and writes. Commands never touch `process` directly, so tests run them
 * in-process with captured output, and the real entry point passes the process's own streams.
 */
export interface CliIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  env: NodeJS.ProcessEnv;
  cwd: string;
  /** Whether stderr is a terminal: progress bars only go there. */
  interactive: boolean;
}

/** A failure the user caused or can fix: printed as one line, no stack trace, non-zero exit. */
export class CliError extends Error {
  override name = 'CliError';
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
  }
}

export function processIo(): CliIo {
  return {
    stdout: (text) => process.stdout.write(text),
    stderr: (text) => process.stderr.write(text),
    env: process.env,
    cwd: process.cwd(),
    interactive: Boolean(process.stderr.isTTY),
  };
}
