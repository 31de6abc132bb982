/**
 * Connection limits: `max_connections` per listener, and per client
 * address `max_per_source` (open at once) and `rate_per_source` (new
 * connections a second, xinetd's `cps`, with `rate_burst`). One
 * implementation for every protocol and model:
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
 * The connection rate is a token bucket per source (`util/token_buckets.ts`,
 * a table of fixed size): it holds `rate_per_source + rate_burst` tokens
 * (at least one) and refills at `rate_per_source` a second, so a client may
 * open `rate + burst` connections at once and `rate` a second after that,
 * as xinetd's `cps` lets `rate` through in any second. A connection refused
 * for another reason takes no token. The threads' limiter keeps that table
 * in its shared memory, under the same lock; the `processes` master keeps
 * it in its own limiter. The same shared memory holds the pool's
 * `request_rate` table ({@linkcode SharedLimiter.requests}).
 *
 * @module
 */
import type { Config } from "../config/settings.ts";
import { exportRateTable } from "../metrics/rate_tables.ts";
import {
  type BucketLimit,
  DEFAULT_ENTRIES,
  hashKey,
  TokenBuckets,
  type TokenBucketsOptions,
} from "../util/token_buckets.ts";

/**
 * Why a connection was refused; `request_rate` answers a `processes`
 * child's question about a request (see `models/processes/admission.ts`).
 */
export type Refusal =
  | "max_connections"
  | "max_per_source"
  | "rate_per_source"
  | "request_rate";

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
  /** New connections a second per source; 0 or absent = off. */
  ratePerSource?: number;
  /** Connections a source may open at once above `ratePerSource`. @default {0} */
  rateBurst?: number;
}

/**
 * The limiter's settings from the config's `[limits]`.
 *
 * @example Usage
 * ```ts
 * import { limiterSettings } from "./limiter.ts";
 * const settings = limiterSettings({
 *   max_connections: 100,
 *   max_per_source: 0,
 *   rate_per_source: 5,
 *   rate_burst: 2,
 * });
 * if (settings.ratePerSource !== 5) throw new Error("not read");
 * ```
 */
export function limiterSettings(
  limits: Pick<
    Config["limits"],
    "max_connections" | "max_per_source" | "rate_per_source" | "rate_burst"
  >,
): LimiterSettings {
  return {
    maxConnections: limits.max_connections,
    maxPerSource: limits.max_per_source,
    ratePerSource: limits.rate_per_source,
    rateBurst: limits.rate_burst,
  };
}

/**
 * The connection-rate bucket for `settings`: `rate + burst` tokens (at
 * least one), refilled at `rate` a second; undefined when the rate is off.
 */
export function connectionRate(
  settings: LimiterSettings,
): BucketLimit | undefined {
  const rate = settings.ratePerSource ?? 0;
  if (!(rate > 0)) return undefined;
  return { rate, capacity: Math.max(1, rate + (settings.rateBurst ?? 0)) };
}

/** Options for {@linkcode LocalLimiter}. */
export type LocalLimiterOptions = TokenBucketsOptions;

/**
 * Counters in this isolate only: `iterative`, `async`, the `processes`
 * master, and per-process use.
 *
 * @example Usage
 * ```ts
 * import { LocalLimiter } from "./limiter.ts";
 * const limiter = new LocalLimiter({
 *   maxConnections: 100,
 *   maxPerSource: 0,
 *   ratePerSource: 1,
 *   rateBurst: 1,
 * });
 * if (limiter.admit("10.0.0.1") || limiter.admit("10.0.0.1")) {
 *   throw new Error("rate + burst at once are admitted");
 * }
 * if (limiter.admit("10.0.0.1") !== "rate_per_source") throw new Error();
 * ```
 */
export class LocalLimiter implements AdjustableLimiter {
  #settings: LimiterSettings;
  #open = 0;
  #perSource = new Map<string, number>();
  #rate: BucketLimit | undefined;
  /** Made when a rate is first set; kept across reloads. */
  #buckets: TokenBuckets | undefined;
  #options: LocalLimiterOptions;

  /** `options` shape the rate table (tests give it a clock). */
  constructor(settings: LimiterSettings, options: LocalLimiterOptions = {}) {
    this.#settings = settings;
    this.#rate = connectionRate(settings);
    this.#options = options;
  }

  /** Applies new limits (SIGHUP); open connections are never cut. */
  update(settings: LimiterSettings): void {
    this.#settings = settings;
    this.#rate = connectionRate(settings);
  }

