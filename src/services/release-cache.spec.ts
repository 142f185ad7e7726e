import { describe, expect, it } from 'vitest';
import type { Repos } from '../db/index.js';
import { ReleaseCache } from './release-cache.js';

/**
 * Just enough repositories for apps with no channels. `failure` makes every read throw it; while
 * `gate` is set, app reads wait for it (after reading the apps' rows, stamps included). Each load
 * gives a new object, so tests can tell loads apart; `batches` lists the apps each load asked for.
 * An app's release stamp is 0 until a test sets it in `stamps` (as the database's triggers would
 * on a change); apps in `deleted` do not exist.
 */
function fakeRepos() {
  const state = {
    failure: undefined as Error | undefined,
    gate: undefined as Promise<void> | undefined,
    /** While set, reads of the stamps alone wait for it. */
    stampGate: undefined as Promise<void> | undefined,
    loads: 0,
    batches: [] as string[][],
    /** Reads of the stamps alone (the refresh of apps that came due). */
    stampReads: 0,
    stamps: new Map<string, number>(),
    deleted: new Set<string>(),
    /** Registered binaries, returned as new rows by every load. */
    binaries: [] as Record<string, unknown>[],
  };
  const existing = (ids: string[]) => ids.filter((id) => !state.deleted.has(id));
  const stampOf = (id: string) => state.stamps.get(id) ?? 0;
  const read = async <T>(value: T): Promise<T> => {
    if (state.failure) throw state.failure;
    return value;
  };
  const repos = {
    apps: {
      findMany: async (ids: string[]) => {
        state.loads++;
        state.batches.push([...ids]);
        const rows = existing(ids).map((id) => ({ id, release_stamp: stampOf(id) }));
        await state.gate;
        return read(rows);
      },
      stamps: async (ids: string[]) => {
        state.stampReads++;
        await state.stampGate;
        return read(new Map(existing(ids).map((id) => [id, stampOf(id)])));
      },
    },
    channels: { listOfApps: () => read([]) },
    bundles: { findByIds: () => read([]), filesOf: () => read([]) },
    devices: { assignments: () => read([]) },
    holds: { active: () => read([]) },
    nativeBinaries: { listOfApps: () => read(state.binaries.map((row) => ({ ...row }))) },
  };
  return { repos: repos as unknown as Repos, state };
}

const stampOf = (state: { stamps: Map<string, number> }, app: string) => state.stamps.get(app) ?? 0;
const refused = () => Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('the release cache while the database is unreachable', () => {
  it('answers from the last snapshot, retrying the database once per TTL', async () => {
    const { repos, state } = fakeRepos();
    const stale: string[] = [];
    const cache = new ReleaseCache(repos, 20, 60_000, (appId) => stale.push(appId));
    const known = await cache.get('app');
    state.failure = refused();
    await sleep(30);
    expect(await cache.get('app')).toBe(known);
    expect(await cache.get('app')).toBe(known);
    // One try of the expired entry's stamp; the second get was answered within the TTL of its failure.
    expect(state.loads).toBe(1);
    expect(state.stampReads).toBe(1);
    expect(stale).toEqual(['app']);
  });

  it('fails when there is no snapshot, when it is too old, or when the error is not an outage', async () => {
    const { repos, state } = fakeRepos();
    const cache = new ReleaseCache(repos, 10, 50);
    state.failure = refused();
    await expect(cache.get('never-loaded')).rejects.toThrow('ECONNREFUSED');

    state.failure = undefined;
    await cache.get('app');
    state.failure = new Error('column "x" does not exist');
    await sleep(20);
    await expect(cache.get('app')).rejects.toThrow('column');

    state.failure = refused();
    await sleep(60);
    await expect(cache.get('app')).rejects.toThrow('ECONNREFUSED');
  });

  it('never answers from a snapshot that a write in this process invalidated', async () => {
    const { repos, state } = fakeRepos();
    const cache = new ReleaseCache(repos, 10, 60_000);
    await cache.get('app');
    cache.invalidate('app');
    state.failure = refused();
    await expect(cache.get('app')).rejects.toThrow('ECONNREFUSED');
  });

  // A read under way when a change here drops the app: a load (it read the stamps, the rest waits)
  // or the revalidation of an expired entry (its stamp read waits).
  it.each([
    ['load', 'gate', false],
    ['revalidation', 'stampGate', true],
  ] as const)(
    'never keeps as the outage snapshot a %s that a change overtook',
    async (_read, gate, expired) => {
      const { repos, state } = fakeRepos();
      const cache = new ReleaseCache(repos, 10, 60_000);
      if (expired) {
        await cache.get('app');
        await sleep(15);
      }
      let open!: () => void;
      state[gate] = new Promise((resolve) => (open = resolve));
      const before = cache.get('app');
      await sleep(5);
      cache.invalidate('app');
      open();
      await before;
      state.failure = refused();
      await expect(cache.get('app')).rejects.toThrow('ECONNREFUSED');
    },
  );

  it('reloads after a refresh, and still answers from the snapshot a refresh left when the database is down', async () => {
    const { repos, state } = fakeRepos();
    const cache = new ReleaseCache(repos, 60_000, 60_000);
    const first = await cache.get('app');
    cache.refresh('app');
    const reloaded = await cache.get('app');
    expect(state.loads).toBe(2);
    expect(reloaded).not.toBe(first);
    cache.refresh('app');
    state.failure = refused();
    expect(await cache.get('app')).toBe(reloaded);
  });
});

