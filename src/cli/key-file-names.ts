/**
 * The Capgo CLI's key file names, so either tool finds the other's keys. Apart from key-files.ts:
 * the commands' help names them without loading what reads keys.
 */
export const PRIVATE_KEY_FILE = '.capgo_key_v2';
export const PUBLIC_KEY_FILE = '.capgo_key_v2.pub';
