/**
 * Connection limits: `max_connections` per listener and `max_per_source`
 * per client address. One implementation for every protocol and model:
 *
 * - in one isolate (`iterative`, `async`, and the accepting main thread of
 *   the per-connection models) a {@linkcode LocalLimiter};
 * - across the threads of `threads`, a {@linkcode SharedLimiter}: the same
 *   counters in a SharedArrayBuffer every worker maps, guarded by an
 *   Atomics lock, so the limits hold exactly however the kernel spreads
 *   connections over the threads' `reusePort` sockets;
 * - across the child processes of `processes` (which share no memory) the
 *   master keeps the one {@linkcode LocalLimiter} and children ask it before
 *   serving each connection (one pipe round trip per accepted connection,
 *   not per request) and tell it when the connection ends. A per-child
 *   share of the limit was rejected: the kernel's reusePort hash can send
 *   every connection of one client to the same child, which would refuse
 *   far below the configured limit.
 *
 * @module
 */

/** Why a connection was refused. */
export type Refusal = "max_connections" | "max_per_source";

/** Admission control for one listener. */
export interface Limiter {
  /** Admits a connection from `source` (an IP), or says why not. */
  admit(source: string): Refusal | undefined;
  /** Releases a connection admitted earlier. */
  release(source: string): void;
  /** Connections open now. */
  readonly open: number;
}

/** A limiter whose settings a reload can change. */
export interface AdjustableLimiter extends Limiter {
  /** Applies new limits (SIGHUP); open connections are never cut. */
  update(settings: LimiterSettings): void;
}

/** Limits for {@linkcode LocalLimiter}. */
export interface LimiterSettings {
  maxConnections: number;
  /** 0 = off. */
  maxPerSource: number;
}

/** Counters in this isolate only: `iterative`, `async`, and per-process use. */
export class LocalLimiter implements AdjustableLimiter {
  #settings: LimiterSettings;
  #open = 0;
  #perSource = new Map<string, number>();

  constructor(settings: LimiterSettings) {
    this.#settings = settings;
  }

  /** Applies new limits (SIGHUP); open connections are never cut. */
  update(settings: LimiterSettings): void {
    this.#settings = settings;
  }

  admit(source: string): Refusal | undefined {
    if (this.#open >= this.#settings.maxConnections) return "max_connections";
    const max = this.#settings.maxPerSource;
    if (max > 0) {
      const current = this.#perSource.get(source) ?? 0;
      if (current >= max) return "max_per_source";
      this.#perSource.set(source, current + 1);
    }
    this.#open++;
    return undefined;
  }

  release(source: string): void {
    this.#open--;
    if (this.#settings.maxPerSource > 0 || this.#perSource.has(source)) {
      const current = this.#perSource.get(source) ?? 0;
      if (current <= 1) this.#perSource.delete(source);
      else this.#perSource.set(source, current - 1);
    }
  }

  get open(): number {
    return this.#open;
  }
}

// SharedLimiter layout, in Int32 words. The header holds the lock, the
// totals and the limits; then one open-count per worker slot (so a dead
// worker's connections can be given back); then an open-addressing table
// of (source hash, worker slot) → count entries.
const LOCK = 0;
const OPEN = 1;
const MAX_CONNECTIONS = 2;
const MAX_PER_SOURCE = 3;
const CAPACITY = 4;
const SLOTS = 5;
const USED = 6;
const HEADER = 8;
const ENTRY = 4; // hash1, hash2, slot + 1 (0 = empty), count

/** Options for {@linkcode SharedLimiter.create}. */
export interface SharedLimiterOptions {
  /** Worker slots that may admit connections. @default {1024} */
  slots?: number;
  /** Per-source table entries; sized from `maxConnections` when absent. */
  capacity?: number;
}

/**
 * Limits shared by the threads of one listener: counters live in a
 * SharedArrayBuffer that every worker attaches to with its own slot number,
 * and each admit/release takes a short Atomics lock. Sources are keyed by a
 * 64-bit hash of the address (two 32-bit FNV-1a variants), so two addresses
 * would be counted together only on a full 64-bit collision.
 *
 * @example Usage
 * ```ts
 * import { SharedLimiter } from "./limiter.ts";
 * const controller = SharedLimiter.create({ maxConnections: 1, maxPerSource: 0 });
 * // In each worker, with the posted buffer and the worker's own slot:
 * const one = SharedLimiter.attach(controller.buffer, 0);
 * const two = SharedLimiter.attach(controller.buffer, 1);
 * if (one.admit("10.0.0.1") !== undefined) throw new Error("refused");
 * if (two.admit("10.0.0.2") !== "max_connections") throw new Error("admitted");
 * ```
 */
export class SharedLimiter implements AdjustableLimiter {
  #words: Int32Array;
  /** Worker slot, or -1 for the controller that created the counters. */
  #slot: number;

