import semver from 'semver';

/** Names the plugin gives special meaning to; a bundle may not take them (protocol §8.1). */
const RESERVED_VERSION_NAMES = new Set(['builtin', 'unknown']);

/**
 * Version names end up in URLs, file names on devices and log lines, so they are restricted to a
 * safe alphabet: semver and the usual build suffixes fit, path-like strings do not.
 */
const VERSION_NAME = /^[0-9A-Za-z](?:[0-9A-Za-z._+-]{0,126}[0-9A-Za-z])?$/;

export function versionNameProblem(name: string): string | undefined {
  if (!VERSION_NAME.test(name) || name.includes('..')) {
    return 'a version name is 1-128 letters, digits, ".", "_", "+" or "-", starting and ending with a letter or digit, without ".."';
  }
  if (RESERVED_VERSION_NAMES.has(name.toLowerCase())) return `"${name}" is reserved by the updater plugin`;
  return undefined;
}

/**
 * Native versions come from the store build ("2", "2.1", "2.1.0-beta.1"), so they are coerced to
 * semver the way Capgo does (missing parts become 0) and keep their pre-release tag.
 */
export function parseNativeVersion(text: string): semver.SemVer | null {
  const trimmed = text.trim();
  return semver.parse(trimmed) ?? semver.coerce(trimmed, { includePrerelease: true });
}

/** True when `nativeVersion` is at least `minimum`; an unparsable native version never qualifies. */
export function meetsMinimumNativeVersion(nativeVersion: string, minimum: string | null): boolean {
  if (!minimum) return true;
  const have = parseNativeVersion(nativeVersion);
  const need = parseNativeVersion(minimum);
  if (!have || !need) return false;
  return semver.gte(have, need);
}
