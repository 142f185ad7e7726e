import { readFileSync } from 'node:fs';

/**
 * The kernel's transparent huge page mode ("always", "madvise", "never"), which decides what the
 * server's GLIBC_TUNABLES (src/server-node-flags.ts) does; undefined where there is none (not Linux).
 */
export function hugePageMode(): string | undefined {
  try {
    return /\[(\w+)\]/.exec(readFileSync('/sys/kernel/mm/transparent_hugepage/enabled', 'utf8'))?.[1];
  } catch {
    return undefined;
  }
}
