import type { ChannelFacts } from '../domain/decision.js';
import {
  binaryKey,
  type NativeBinaryFacts,
  type NativeLayer,
  type UnregisteredBinaryRule,
} from '../domain/native-layer.js';
import type { NativePolicy } from '../domain/policy.js';
import type { Repos } from '../db/index.js';
import { isDatabaseUnavailable } from '../db/unavailable.js';
import type { BundleFileRow, BundleRow, ChannelRow, NativeBinaryRow } from '../db/schema.js';
import type { Metrics } from '../metrics/registry.js';
import { binaryFacts } from './native-gate.js';

/** Everything the update decision needs about one app, read in a few queries and shared by all checks. */
export interface AppRelease {
  appId: string;
  /** The app serves signed bundles only (require_signature): never an unsigned one to Capawesome devices. */
  requireSignature: boolean;
  channels: Map<string, ChannelFacts<LiveBundle>>;
  /** Devices whose channel is set on the server, by device id. */
  assignments: Map<string, ChannelAssignment>;
  /** Versions held back from a device after it failed them, by device id. */
  holds: Map<string, Set<string>>;
  /** Registered binaries, by binaryKey(platform, version, build number or ''); see findBinary. */
  binaries: Map<string, NativeBinaryFacts>;
  /** Registered binaries with a store link, newest first: where a refused device is sent. */
  storeLinks: { platform: string; binary: NativeBinaryFacts; url: string }[];
}

export interface ChannelAssignment {
  override: string | null;
  selfAssigned: string | null;
}

const NO_ASSIGNMENT: ChannelAssignment = { override: null, selfAssigned: null };

export function assignmentOf(release: AppRelease, deviceId: string): ChannelAssignment {
  return release.assignments.get(deviceId) ?? NO_ASSIGNMENT;
}

export type LiveBundle = BundleRow & {
  minNativeVersion: string | null;
  /** The native layer it was built against (parsed once per load); null when unknown. */
  nativeLayer: NativeLayer | null;
  nativeFingerprint: string | null;
  /** The bundle's files for a delta update; empty when it has none (encrypted or external bundles). */
  files: BundleFileRow[];
};

/** Called when an app's last snapshot answers for a reload that failed (the database is unreachable). */
export type StaleListener = (appId: string, ageMs: number, error: unknown) => void;

/** Tells the other instances sharing the database that an app's release data changed. */
export interface ReleaseChangePublisher {
  publish(appId: string): void;
}

/** What one load read: the app's release, and its release stamp (null: no such app) read before it. */
interface Loaded {
  release: AppRelease | null;
  stamp: number | null;
}

interface CacheEntry {
  expires: number;
  value: Promise<AppRelease | null>;
  /** Set once the load succeeded (only a loaded entry is reloaded ahead of its expiry). */
  loaded: Loaded | undefined;
  refreshing: boolean;
}

/**
 * Read-through cache of each app's channels, live bundles and device channel assignments: the update
 * check is the hot path and answers from memory; this data changes only on admin and channel actions.
 * Writes in this process drop the entry at once and are published to the other instances (PostgreSQL
 * NOTIFY, see db/release-notifications.ts), which drop theirs within milliseconds. The short TTL
 * bounds how stale an instance is when a notice is lost (its listener was reconnecting): a change
 * committed anywhere is served everywhere within `ttlMs` plus the time of one load. Past half its
 * TTL an entry is checked against its app's release stamp (apps.release_stamp, bumped by database
 * triggers on every row the release is made of, migration 0019): reloaded when the stamp moved,
 * kept for another TTL when not. So the rule holds for writes that invalidate nothing (another
 * instance whose notice was lost, SQL run by hand), and unchanged apps cost one query per refresh.
 *
 * While the database is unreachable, an app's last loaded snapshot keeps answering (for at most
 * `staleLimitMs` after it was loaded), so devices still get the answer they got a moment ago rather
 * than a 503: nothing can change it during the outage (admin writes fail too), and the bundles it
 * names are downloaded from storage, not the database. The limit covers an outage of this instance
 * alone (a network partition), during which other instances may see a release halted. A failed
 * reload answers from the snapshot for one TTL, so the database is retried once per TTL, not per check.
 */
