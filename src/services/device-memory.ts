import { randomBytes } from 'node:crypto';

/**
 * What DeviceActivity remembers of a device's row: 32-bit hashes of the state written, in three
 * parts because some reports leave a part out (stats events do not say which bundle the device runs,
 * only update checks say which channel served it), and when it was seen. `version` and `channel` are
 * undefined where the row's value is not known.
 */
export interface RememberedState {
  /** Every other column a report sets (platform, build, OS, plugin, custom id, requested channel...). */
  rest: number;
  version: number | undefined;
  channel: number | undefined;
  /** When the device was seen, in ms since the epoch. */
  at: number;
}

/** Slot fields, in 32-bit words: the device's fingerprint, its state, and its place in the LRU list. */
const FP_A = 0;
const FP_B = 1;
const REST = 2;
const VERSION = 3;
const CHANNEL = 4;
const FLAGS = 5;
const PREV = 6;
const NEXT = 7;
const WORDS = 8;
/** FLAGS bits. */
const KNOWS_VERSION = 1;
const KNOWS_CHANNEL = 2;
/** Slots allocated at first, then doubled as needed up to the bound. */
const FIRST_SLOTS = 1024;

/**
 * The devices whose written state DeviceActivity remembers: a least-recently-used map of at most
 * `max` devices, in typed arrays. A device is known by a 64-bit fingerprint of its app id and device
 * id, its state by RememberedState's hashes, so a device takes about 50 bytes however long its ids
 * (a Map of id strings and JSON states took about 390), none of them objects the garbage collector
 * has to trace; the arrays grow by doubling as devices come, so a small fleet costs little.
 *
 * The hashes are seeded at random per process (ids come from devices: the spread over the buckets
 * must not be predictable). Two devices with one fingerprint (about 3e-8 for a million devices), or a
 * change that hashes like the state written (2^-32 per change), would make a report look unchanged:
 * its write waits until the row is older than the precision, as an unchanged one does.
 */
export class DeviceMemory {
  private slots = new Int32Array(0);
  private seen = new Float64Array(0);
  /** Next slot in the same bucket, or -1. */
  private chain = new Int32Array(0);
  /** First slot of each bucket (by FP_A), or -1. */
  private buckets = new Int32Array(0);
  private mask = 0;
  /** Most and least recently used slots, or -1. */
  private head = -1;
  private tail = -1;
  /** Slots freed by delete(), linked through NEXT; then slots never used, from `used` on. */
  private free = -1;
  private used = 0;
  private count = 0;
  private readonly seeds: Uint32Array;

  constructor(private readonly max: number) {
    this.seeds = new Uint32Array(randomBytes(12).buffer);
  }

  get size(): number {
    return this.count;
  }

  /** The 32-bit hash of a list of strings (each length-prefixed, so that the list is unambiguous). */
  hash(...parts: string[]): number {
    let h = this.seeds[2]!;
    for (const part of parts) {
      h = Math.imul(h ^ part.length, 0x5bd1e995);
      for (let i = 0; i < part.length; i++) {
        h = Math.imul(h ^ part.charCodeAt(i), 0x5bd1e995);
        h ^= h >>> 13;
      }
    }
    return finish(h);
  }

  /** The state remembered for the device, which becomes the most recently used; or undefined. */
  get(appId: string, deviceId: string): RememberedState | undefined {
    const slot = this.find(appId, deviceId);
    if (slot < 0) return undefined;
    this.toHead(slot);
    const base = slot * WORDS;
    const flags = this.slots[base + FLAGS]!;
    return {
      rest: this.slots[base + REST]!,
      version: flags & KNOWS_VERSION ? this.slots[base + VERSION]! : undefined,
      channel: flags & KNOWS_CHANNEL ? this.slots[base + CHANNEL]! : undefined,
      at: this.seen[slot]!,
    };
  }

  /** Remembers the device's state, as the most recently used; the least recently used goes past `max`. */
  set(appId: string, deviceId: string, state: RememberedState): void {
    if (this.max === 0) return;
    this.fingerprint(appId, deviceId);
    let slot = this.findFingerprint();
    if (slot >= 0) {
      this.toHead(slot);
    } else {
      slot = this.allocate();
      const base = slot * WORDS;
      this.slots[base + FP_A] = fpA;
      this.slots[base + FP_B] = fpB;
      const bucket = fpA & this.mask;
      this.chain[slot] = this.buckets[bucket]!;
      this.buckets[bucket] = slot;
      this.link(slot);
      this.count++;
    }
    const base = slot * WORDS;
    this.slots[base + REST] = state.rest;
    this.slots[base + VERSION] = state.version ?? 0;
    this.slots[base + CHANNEL] = state.channel ?? 0;
    this.slots[base + FLAGS] =
      (state.version === undefined ? 0 : KNOWS_VERSION) | (state.channel === undefined ? 0 : KNOWS_CHANNEL);
    this.seen[slot] = state.at;
  }