describe('the release cache as an entry ages', () => {
  it('reloads past half its life while it keeps answering, then answers from the reloaded one', async () => {
    const { repos, state } = fakeRepos();
    const cache = new ReleaseCache(repos, 200);
    const first = await cache.get('app');
    let open!: () => void;
    state.gate = new Promise((resolve) => (open = resolve));
    state.stamps.set('app', 1); // changed: reloaded, not just kept
    await sleep(120);
    // Past half its life: the entry answers at once, and only one reload starts however many ask
    // (within a tenth of the TTL, gathering the apps that came due).
    expect(await cache.get('app')).toBe(first);
    expect(await cache.get('app')).toBe(first);
    await sleep(30);
    expect(cache.peek('app')).toBe(first);
    expect(state.loads).toBe(2);
    open();
    await sleep(5);
    const second = await cache.get('app');
    expect(second).not.toBe(first);
    expect(state.loads).toBe(2);
  });

  it('is never served past its TTL: an expired entry waits for the database to confirm or replace it', async () => {
    const { repos, state } = fakeRepos();
    const cache = new ReleaseCache(repos, 20);
    const first = await cache.get('app');
    let open!: () => void;
    state.stampGate = new Promise((resolve) => (open = resolve));
    await sleep(30);
    let settled = false;
    const same = cache.get('app').then((release) => ((settled = true), release));
    await sleep(10);
    expect(settled).toBe(false);
    open();
    // Unchanged since its load (its stamp says so): kept, for one read of the stamp.
    expect(await same).toBe(first);
    expect(state).toMatchObject({ loads: 1, stampReads: 1 });
    // Changed meanwhile: loaded afresh.
    state.stamps.set('app', 1);
    await sleep(30);
    const changed = await cache.get('app');
    expect(changed).not.toBe(first);
    expect(state).toMatchObject({ loads: 2, stampReads: 2 });
  });

  it('revalidates an app checked less often than its TTL with one stamp read a check, not a load', async () => {
    const { repos, state } = fakeRepos();
    const cache = new ReleaseCache(repos, 10);
    const first = await cache.get('app');
    for (let i = 0; i < 5; i++) {
      await sleep(15);
      expect(await cache.get('app')).toBe(first);
    }
    expect(state).toMatchObject({ loads: 1, stampReads: 5 });
    // A change here drops the entry: the next check loads, whatever the stamp.
    cache.invalidate('app');
    expect(await cache.get('app')).not.toBe(first);
    expect(state.loads).toBe(2);
  });

  it('never answers from a snapshot dropped by a change, nor lets a reload under way replace it', async () => {
    const { repos, state } = fakeRepos();
    const cache = new ReleaseCache(repos, 200);
    const first = await cache.get('app');
    await sleep(120);
    let open!: () => void;
    state.gate = new Promise((resolve) => (open = resolve));
    state.stamps.set('app', 1);
    expect(await cache.get('app')).toBe(first); // a reload is under way
    cache.drop('app');
    let settled = false;
    const next = cache.get('app').then((release) => ((settled = true), release));
    await sleep(10);
    expect(settled).toBe(false);
    open();
    const fresh = await next;
    expect(fresh).not.toBe(first);
    await sleep(5);
    expect(await cache.get('app')).toBe(fresh);
  });
});

describe('the release cache with many apps', () => {
  it('reloads the apps that came due together in one load, each answering from its own release', async () => {
    const { repos, state } = fakeRepos();
    const cache = new ReleaseCache(repos, 200);
    const apps = ['a', 'b', 'c'];
    const first = await Promise.all(apps.map((app) => cache.get(app)));
    expect(state.batches).toEqual([['a'], ['b'], ['c']]); // cold loads go one by one
    for (const app of apps) state.stamps.set(app, 1);
    await sleep(120);
    for (const app of apps) cache.peek(app);
    await sleep(40);
    expect(state.batches.slice(3)).toEqual([['a', 'b', 'c']]);
    for (const [index, app] of apps.entries()) {
      const reloaded = cache.peek(app);
      expect(reloaded?.appId).toBe(app);
      expect(reloaded).not.toBe(first[index]);
    }
  });

  it('keeps an app of a batch that failed in an outage on its snapshot', async () => {
    const { repos, state } = fakeRepos();
    const cache = new ReleaseCache(repos, 200, 60_000);
    const before = await cache.get('a');
    await sleep(120);
    state.failure = refused();
    cache.peek('a');
    await sleep(40);
    expect(cache.peek('a')).toBe(before);
    expect(state.stampReads).toBe(1);
  });
});

