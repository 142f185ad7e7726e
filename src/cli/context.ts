import type { Command } from 'commander';
import { ApiClient } from './client.js';
import type { CliIo } from './io.js';
import { resolveConnection } from './settings.js';

/** Options every command takes (declared once on the program). */
interface GlobalOptions {
  server?: string;
  token?: string;
  json?: boolean;
  verbose?: boolean;
}

export interface CommandContext {
  io: CliIo;
  json: boolean;
  /** A client for the server, created on first use (so `bundle zip` works offline). */
  api(): Promise<ApiClient>;
}

export function contextOf(io: CliIo, command: Command): CommandContext {
  const options = command.optsWithGlobals<GlobalOptions>();
  let client: ApiClient | undefined;
  return {
    io,
    json: Boolean(options.json),
    async api() {
      client ??= new ApiClient(await resolveConnection(io, options));
      return client;
    },
  };
}
