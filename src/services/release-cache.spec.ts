import { describe, expect, it } from 'vitest';
import type { Repos } from '../db/index.js';
import { ReleaseCache } from './release-cache.js';

/** Just enough repositories for an app with no channels; `failure` makes every read throw it. */
function fakeRepos() {
  const state: { failure: Error | undefined; loads: number } = { failure: undefined, loads: 0 };
  const read = async <T>(value: T): Promise<T> => {
    if (state.failure) throw state.failure;
    return value;
  };
  const repos = {
    apps: {
      find: (id: string) => {
        state.loads++;
        return read({ id });
      },
    },
    channels: { list: () => read([]) },
    bundles: { findByIds: () => read([]), filesOf: () => read([]) },
    devices: { assignments: () => read([]) },
    holds: { active: () => read([]) },
  };
  return { repos: repos as unknown as Repos, state };
}

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
    expect(state.loads).toBe(2); // the second get was answered within the TTL of the failed reload
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
});