  private constructor(buffer: SharedArrayBuffer, slot: number) {
    this.#words = new Int32Array(buffer);
    const slots = this.#words[SLOTS]!;
    if (!Number.isInteger(slot) || slot < -1 || slot >= slots) {
      throw new RangeError(`Worker slot ${slot} is outside 0..${slots - 1}`);
    }
    this.#slot = slot;
  }

  /** Lock owner mark: 1 for the controller, slot + 2 for a worker. */
  get #owner(): number {
    return this.#slot + 2;
  }

  /**
   * Allocates shared counters. The result is the controller: it changes the
   * limits and gives back a dead worker's connections; workers admit
   * through {@linkcode SharedLimiter.attach}.
   */
  static create(
    settings: LimiterSettings,
    options: SharedLimiterOptions = {},
  ): SharedLimiter {
    const slots = options.slots ?? 1024;
    const capacity = Math.max(
      64,
      options.capacity ??
        2 * Math.min(Math.max(settings.maxConnections, 512), 65_536),
    );
    const buffer = new SharedArrayBuffer(
      (HEADER + slots + capacity * ENTRY) * Int32Array.BYTES_PER_ELEMENT,
    );
    const words = new Int32Array(buffer);
    words[CAPACITY] = capacity;
    words[SLOTS] = slots;
    const limiter = new SharedLimiter(buffer, -1);
    limiter.update(settings);
    return limiter;
  }

  /** Maps counters created elsewhere (posted to a worker) as worker `slot`. */
  static attach(buffer: SharedArrayBuffer, slot: number): SharedLimiter {
    return new SharedLimiter(buffer, slot);
  }

  /** The shared memory to post to workers. */
  get buffer(): SharedArrayBuffer {
    return this.#words.buffer as SharedArrayBuffer;
  }

  /** Worker slots available. */
  get slots(): number {
    return this.#words[SLOTS]!;
  }