describe('the release cache and release stamps', () => {
  /** Peeks at the apps every few ms for `ms`, as checks would; what each peek answered, per app. */
  async function serve(cache: ReleaseCache, apps: string[], ms: number) {
    const seen = new Map(apps.map((app) => [app, new Set<unknown>()]));
    for (const end = Date.now() + ms; Date.now() < end; await sleep(5)) {
      for (const app of apps) seen.get(app)!.add(cache.peek(app));
    }
    return seen;
  }

  it('keeps serving unchanged apps past their TTL without reloading them', async () => {
    const { repos, state } = fakeRepos();
    const cache = new ReleaseCache(repos, 60);
    const apps = ['a', 'b', 'c'];
    const first = await Promise.all(apps.map((app) => cache.get(app)));
    const seen = await serve(cache, apps, 300); // five TTLs
    for (const [index, app] of apps.entries()) expect([...seen.get(app)!]).toEqual([first[index]]);
    expect(state.loads).toBe(3); // the cold loads alone
    expect(state.stampReads).toBeGreaterThanOrEqual(4); // about two a TTL, each for all three apps
  });

  it('reloads only the apps whose stamp moved, and answers null for one deleted', async () => {
    const { repos, state } = fakeRepos();
    const cache = new ReleaseCache(repos, 100);
    const [a, b, c] = await Promise.all(['a', 'b', 'c'].map((app) => cache.get(app)));
    state.stamps.set('b', 7);
    state.deleted.add('c');
    await sleep(60);
    for (const app of ['a', 'b', 'c']) cache.peek(app);
    await sleep(30);
    expect(state.batches.slice(3)).toEqual([['b', 'c']]);
    expect(cache.peek('a')).toBe(a);
    expect(cache.peek('b')).not.toBe(b);
    expect(cache.peek('b')?.appId).toBe('b');
    expect(c).not.toBeNull();
    expect(cache.peek('c')).toBeNull();
    // From then on, each is kept: b with its new stamp, c as long as it stays deleted.
    const reloaded = cache.peek('b');
    const seen = await serve(cache, ['a', 'b', 'c'], 250);
    expect([...seen.get('b')!]).toEqual([reloaded]);
    expect([...seen.get('c')!]).toEqual([null]);
    expect(state.loads).toBe(4);
  });

  it('serves a change made behind its back (no invalidation) within the TTL plus one load', async () => {
    const { repos, state } = fakeRepos();
    const ttl = 80;
    const cache = new ReleaseCache(repos, ttl);
    for (const delay of [0, 17, 45, 70]) {
      const before = await cache.get('app');
      await serve(cache, ['app'], delay);
      // The change, as the database's triggers leave it: new data and a new stamp.
      state.stamps.set('app', stampOf(state, 'app') + 1);
      const changedAt = Date.now();
      while (cache.peek('app') === before) await sleep(1);
      expect(Date.now() - changedAt).toBeLessThanOrEqual(ttl + 15);
      await cache.get('app');
    }
  });

  it('reads a change committed while a load was reading again at the next refresh', async () => {
    const { repos, state } = fakeRepos();
    const cache = new ReleaseCache(repos, 100);
    await cache.get('app');
    state.stamps.set('app', 1);
    let open!: () => void;
    state.gate = new Promise((resolve) => (open = resolve));
    await sleep(60);
    cache.peek('app'); // a reload starts: it reads stamp 1, then waits before the data
    await sleep(20);
    state.stamps.set('app', 2); // committed after the stamp was read: maybe in the data, maybe not
    open();
    state.gate = undefined;
    await sleep(5);
    const reloaded = cache.peek('app');
    expect(state.loads).toBe(2);
    await serve(cache, ['app'], 70); // the next refresh sees stamp 2, not the 1 it was loaded with
    expect(state.loads).toBe(3);
    expect(cache.peek('app')).not.toBe(reloaded);
  });
});

describe('the release cache and registered binaries', () => {
  it('finds them by platform, version and build number, parsed once across reloads', async () => {
    const { repos, state } = fakeRepos();
    const layer = { capacitor: { core: '6.1.0', android: '6.1.0', ios: null }, packages: [] };
    state.binaries = [
      {
        id: 1,
        app_id: 'app',
        platform: 'android',
        version: '1.0.0',
        version_code: '10',
        native_layer: JSON.stringify(layer),
        native_fingerprint: 'f1',
        store_url: 'https://store.example/app',
      },
    ];
    const cache = new ReleaseCache(repos, 10);
    const first = (await cache.get('app'))!;
    const binary = first.binaries.get('android\n1.0.0\n10');
    expect(binary).toMatchObject({ label: 'android 1.0.0 (build 10)', layer, fingerprint: 'f1' });
    expect(first.storeLinks).toEqual([{ platform: 'android', binary, url: 'https://store.example/app' }]);
    cache.drop('app');
    const second = (await cache.get('app'))!;
    expect(second).not.toBe(first);
    // The same facts (and so the verdicts kept on them), not a second parse.
    expect(second.binaries.get('android\n1.0.0\n10')).toBe(binary);
    // A new registration of the same binary (another fingerprint) is read afresh.
    state.binaries[0]!.native_fingerprint = 'f2';
    cache.drop('app');
    expect((await cache.get('app'))!.binaries.get('android\n1.0.0\n10')).not.toBe(binary);
  });
});