  delete(appId: string, deviceId: string): void {
    const slot = this.find(appId, deviceId);
    if (slot < 0) return;
    this.unlink(slot);
    this.unchain(slot);
    this.slots[slot * WORDS + NEXT] = this.free;
    this.free = slot;
    this.count--;
  }

  private find(appId: string, deviceId: string): number {
    if (this.count === 0) return -1;
    this.fingerprint(appId, deviceId);
    return this.findFingerprint();
  }

  /** The slot holding the fingerprint last computed, or -1. */
  private findFingerprint(): number {
    if (this.count === 0) return -1;
    for (let slot = this.buckets[fpA & this.mask]!; slot >= 0; slot = this.chain[slot]!) {
      const base = slot * WORDS;
      if (this.slots[base + FP_A] === fpA && this.slots[base + FP_B] === fpB) return slot;
    }
    return -1;
  }

  /** Sets fpA and fpB: two 32-bit hashes of the app id, a separator and the device id. */
  private fingerprint(appId: string, deviceId: string): void {
    let a = this.seeds[0]!;
    let b = this.seeds[1]!;
    for (let i = 0; i < appId.length; i++) {
      const c = appId.charCodeAt(i);
      a = Math.imul(a ^ c, 0x01000193);
      b = Math.imul(b ^ c, 0x5bd1e995);
      b ^= b >>> 13;
    }
    // App ids are never empty: the length tells where the app id ends.
    a = Math.imul(a ^ appId.length, 0x01000193);
    b = Math.imul(b ^ appId.length, 0x5bd1e995);
    for (let i = 0; i < deviceId.length; i++) {
      const c = deviceId.charCodeAt(i);
      a = Math.imul(a ^ c, 0x01000193);
      b = Math.imul(b ^ c, 0x5bd1e995);
      b ^= b >>> 13;
    }
    fpA = finish(a);
    fpB = finish(b ^ deviceId.length);
  }

  /** A slot for a new device: a freed one, a new one, or the least recently used one's. */
  private allocate(): number {
    if (this.free >= 0) {
      const slot = this.free;
      this.free = this.slots[slot * WORDS + NEXT]!;
      return slot;
    }
    if (this.count < this.max) {
      if (this.used === this.seen.length) this.grow();
      return this.used++;
    }
    const slot = this.tail;
    this.unlink(slot);
    this.unchain(slot);
    this.count--;
    return slot;
  }

  /** Doubles the slots (up to `max`), and the buckets with them: one bucket per slot. */
  private grow(): void {
    const length = Math.min(this.max, Math.max(FIRST_SLOTS, this.seen.length * 2));
    const slots = new Int32Array(length * WORDS);
    slots.set(this.slots);
    const seen = new Float64Array(length);
    seen.set(this.seen);
    this.slots = slots;
    this.seen = seen;
    this.chain = new Int32Array(length);
    let buckets = 1;
    while (buckets < length) buckets *= 2;
    this.buckets = new Int32Array(buckets).fill(-1);
    this.mask = buckets - 1;
    for (let slot = this.head; slot >= 0; slot = this.slots[slot * WORDS + NEXT]!) {
      const bucket = this.slots[slot * WORDS + FP_A]! & this.mask;
      this.chain[slot] = this.buckets[bucket]!;
      this.buckets[bucket] = slot;
    }
  }

  /** Takes the slot out of its bucket's chain. */
  private unchain(slot: number): void {
    const bucket = this.slots[slot * WORDS + FP_A]! & this.mask;
    let at = this.buckets[bucket]!;
    if (at === slot) {
      this.buckets[bucket] = this.chain[slot]!;
      return;
    }
    while (this.chain[at] !== slot) at = this.chain[at]!;
    this.chain[at] = this.chain[slot]!;
  }

  /** Puts the slot at the head of the LRU list. */
  private link(slot: number): void {
    const base = slot * WORDS;
    this.slots[base + PREV] = -1;
    this.slots[base + NEXT] = this.head;
    if (this.head >= 0) this.slots[this.head * WORDS + PREV] = slot;
    this.head = slot;
    if (this.tail < 0) this.tail = slot;
  }

  private unlink(slot: number): void {
    const base = slot * WORDS;
    const prev = this.slots[base + PREV]!;
    const next = this.slots[base + NEXT]!;
    if (prev >= 0) this.slots[prev * WORDS + NEXT] = next;
    else this.head = next;
    if (next >= 0) this.slots[next * WORDS + PREV] = prev;
    else this.tail = prev;
  }

  private toHead(slot: number): void {
    if (slot === this.head) return;
    this.unlink(slot);
    this.link(slot);
  }
}

/** The fingerprint last computed (module state, so that computing it allocates nothing). */
let fpA = 0;
let fpB = 0;

/** murmur3's finalizer: every input bit flips every output bit with probability about 1/2. */
function finish(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return (h ^ (h >>> 16)) | 0;
}