  update(settings: LimiterSettings): void {
    // Clamp into int32; a limit past two billion is unlimited in practice.
    const clamp = (n: number) => Math.min(n, 0x7fff_ffff);
    Atomics.store(this.#words, MAX_CONNECTIONS, clamp(settings.maxConnections));
    Atomics.store(this.#words, MAX_PER_SOURCE, clamp(settings.maxPerSource));
  }

  get open(): number {
    return Atomics.load(this.#words, OPEN);
  }

  /** @throws {TypeError} on the controller, which has no slot to count in. */
  admit(source: string): Refusal | undefined {
    this.#needSlot();
    const w = this.#words;
    const [h1, h2] = hashSource(source);
    this.#lock();
    try {
      if (w[OPEN]! >= w[MAX_CONNECTIONS]!) return "max_connections";
      const max = w[MAX_PER_SOURCE]!;
      if (max > 0) {
        const found = this.#find(h1, h2);
        if (found.total >= max) return "max_per_source";
        if (found.mine >= 0) {
          w[this.#entry(found.mine) + 3]!++;
        } else {
          // Keep the table under 3/4 full so probes stay short; a table
          // that full means the server is saturated anyway.
          if (w[USED]! * 4 >= w[CAPACITY]! * 3) return "max_connections";
          const at = this.#entry(found.empty);
          w[at] = h1;
          w[at + 1] = h2;
          w[at + 2] = this.#slot + 1;
          w[at + 3] = 1;
          w[USED]!++;
        }
      }
      w[OPEN]!++;
      w[HEADER + this.#slot]!++;
      return undefined;
    } finally {
      this.#unlock();
    }
  }

  release(source: string): void {
    this.#needSlot();
    const w = this.#words;
    const [h1, h2] = hashSource(source);
    this.#lock();
    try {
      // The entry exists only if max_per_source was on at admission.
      const found = this.#find(h1, h2);
      if (found.mine >= 0) {
        const at = this.#entry(found.mine);
        if (--w[at + 3]! <= 0) this.#delete(found.mine);
      }
      if (w[HEADER + this.#slot]! > 0) {
        w[HEADER + this.#slot]!--;
        w[OPEN]!--;
      }
    } finally {
      this.#unlock();
    }
  }

  /**
   * Gives back every connection admitted through `slot`, for a worker that
   * died holding them. Also frees the lock if the dead worker held it.
   * Resolves to the number of connections given back.
   */
  releaseSlot(slot: number): number {
    const w = this.#words;
    // A worker terminated inside its critical section leaves the lock
    // taken: wait a moment (termination is asynchronous), then take it
    // over. The table may be half updated; the rebuild below repairs it.
    this.#lock(slot + 2);
    try {
      const freed = w[HEADER + slot]!;
      w[HEADER + slot] = 0;
      const live: number[][] = [];
      const capacity = w[CAPACITY]!;
      for (let i = 0; i < capacity; i++) {
        const at = this.#entry(i);
        if (w[at + 2]! !== 0 && w[at + 2]! !== slot + 1) {
          live.push([w[at]!, w[at + 1]!, w[at + 2]!, w[at + 3]!]);
        }
      }
      w.fill(0, HEADER + w[SLOTS]!);
      w[USED] = 0;
      for (const [h1, h2, owner, count] of live) {
        const found = this.#find(h1!, h2!);
        const at = this.#entry(found.empty);
        w[at] = h1!;
        w[at + 1] = h2!;
        w[at + 2] = owner!;
        w[at + 3] = count!;
        w[USED]!++;
      }
      let open = 0;
      for (let s = 0; s < w[SLOTS]!; s++) open += w[HEADER + s]!;
      w[OPEN] = open;
      return freed;
    } finally {
      this.#unlock();
    }
  }

  #entry(index: number): number {
    return HEADER + this.#words[SLOTS]! + index * ENTRY;
  }

  #home(h1: number): number {
    return (h1 >>> 0) % this.#words[CAPACITY]!;
  }

  /** Sums a source's count over all slots; finds this slot's entry or the first empty one. */
  #find(
    h1: number,
    h2: number,
  ): { total: number; mine: number; empty: number } {
    const w = this.#words;
    const capacity = w[CAPACITY]!;
    let total = 0;
    let mine = -1;
    let i = this.#home(h1);
    for (let probes = 0; probes < capacity; probes++) {
      const at = this.#entry(i);
      const owner = w[at + 2]!;
      if (owner === 0) return { total, mine, empty: i };
      if (w[at] === h1 && w[at + 1] === h2) {
        total += w[at + 3]!;
        if (owner === this.#slot + 1) mine = i;
      }
      i = (i + 1) % capacity;
    }
    return { total, mine, empty: -1 };
  }

  /** Linear-probing deletion by backward shift: no tombstones. */
  #delete(index: number): void {
    const w = this.#words;
    const capacity = w[CAPACITY]!;
    let hole = index;
    let j = index;
    for (let probes = 0; probes < capacity; probes++) {
      j = (j + 1) % capacity;
      const at = this.#entry(j);
      if (w[at + 2]! === 0) break;
      const home = this.#home(w[at]!);
      // Move j into the hole unless its home lies cyclically in (hole, j].
      const between = hole <= j
        ? home > hole && home <= j
        : home > hole || home <= j;
      if (!between) {
        w.copyWithin(this.#entry(hole), at, at + ENTRY);
        hole = j;
      }
    }
    w.fill(0, this.#entry(hole), this.#entry(hole) + ENTRY);
    w[USED]!--;
  }

  #needSlot(): void {
    if (this.#slot < 0) {
      throw new TypeError("The controller cannot admit: attach a worker slot");
    }
  }

  /** Takes the lock; after ~100 ms, steals it from `deadOwner` if that holds it. */
  #lock(deadOwner = 0): void {
    const owner = this.#owner;
    for (let tries = 0;; tries++) {
      const holder = Atomics.compareExchange(this.#words, LOCK, 0, owner);
      if (holder === 0) return;
      if (tries >= 100 && holder === deadOwner) {
        if (
          Atomics.compareExchange(this.#words, LOCK, holder, owner) === holder
        ) {
          return;
        }
      }
      // Critical sections are a few hundred instructions; wait briefly.
      Atomics.wait(this.#words, LOCK, holder, 1);
    }
  }

  #unlock(): void {
    Atomics.store(this.#words, LOCK, 0);
    Atomics.notify(this.#words, LOCK, 1);
  }
}

/** Two independent 32-bit FNV-1a hashes of `source`. */
function hashSource(source: string): [number, number] {
  let a = 0x811c9dc5;
  let b = 0x01000193 ^ 0x5bd1e995;
  for (let i = 0; i < source.length; i++) {
    const c = source.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ (c + 0x9e37), 0x01000193) ^ (b >>> 15);
  }
  // Zero never appears as a hash so an empty entry cannot match by chance.
  return [a | 1, b];
}