export class ReleaseCache {
  private readonly entries = new Map<string, CacheEntry>();
  /** Each app's last successful load, what an outage falls back to. */
  private readonly lastLoaded = new Map<string, Loaded & { at: number }>();
  /**
   * How many times each app was dropped: a read that began before a drop (a change) must not become
   * the app's last snapshot, which an outage would then answer with.
   */
  private readonly drops = new Map<string, number>();
  private publisher: ReleaseChangePublisher | undefined;
  /** Entries past half their life, reloaded together by the next batch (`refreshing` is its timer). */
  private due = new Map<string, CacheEntry>();
  private refreshing: NodeJS.Timeout | undefined;
  /**
   * Native layers parsed once per fingerprint, and binaries once per registration, across reloads:
   * an app reloaded every TTL does not parse them again, and a bundle's verdict on a binary, kept
   * by the layer's object, is worked out once while both stay (see domain/native-layer.ts).
   */
  private readonly layers = new Map<string, NativeLayer>();
  private readonly binaryFacts = new Map<string, NativeBinaryFacts>();

  constructor(
    private readonly repos: Repos,
    readonly ttlMs = 2000,
    readonly staleLimitMs = 5 * 60_000,
    private readonly onStale?: StaleListener,
    private readonly metrics?: Metrics,
  ) {}

  get(appId: string): Promise<AppRelease | null> {
    const cached = this.entries.get(appId);
    const time = Date.now();
    if (cached && cached.expires > time) {
      this.metrics?.cacheLookup(true);
      this.refreshIfHalfLived(appId, cached, time);
      return cached.value;
    }
    this.metrics?.cacheLookup(false);
    // Expired with no check to refresh it in time (an app checked less than once a second): its
    // stamp says whether the release it holds is still the one in the database, one query where a
    // load is seven; dropped (a change) it has no release left to keep.
    const loading = cached?.loaded
      ? this.revalidateOrLoad(appId, cached.loaded)
      : this.loadOrLastKnown(appId);
    const value = loading.then((loaded) => loaded.release);
    const entry = this.store(appId, value);
    loading.then(
      (loaded) => {
        if (this.entries.get(appId) === entry) entry.loaded = loaded;
      },
      // A failed load must not be served from the cache for the whole TTL.
      () => {
        if (this.entries.get(appId) === entry) this.entries.delete(appId);
      },
    );
    return value;
  }

  /**
   * The app's release when it is loaded and fresh, without waiting (the update check answers in the
   * same turn then); undefined when it is not, and `get` must load it. null: no such app.
   */
  peek(appId: string): AppRelease | null | undefined {
    const cached = this.entries.get(appId);
    if (!cached?.loaded) return undefined;
    const time = Date.now();
    if (cached.expires <= time) return undefined;
    this.metrics?.cacheLookup(true);
    this.refreshIfHalfLived(appId, cached, time);
    return cached.loaded.release;
  }

  /**
   * Past half its life, a loaded entry is reloaded in the background while it keeps answering, so a
   * busy app's checks never queue behind a reload. An entry is never served past its TTL.
   */
  private refreshIfHalfLived(appId: string, cached: CacheEntry, time: number): void {
    if (!cached.loaded || cached.refreshing || time < cached.expires - this.ttlMs / 2) return;
    cached.refreshing = true;
    this.due.set(appId, cached);
    // Gathered for a moment (a tenth of the TTL at most, well within the half left), so that apps
    // coming due one check after another go in one batch.
    this.refreshing ??= setTimeout(() => void this.refreshDue(), Math.min(50, this.ttlMs / 10));
    this.refreshing.unref();
  }

