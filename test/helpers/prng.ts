/**
 * mulberry32: a small deterministic pseudo-random generator (numbers in [0, 1)), so that a seeded
 * fleet is the same in every run and a failure can be replayed. Tests and benchmarks only: never for
 * anything that must not be guessed.
 */
export function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
