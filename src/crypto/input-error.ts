/**
 * An input the user gave that cannot be used (wrong key, malformed session key...). Apart from
 * capgo.ts so that the CLI recognises it without loading node:crypto at every command.
 */
export class CryptoInputError extends Error {
  override name = 'CryptoInputError';
}