  private store(appId: string, value: Promise<AppRelease | null>, loaded?: Loaded): CacheEntry {
    const entry: CacheEntry = { expires: Date.now() + this.ttlMs, value, loaded, refreshing: false };
    this.entries.set(appId, entry);
    return entry;
  }

  /** Publishes every later `invalidate` to the other instances. */
  publishTo(publisher: ReleaseChangePublisher): void {
    this.publisher = publisher;
  }

  /** After a change to the app's release data was committed here: drops it here and on other instances. */
  invalidate(appId: string): void {
    this.drop(appId);
    this.publisher?.publish(appId);
  }

  /**
   * After a change that leaves the app's last snapshot a right answer, only a less complete one (a
   * bundle's delta files became ready: without them devices get the whole zip): the next check
   * reloads it, and an outage before then still answers from the snapshot. Other instances see the
   * change through the release's stamp (the bundle's row changed), within a refresh.
   */
  refresh(appId: string): void {
    this.entries.delete(appId);
  }

  /** Forgets every app's entry (notices from other instances may have been missed). */
  clear(): void {
    this.entries.clear();
  }

  /** Forgets one app (changed here or by another instance); a load under way is not kept either. */
  drop(appId: string): void {
    this.entries.delete(appId);
    // Superseded by the write that invalidates it: never an outage's answer.
    this.lastLoaded.delete(appId);
    this.drops.set(appId, (this.drops.get(appId) ?? 0) + 1);
  }

  /** Keeps what a read begun at drop count `drops` found as the app's last snapshot, unless a drop came since. */
  private keepSnapshot(appId: string, drops: number | undefined, loaded: Loaded): void {
    if (this.drops.get(appId) !== drops) return;
    this.lastLoaded.set(appId, { release: loaded.release, stamp: loaded.stamp, at: Date.now() });
  }

  /**
   * An expired entry's release when the app's release stamp is still the one it was loaded with (no
   * change since: the same rule as refreshDue's), else a load; the last snapshot when the database
   * cannot be reached, as for a load.
   */
  private async revalidateOrLoad(appId: string, loaded: Loaded): Promise<Loaded> {
    const drops = this.drops.get(appId);
    let stamp: number | null;
    try {
      stamp = (await this.repos.apps.stamps([appId])).get(appId) ?? null;
    } catch (error) {
      return this.lastKnown(appId, error);
    }
    this.metrics?.cacheRefresh(stamp === loaded.stamp ? 'unchanged' : 'reloaded');
    if (stamp !== loaded.stamp) return this.loadOrLastKnown(appId);
    this.keepSnapshot(appId, drops, loaded);
    return loaded;
  }

  private async loadOrLastKnown(appId: string): Promise<Loaded> {
    const drops = this.drops.get(appId);
    try {
      const loaded = (await this.loadMany([appId])).get(appId)!;
      this.keepSnapshot(appId, drops, loaded);
      return loaded;
    } catch (error) {
      return this.lastKnown(appId, error);
    }
  }

  /**
   * An app's last snapshot when its load failed because the database cannot be reached (within
   * `staleLimitMs` of that load); rethrows the error otherwise.
   */
  private lastKnown(appId: string, error: unknown): Loaded {
    const last = this.lastLoaded.get(appId);
    const age = last ? Date.now() - last.at : Infinity;
    if (!last || age > this.staleLimitMs || !isDatabaseUnavailable(error)) throw error;
    this.onStale?.(appId, age, error);
    return last;
  }

