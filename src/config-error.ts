/**
 * A bad setting: `overair` prints its message alone and exits 1. Apart from config.ts (and its zod
 * schemas) so that the CLI can recognise it without loading them at every command.
 */
export class ConfigError extends Error {
  override name = 'ConfigError';
}