  admit(source: string): Refusal | undefined {
    if (this.#open >= this.#settings.maxConnections) return "max_connections";
    const max = this.#settings.maxPerSource;
    const current = max > 0 ? this.#perSource.get(source) ?? 0 : 0;
    if (max > 0 && current >= max) return "max_per_source";
    if (
      this.#rate !== undefined && this.#table().take(source, this.#rate) > 0
    ) return "rate_per_source";
    if (max > 0) this.#perSource.set(source, current + 1);
    this.#open++;
    return undefined;
  }

  /** Sources with connection-rate state now (0 until a rate is set). */
  get sources(): number {
    return this.#buckets?.size ?? 0;
  }

  #table(): TokenBuckets {
    if (this.#buckets === undefined) {
      this.#buckets = TokenBuckets.allocate(this.#options);
      exportRateTable("rate_per_source", this.#buckets);
    }
    return this.#buckets;
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
// totals and the limits (the connection rate as two Float64s); then one
// open-count per worker slot (so a dead worker's connections can be given
// back); then an open-addressing table of (source hash, worker slot) →
// count entries; then, at byte offsets the header gives, the token-bucket
// tables of the connection rate and of the request rate.
const LOCK = 0;
const OPEN = 1;
const MAX_CONNECTIONS = 2;
const MAX_PER_SOURCE = 3;
const CAPACITY = 4;
const SLOTS = 5;
const USED = 6;
const CONNECTION_RATES_AT = 7;
const REQUEST_RATES_AT = 8;
/** Float64 words: `rate_per_source` (0 = off) and its bucket's capacity. */
const RATE = 5;
const RATE_CAPACITY = 6;
const HEADER = 16;
const ENTRY = 4; // hash1, hash2, slot + 1 (0 = empty), count

/** Options for {@linkcode SharedLimiter.create}. */
export interface SharedLimiterOptions {
  /** Worker slots that may admit connections. @default {1024} */
  slots?: number;
  /** Per-source table entries; sized from `maxConnections` when absent. */
  capacity?: number;
  /** Entries of each rate table (connections, requests). @default {DEFAULT_ENTRIES} */
  rateEntries?: number;
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
  #floats: Float64Array;
  /** Worker slot, or -1 for the controller that created the counters. */
  #slot: number;
  #connectionRates: TokenBuckets;
  #requestRates: TokenBuckets;

  private constructor(buffer: SharedArrayBuffer, slot: number) {
    this.#words = new Int32Array(buffer);
    this.#floats = new Float64Array(buffer, 0, HEADER / 2);
    const slots = this.#words[SLOTS]!;
    if (!Number.isInteger(slot) || slot < -1 || slot >= slots) {
      throw new RangeError(`Worker slot ${slot} is outside 0..${slots - 1}`);
    }
    this.#slot = slot;
    this.#connectionRates = TokenBuckets.attach(buffer, {
      byteOffset: this.#words[CONNECTION_RATES_AT]!,
    });
    this.#requestRates = TokenBuckets.attach(buffer, {
      byteOffset: this.#words[REQUEST_RATES_AT]!,
    });
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
    const rateEntries = options.rateEntries ?? DEFAULT_ENTRIES;
    const tableBytes = TokenBuckets.byteLength(rateEntries);
    const counterBytes = (HEADER + slots + capacity * ENTRY) *
      Int32Array.BYTES_PER_ELEMENT;
    const connectionRatesAt = Math.ceil(counterBytes / 8) * 8;
    const requestRatesAt = connectionRatesAt + tableBytes;
    // Untouched pages of the tables cost no memory until a source is seen.
    const buffer = new SharedArrayBuffer(requestRatesAt + tableBytes);
    const words = new Int32Array(buffer);
    words[CAPACITY] = capacity;
    words[SLOTS] = slots;
    words[CONNECTION_RATES_AT] = connectionRatesAt;
    words[REQUEST_RATES_AT] = requestRatesAt;
    for (const byteOffset of [connectionRatesAt, requestRatesAt]) {
      TokenBuckets.create(buffer, { byteOffset, entries: rateEntries });
    }
    const limiter = new SharedLimiter(buffer, -1);
    limiter.update(settings);
    // Exported here, in the master, once: see metrics/rate_tables.ts.
    exportRateTable("rate_per_source", limiter.#connectionRates);
    exportRateTable("request_rate", limiter.#requestRates);
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
    // Read under the lock by admit(); a reload racing one admission may
    // pair the new rate with the old capacity, once.
    const rate = connectionRate(settings);
    this.#floats[RATE_CAPACITY] = rate?.capacity ?? 1;
    this.#floats[RATE] = rate?.rate ?? 0;
  }

  /**
   * The pool's `request_rate` buckets, in the same shared memory: the
   * threads of a pool count a client's requests in one table.
   */
  get requests(): TokenBuckets {
    return this.#requestRates;
  }

  /** Sources with connection-rate state now. */
  get sources(): number {
    return this.#connectionRates.size;
  }

  get open(): number {
    return Atomics.load(this.#words, OPEN);
  }

  /** @throws {TypeError} on the controller, which has no slot to count in. */
  admit(source: string): Refusal | undefined {
    this.#needSlot();
    const w = this.#words;
    const [h1, h2] = hashKey(source);
    this.#lock();
    try {
      if (w[OPEN]! >= w[MAX_CONNECTIONS]!) return "max_connections";
      const max = w[MAX_PER_SOURCE]!;
      const found = max > 0 ? this.#find(h1, h2) : undefined;
      if (found !== undefined) {
        if (found.total >= max) return "max_per_source";
        // Keep the table under 3/4 full so probes stay short; a table
        // that full means the server is saturated anyway.
        if (found.mine < 0 && w[USED]! * 4 >= w[CAPACITY]! * 3) {
          return "max_connections";
        }
      }
      const rate = this.#floats[RATE]!;
      if (
        rate > 0 &&
        this.#connectionRates.take(source, {
            rate,
            capacity: this.#floats[RATE_CAPACITY]!,
          }) > 0
      ) {
        return "rate_per_source";
      }
      if (found !== undefined) {
        if (found.mine >= 0) {
          w[this.#entry(found.mine) + 3]!++;
        } else {
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
    const [h1, h2] = hashKey(source);
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
      // The per-source entries only: the rate tables after them stay.
      w.fill(0, HEADER + w[SLOTS]!, this.#entry(capacity));
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