  /**
   * Refreshes the entries that came past half their life since the last batch, all at once: one
   * query reads their apps' release stamps, and only the apps whose stamp moved since their last
   * load are reloaded, in one load (a few queries a TTL, not a few queries each). The others are
   * confirmed current by their stamp and kept for another TTL, as if reloaded: with 1,000 unchanged
   * apps a refresh costs 3.3 ms of CPU on SQLite instead of 91.5 ms (bench/release-refresh.ts).
   */
  private async refreshDue(): Promise<void> {
    const due = this.due;
    this.due = new Map();
    this.refreshing = undefined;
    let reloaded: Map<string, Loaded> | undefined;
    let failure: unknown;
    try {
      reloaded = await this.reloadChanged(due);
    } catch (error) {
      failure = error;
    }
    const at = Date.now();
    for (const [appId, cached] of due) {
      // Dropped or replaced meanwhile (a change): the newer entry stands.
      if (this.entries.get(appId) !== cached) continue;
      let loaded: Loaded;
      this.metrics?.cacheRefresh(reloaded ? (reloaded.has(appId) ? 'reloaded' : 'unchanged') : 'failed');
      if (reloaded) {
        // Not reloaded: its stamp says the release it has is still the one in the database.
        loaded = reloaded.get(appId) ?? cached.loaded!;
        this.lastLoaded.set(appId, { release: loaded.release, stamp: loaded.stamp, at });
      } else {
        try {
          loaded = this.lastKnown(appId, failure);
        } catch {
          // Left to expire: the next check after it loads (and fails) in the open.
          cached.refreshing = false;
          continue;
        }
      }
      if (loaded === cached.loaded) {
        cached.expires = at + this.ttlMs;
        cached.refreshing = false;
      } else {
        this.store(appId, Promise.resolve(loaded.release), loaded);
      }
    }
  }

  /**
   * Reloads the due apps whose release stamp differs from the one their release was loaded with (a
   * deleted app has none). A change committed after the stamps are read leaves a newer stamp than
   * its load read (loadMany reads the stamp before the data), so it is reloaded at the next refresh.
   */
  private async reloadChanged(due: Map<string, CacheEntry>): Promise<Map<string, Loaded>> {
    const stamps = await this.repos.apps.stamps([...due.keys()]);
    const changed: string[] = [];
    for (const [appId, cached] of due) {
      if ((stamps.get(appId) ?? null) !== cached.loaded!.stamp) changed.push(appId);
    }
    return changed.length === 0 ? new Map() : this.loadMany(changed);
  }

  /**
   * The releases of several apps in seven queries whatever their number (one app costs ~0.2 ms of
   * CPU on SQLite; a thousand apps reloaded one by one each TTL would take a fifth of a core). The
   * apps' rows, and with them their release stamps, are read first: a change committed while the
   * rest is read may be in the data, but its stamp is newer than the one kept, so it is read again.
   */
  private async loadMany(appIds: string[]): Promise<Map<string, Loaded>> {
    const releases = new Map<string, Loaded>(appIds.map((appId) => [appId, { release: null, stamp: null }]));
    const appRows = await this.repos.apps.findMany(appIds);
    const apps = appRows.map((app) => app.id);
    if (apps.length === 0) return releases;
    const signedOnly = new Set(appRows.filter((app) => app.require_signature === 1).map((app) => app.id));
    const channels = await this.repos.channels.listOfApps(apps);
    const liveIds = [
      ...new Set(
        channels.flatMap((channel) =>
          [channel.bundle_id, channel.rollout_bundle_id].filter((id): id is number => id !== null),
        ),
      ),
    ];
    const bundles = await this.repos.bundles.findByIds(liveIds);
    // Only bundles whose files are all stored have a manifest; until then devices get the zip.
    const withFiles = bundles.filter((bundle) => bundle.files_state === 'ready').map((bundle) => bundle.id);
    const files = groupBy(await this.repos.bundles.filesOf(withFiles), (file) => file.bundle_id);
    const byId = new Map(
      bundles.map((bundle) => [
        bundle.id,
        {
          ...bundle,
          minNativeVersion: bundle.min_native_version,
          encrypted: bundle.session_key !== null,
          keyId: bundle.key_id,
          nativeLayer: this.layerOf(bundle.native_layer, bundle.native_fingerprint),
          nativeFingerprint: bundle.native_fingerprint,
          files: files.get(bundle.id) ?? [],
        },
      ]),
    );
    const assignments = groupBy(await this.repos.devices.assignments(apps), (row) => row.app_id);
    const holds = groupBy(await this.repos.holds.active(apps), (hold) => hold.app_id);
    const binaries = groupBy(await this.repos.nativeBinaries.listOfApps(apps), (row) => row.app_id);
    const channelsOf = groupBy(channels, (channel) => channel.app_id);
    for (const { id: appId, release_stamp: stamp } of appRows) {
      const facts = new Map<string, ChannelFacts<LiveBundle>>();
      for (const channel of channelsOf.get(appId) ?? []) facts.set(channel.name, channelFacts(channel, byId));
      const held = new Map<string, Set<string>>();
      for (const hold of holds.get(appId) ?? []) {
        const versions = held.get(hold.device_id);
        if (versions) versions.add(hold.version);
        else held.set(hold.device_id, new Set([hold.version]));
      }
      const registered = new Map<string, NativeBinaryFacts>();
      const storeLinks: AppRelease['storeLinks'] = [];
      // Newest first, so that the store links are too.
      for (const row of (binaries.get(appId) ?? []).sort((a, b) => b.id - a.id)) {
        const facts = this.factsOf(row);
        registered.set(binaryKey(row.platform, row.version, row.version_code), facts);
        if (row.store_url) storeLinks.push({ platform: row.platform, binary: facts, url: row.store_url });
      }
      const release: AppRelease = {
        appId,
        requireSignature: signedOnly.has(appId),
        channels: facts,
        assignments: new Map(
          (assignments.get(appId) ?? []).map((row) => [
            row.device_id,
            { override: row.channel_override, selfAssigned: row.self_assigned_channel },
          ]),
        ),
        holds: held,
        binaries: registered,
        storeLinks,
      };
      releases.set(appId, { release, stamp });
    }
    return releases;
  }

