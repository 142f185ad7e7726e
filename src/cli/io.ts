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
  /**
   * A secret from stdin: typed at a hidden prompt (twice when `confirm`) on a terminal, else read
   * to its end. Absent where there is no stdin to read.
   */
  readSecret?: (prompt: string, confirm: boolean) => Promise<string>;
  /**
   * Runs `handler` on Ctrl-C (SIGINT) instead of the default exit, until the returned function is
   * called; for commands that run until stopped (`device watch`). Absent where there is no signal.
   */
  onInterrupt?: (handler: () => void) => () => void;
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
    readSecret: readProcessSecret,
    onInterrupt(handler) {
      process.once('SIGINT', handler);
      return () => process.off('SIGINT', handler);
    },
  };
}

/** Longest secret read from a pipe. */
const MAX_SECRET_BYTES = 64 * 1024;

async function readProcessSecret(prompt: string, confirm: boolean): Promise<string> {
  if (!process.stdin.isTTY) {
    let text = '';
    for await (const chunk of process.stdin) {
      text += String(chunk);
      if (text.length > MAX_SECRET_BYTES) throw new CliError('stdin is too long for a password');
    }
    return text;
  }
  const first = await promptHidden(prompt);
  if (confirm && (await promptHidden('Once more: ')) !== first) throw new CliError('the two entries differ');
  return first;
}

/** Reads one line from the terminal without echoing it. */
function promptHidden(prompt: string): Promise<string> {
  const stdin = process.stdin;
  return new Promise((resolve, reject) => {
    let value = '';
    const finish = (error?: Error) => {
      stdin.off('data', onData);
      stdin.setRawMode(false);
      stdin.pause();
      process.stderr.write('\n');
      if (error) reject(error);
      else resolve(value);
    };
    const onData = (chunk: Buffer) => {
      for (const char of chunk.toString('utf8')) {
        if (char === '\r' || char === '\n' || char === '\u0004') return finish();
        if (char === '\u0003') return finish(new CliError('cancelled', 130));
        if (char === '\u007f' || char === '\b') value = value.slice(0, -1);
        else value += char;
      }
    };
    process.stderr.write(prompt);
    stdin.setRawMode(true);
    stdin.on('data', onData);
    stdin.resume();
  });
}
