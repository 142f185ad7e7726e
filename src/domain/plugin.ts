import semver from 'semver';

/**
 * Facts about the @capgo/capacitor-updater plugin that change what the server must do, by plugin
 * version (see docs/protocol.md).
 */

/**
 * Plugins before 8.44 / 7.50 report the literal "builtin" (and some an empty string) as the running
 * bundle when they run the one shipped in the store build; newer ones report the native version name.
 * Normalising both to the native version keeps a device on builtin 1.0.0 from downloading bundle
 * "1.0.0" again.
 */
export function currentBundleVersion(versionName: string, nativeVersion: string): string {
  return versionName === '' || versionName === 'builtin' ? nativeVersion : versionName;
}

/**
 * Manifest (delta) updates: plugins from 5.10 / 6.25 / 7.0.35 and every 8.x download the files a
 * manifest lists; older ones only know the full zip (Capgo's backend uses the same thresholds).
 */
export function pluginSupportsManifest(pluginVersion: string): boolean {
  let supports = manifestSupport.get(pluginVersion);
  if (supports === undefined) {
    // A fleet runs a handful of plugin versions: parsing one costs more than the rest of a check.
    if (manifestSupport.size >= 1000) manifestSupport.clear();
    supports = parseManifestSupport(pluginVersion);
    manifestSupport.set(pluginVersion, supports);
  }
  return supports;
}

const manifestSupport = new Map<string, boolean>();

function parseManifestSupport(pluginVersion: string): boolean {
  const parsed = semver.coerce(pluginVersion);
  if (!parsed) return false;
  if (parsed.major >= 8) return true;
  const minimum = { 7: '7.0.35', 6: '6.25.0', 5: '5.10.0' }[parsed.major];
  return minimum !== undefined && semver.gte(parsed, minimum);
}

/**
 * From 5.34 / 6.34 / 7.34 and in every 8.x, `setChannel` is persisted on the device and sent back as
 * `defaultChannel` in every request, and `unsetChannel` makes no network call. Older plugins keep the
 * channel on the server and unset it with DELETE. A server-side self-assignment must therefore only be
 * recorded for old plugins, or a later local unset would never reach us.
 */
export function pluginKeepsChannelLocally(pluginVersion: string): boolean {
  const parsed = semver.coerce(pluginVersion);
  if (!parsed) return false;
  if (parsed.major >= 8) return true;
  if (parsed.major >= 5) return parsed.minor >= 34;
  return false;
}