  private layerOf(text: string | null, fingerprint: string | null): NativeLayer | null {
    if (text === null || fingerprint === null) return null;
    return bounded(this.layers, fingerprint, () => JSON.parse(text) as NativeLayer);
  }

  private factsOf(row: NativeBinaryRow): NativeBinaryFacts {
    return bounded(this.binaryFacts, `${row.id}\n${row.native_fingerprint}`, () => binaryFacts(row));
  }
}

function bounded<K, V>(map: Map<K, V>, key: K, make: () => V): V {
  let value = map.get(key);
  if (value === undefined) {
    if (map.size >= 10_000) map.clear();
    value = make();
    map.set(key, value);
  }
  return value;
}

function channelFacts(channel: ChannelRow, bundles: Map<number, LiveBundle>): ChannelFacts<LiveBundle> {
  const rolloutBundle =
    channel.rollout_bundle_id === null ? undefined : bundles.get(channel.rollout_bundle_id);
  return {
    name: channel.name,
    isDefault: channel.is_default === 1,
    allowSelfAssign: channel.allow_self_assign === 1,
    bundle: channel.bundle_id === null ? null : (bundles.get(channel.bundle_id) ?? null),
    rollout: rolloutBundle ? { bundle: rolloutBundle, percent: channel.rollout_percent } : null,
    targeting: {
      platforms: channel.platforms ? channel.platforms.split(',') : [],
      allowEmulator: channel.allow_emulator === 1,
      allowDev: channel.allow_dev === 1,
      allowProd: channel.allow_prod === 1,
    },
    nativePolicy: channel.native_policy as NativePolicy,
    allowDowngrade: channel.allow_downgrade === 1,
    unregisteredBinaries: channel.unregistered_binaries as UnregisteredBinaryRule,
  };
}

function groupBy<T, K>(items: T[], keyOf: (item: T) => K): Map<K, T[]> {
  const groups = new Map<K, T[]>();
  for (const item of items) {
    const key = keyOf(item);
    const group = groups.get(key);
    if (group) group.push(item);
    else groups.set(key, [item]);
  }
  return groups;
}
