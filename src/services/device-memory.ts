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

/**
 * Slot fields, in 32-bit words: the device's fingerprint, its state, flags and its place in the
 * clock; then when it was seen, a float64 over the last two words (SEEN, in float64 units).
 */
const FP_A = 0;
const FP_B = 1;
const REST = 2;
const VERSION = 3;
const CHANNEL = 4;
/** FLAGS bits, and above them (from RING_SHIFT) the device's place in the ring. */
const FLAGS = 5;
const WORDS = 8;
const SEEN = 3;
const SEEN_WORDS = 4;
const USED = 1;
const KNOWS_VERSION = 2;
const KNOWS_CHANNEL = 4;
/** Looked up or written again since the clock's hand last passed. */
const RECENT = 8;
const RING_SHIFT = 4;
/** The most devices RING_SHIFT leaves room for in FLAGS (2^28, far above any memory's bound). */
const MAX_BOUND = 2 ** (32 - RING_SHIFT) - 1;
/**
 * Tables, picked by the fingerprint's top bits, each growing on its own: growing one moves 1/64 of
 * the devices (a few ms at a million), where one table moved them all on the event loop (200 ms and
 * more, most of it the first touch of its new memory's pages).
 */
const TABLE_BITS = 6;
const TABLES = 1 << TABLE_BITS;
/** The fingerprint's bits below the table's, which place a device within its table. */
const HOME_SHIFT = 32 - TABLE_BITS;
const HOME_SCALE = 2 ** HOME_SHIFT;
const HOME_MASK = HOME_SCALE - 1;
/** A ring entry: the table (above SLOT_BITS) and the slot in it. */
const SLOT_BITS = 31 - TABLE_BITS;
const SLOT_MASK = (1 << SLOT_BITS) - 1;
/** Slots of each table at first, then doubled as needed. */
const FIRST_SLOTS = 64;
/**
 * The share of a table's slots in use past which it grows. Linear probing reads about 2 slots to find
 * a device and 6 to miss one at this load, 32 bytes each: one or two cache lines.
 */
const MAX_LOAD = 0.7;

/** One open-addressed table (linear probing): slots of WORDS words. */
interface Table {
  /** The table's number as ring entries hold it (above SLOT_BITS). */
  entry: number;
  slots: Int32Array;
  /** The same memory as `slots`, for SEEN. */
  seen: Float64Array;
  capacity: number;
  count: number;
}

/**
 * The devices whose written state DeviceActivity remembers, at most `max` of them, in typed arrays.
 * A device is known by a 64-bit fingerprint of its app id and device id, its state by
 * RememberedState's hashes, so a device takes about 50 bytes however long its ids (a Map of id
 * strings and JSON states took about 390), none of them objects the garbage collector has to trace;
 * the tables grow as devices come, so a small fleet costs little.
 *
 * Built for a fleet of a million, looked up at random on every update check: open addressing, with
 * everything a lookup reads and writes in the device's slot, so that a lookup costs one or two cache
 * misses where a chained table with a least-recently-used list in separate arrays cost five or more
 * (0.5 µs against 0.8-0.9 at a million devices, looked up at random in a loop). Past the bound a
 * device is forgotten by the CLOCK rule, the usual approximation of least recently used that needs no
 * list: devices sit in a ring in the order they came; a lookup marks its device recent; the hand goes
 * round the ring, forgiving a recent device once (clearing its mark) and forgetting the first that is
 * not. A device new to the memory is not marked: one that never checks again goes first.
 *
 * The hashes are seeded at random per process (ids come from devices: the spread over the slots
 * must not be predictable). Two devices with one fingerprint (about 3e-8 for a million devices), or a
 * change that hashes like the state written (2^-32 per change), would make a report look unchanged:
 * its write waits until the row is older than the precision, as an unchanged one does.
 */
export class DeviceMemory {
  private readonly tables: Table[] = [];
  /** The size a table grows to by doubling: its share of `max` devices at MAX_LOAD. */
  private readonly fullCapacity: number;
  /** Every device's table and slot (a ring entry), in the order they came. */
  private ring = new Int32Array(0);
  private hand = 0;
  private count = 0;
  private readonly seeds: Uint32Array;

  constructor(private readonly max: number) {
    if (!Number.isInteger(max) || max < 0 || max > MAX_BOUND) {
      throw new RangeError(`device memory bound ${max} is not an integer from 0 to ${MAX_BOUND}`);
    }
    this.seeds = new Uint32Array(randomBytes(12).buffer);
    this.fullCapacity = Math.ceil(max / TABLES / MAX_LOAD) + 1;
    for (let n = 0; n < TABLES; n++) {
      this.tables.push({
        entry: n << SLOT_BITS,
        slots: new Int32Array(0),
        seen: new Float64Array(0),
        capacity: 0,
        count: 0,
      });
    }
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

  /** The state remembered for the device, which becomes recently used; or undefined. */
  get(appId: string, deviceId: string): RememberedState | undefined {
    if (this.count === 0) return undefined;
    this.fingerprint(appId, deviceId);
    const table = this.tables[fpA >>> HOME_SHIFT]!;
    const slot = findFingerprint(table);
    if (slot < 0) return undefined;
    const base = slot * WORDS;
    const flags = table.slots[base + FLAGS]!;
    table.slots[base + FLAGS] = flags | RECENT;
    return {
      rest: table.slots[base + REST]!,
      version: flags & KNOWS_VERSION ? table.slots[base + VERSION]! : undefined,
      channel: flags & KNOWS_CHANNEL ? table.slots[base + CHANNEL]! : undefined,
      at: table.seen[slot * SEEN_WORDS + SEEN]!,
    };
  }

  /** Remembers the device's state; past `max`, a device the clock picks is forgotten for it. */
  set(appId: string, deviceId: string, state: RememberedState): void {
    if (this.max === 0) return;
    this.fingerprint(appId, deviceId);
    const table = this.tables[fpA >>> HOME_SHIFT]!;
    let slot = findFingerprint(table);
    let place: number;
    let recent = 0;
    if (slot >= 0) {
      place = table.slots[slot * WORDS + FLAGS]! >>> RING_SHIFT;
      recent = RECENT;
    } else {
      place = this.count === this.max ? this.evict() : this.count;
      if (table.count + 1 > table.capacity * MAX_LOAD) this.grow(table);
      if (place === this.ring.length) this.growRing();
      slot = emptySlot(table, fpA);
      table.slots[slot * WORDS + FP_A] = fpA;
      table.slots[slot * WORDS + FP_B] = fpB;
      table.count++;
      this.ring[place] = table.entry | slot;
      this.count++;
    }
    const base = slot * WORDS;
    table.slots[base + REST] = state.rest;
    table.slots[base + VERSION] = state.version ?? 0;
    table.slots[base + CHANNEL] = state.channel ?? 0;
    table.slots[base + FLAGS] =
      (place << RING_SHIFT) |
      USED |
      recent |
      (state.version === undefined ? 0 : KNOWS_VERSION) |
      (state.channel === undefined ? 0 : KNOWS_CHANNEL);
    table.seen[slot * SEEN_WORDS + SEEN] = state.at;
  }

  delete(appId: string, deviceId: string): void {
    if (this.count === 0) return;
    this.fingerprint(appId, deviceId);
    const table = this.tables[fpA >>> HOME_SHIFT]!;
    const slot = findFingerprint(table);
    if (slot < 0) return;
    // Its place in the ring goes to the device that came last, so the ring has no gaps.
    const place = table.slots[slot * WORDS + FLAGS]! >>> RING_SHIFT;
    const last = this.count - 1;
    if (place !== last) {
      const entry = this.ring[last]!;
      const moved = this.tables[entry >>> SLOT_BITS]!.slots;
      const flags = (entry & SLOT_MASK) * WORDS + FLAGS;
      moved[flags] = (moved[flags]! & ((1 << RING_SHIFT) - 1)) | (place << RING_SHIFT);
      this.ring[place] = entry;
    }
    this.count--;
    if (this.hand >= this.count) this.hand = 0;
    this.remove(table, slot);
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

  /**
   * Forgets the device under the clock's hand that was not used since the hand last passed (clearing
   * the mark of those that were); resolves to its place in the ring, for the device that comes.
   */
  private evict(): number {
    for (;;) {
      const place = this.hand;
      this.hand = place + 1 === this.count ? 0 : place + 1;
      const entry = this.ring[place]!;
      const table = this.tables[entry >>> SLOT_BITS]!;
      const flags = (entry & SLOT_MASK) * WORDS + FLAGS;
      if (table.slots[flags]! & RECENT) {
        table.slots[flags] = table.slots[flags]! & ~RECENT;
        continue;
      }
      this.remove(table, entry & SLOT_MASK);
      this.count--;
      return place;
    }
  }

  /** Empties a slot, moving later devices of its probe back (no tombstones: probes stay short). */
  private remove(table: Table, slot: number): void {
    const slots = table.slots;
    let hole = slot;
    for (let at = next(table, slot); ; at = next(table, at)) {
      const base = at * WORDS;
      if ((slots[base + FLAGS]! & USED) === 0) break;
      // A device may move into the hole when the hole lies on its probe: from its home to `at`.
      const home = homeOf(table, slots[base + FP_A]!);
      const onProbe = hole <= at ? home <= hole || home > at : home <= hole && home > at;
      if (!onProbe) continue;
      slots.copyWithin(hole * WORDS, base, base + WORDS);
      this.ring[slots[base + FLAGS]! >>> RING_SHIFT] = table.entry | hole;
      hole = at;
    }
    slots.fill(0, hole * WORDS, hole * WORDS + WORDS);
    table.count--;
  }

  /**
   * Doubles a table (past its share of `max`, by a quarter: the devices may not spread evenly),
   * placing its devices again. In slot order: a device's home grows with its fingerprint in any
   * table, so the old slots read in order write the new ones in order too, without cache misses.
   */
  private grow(table: Table): void {
    const capacity =
      table.capacity < this.fullCapacity
        ? Math.min(this.fullCapacity, Math.max(FIRST_SLOTS, table.capacity * 2))
        : Math.ceil(table.capacity * 1.25);
    const old = table.slots;
    const buffer = new ArrayBuffer(capacity * WORDS * 4);
    table.slots = new Int32Array(buffer);
    table.seen = new Float64Array(buffer);
    table.capacity = capacity;
    for (let from = 0; from < old.length; from += WORDS) {
      if ((old[from + FLAGS]! & USED) === 0) continue;
      const slot = emptySlot(table, old[from + FP_A]!);
      const to = slot * WORDS;
      for (let word = 0; word < WORDS; word++) table.slots[to + word] = old[from + word]!;
      this.ring[old[from + FLAGS]! >>> RING_SHIFT] = table.entry | slot;
    }
  }

  /** Doubles the ring (up to `max`). */
  private growRing(): void {
    const ring = new Int32Array(Math.min(this.max, Math.max(FIRST_SLOTS, this.ring.length * 2)));
    ring.set(this.ring);
    this.ring = ring;
  }
}

/** The slot a fingerprint's probe starts from: the same order of fingerprints in any table. */
function homeOf(table: Table, a: number): number {
  return Math.floor(((a & HOME_MASK) / HOME_SCALE) * table.capacity);
}

function next(table: Table, slot: number): number {
  return slot + 1 === table.capacity ? 0 : slot + 1;
}

/** The slot holding the fingerprint last computed, or -1. */
function findFingerprint(table: Table): number {
  if (table.count === 0) return -1;
  const slots = table.slots;
  for (let slot = homeOf(table, fpA); ; slot = next(table, slot)) {
    const base = slot * WORDS;
    if ((slots[base + FLAGS]! & USED) === 0) return -1;
    if (slots[base + FP_A] === fpA && slots[base + FP_B] === fpB) return slot;
  }
}

/** The first free slot of a fingerprint's probe (there is one: a table is never full). */
function emptySlot(table: Table, a: number): number {
  let slot = homeOf(table, a);
  while (table.slots[slot * WORDS + FLAGS]! & USED) slot = next(table, slot);
  return slot;
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
