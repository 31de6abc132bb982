/**
 * Token buckets per client address in a table of fixed size, for the rate
 * limits (`rate_per_source`, `request_rate`): the memory a flood of
 * distinct sources can take is decided when the table is made, never by
 * the flood.
 *
 * The table is set-associative, as a CPU cache is: a key's hash picks a
 * set of {@linkcode WAYS} entries, and a key not found there takes an
 * empty entry of its set, else one whose bucket has refilled (forgetting
 * it changes nothing: a new bucket starts full), else the set's least
 * recently used one. Only that last case forgets a client that is still
 * being limited, and it needs more sources active at once than the table
 * holds. Keys are two 32-bit FNV-1a hashes of the address (a 64-bit
 * fingerprint; two addresses share a bucket only on a full collision).
 *
 * The table lives in an `ArrayBuffer`, or in a `SharedArrayBuffer` that
 * the threads of a pool map, each taking a short Atomics lock per call; a
 * lock held past about 100 ms belongs to a thread that was terminated in
 * its critical section, and is taken over (entries hold no pointers, so
 * the worst a half-made update leaves is one wrong bucket).
 *
 * @module
 */

/** Entries per set. */
export const WAYS = 8;
/** Entries in a table by default: 2 MiB. */
export const DEFAULT_ENTRIES = 65_536;

// Header, in Int32 words: the lock, entries in use, sets.
const LOCK = 0;
const USED = 1;
const SETS = 2;
const HEADER_BYTES = 16;
// Per entry: two Int32 words of key (h1 = 0: empty) and three Float64
// values: tokens, when they were counted (ms), when the key was last seen.
const KEY_BYTES = 8;
const VALUES = 3;
const VALUE_BYTES = 8 * VALUES;
/** A token short by less than this is a whole one (floating-point rounding). */
const EPSILON = 1e-9;

/** A bucket's shape: refilled at `rate` tokens a second, holding at most `capacity`. */
export interface BucketLimit {
  /** Tokens a second; more than 0. */
  readonly rate: number;
  /** Tokens a full bucket holds; at least 1 (a request takes one). */
  readonly capacity: number;
}

/** Options for {@linkcode TokenBuckets}. */
export interface TokenBucketsOptions {
  /** Entries (rounded up to whole sets). @default {DEFAULT_ENTRIES} */
  entries?: number;
  /**
   * The clock, in ms. Tables shared between threads need one clock for
   * all of them, which `performance.now()` alone is not (each isolate
   * counts from its own start). @default {wallClockMs}
   */
  clock?: () => number;
}

/** Milliseconds on a clock every isolate of the process shares. */
export function wallClockMs(): number {
  return performance.timeOrigin + performance.now();
}

/**
 * A fixed table of token buckets, one per key; see the module doc.
 *
 * @example Usage
 * ```ts
 * import { TokenBuckets } from "./token_buckets.ts";
 * let now = 0;
 * const buckets = TokenBuckets.allocate({ entries: 64, clock: () => now });
 * const limit = { rate: 1, capacity: 2 };
 * if (buckets.take("10.0.0.1", limit) !== 0) throw new Error("first");
 * if (buckets.take("10.0.0.1", limit) !== 0) throw new Error("second");
 * if (buckets.take("10.0.0.1", limit) !== 1) throw new Error("a second to wait");
 * now = 1000;
 * if (buckets.take("10.0.0.1", limit) !== 0) throw new Error("refilled");
 * ```
 */
export class TokenBuckets {
  readonly #header: Int32Array;
  readonly #keys: Int32Array;
  readonly #values: Float64Array;
  readonly #sets: number;
  readonly #shared: boolean;
  readonly #clock: () => number;

  private constructor(
    buffer: ArrayBufferLike,
    byteOffset: number,
    clock: () => number,
  ) {
    this.#header = new Int32Array(buffer, byteOffset, HEADER_BYTES / 4);
    this.#sets = this.#header[SETS]!;
    if (!(this.#sets > 0)) {
      throw new RangeError(`No table is laid out at offset ${byteOffset}`);
    }
    const entries = this.#sets * WAYS;
    this.#keys = new Int32Array(
      buffer,
      byteOffset + HEADER_BYTES,
      2 * entries,
    );
    this.#values = new Float64Array(
      buffer,
      byteOffset + HEADER_BYTES + entries * KEY_BYTES,
      VALUES * entries,
    );
    this.#shared = typeof SharedArrayBuffer === "function" &&
      buffer instanceof SharedArrayBuffer;
    this.#clock = clock;
  }

  /** A table in memory of its own. */
  static allocate(options: TokenBucketsOptions = {}): TokenBuckets {
    const entries = roundEntries(options.entries ?? DEFAULT_ENTRIES);
    const buffer = new ArrayBuffer(TokenBuckets.byteLength(entries));
    return TokenBuckets.create(buffer, { ...options, entries, byteOffset: 0 });
  }

  /** Bytes a table of `entries` takes (entries rounded up to whole sets). */
  static byteLength(entries: number): number {
    return HEADER_BYTES + roundEntries(entries) * (KEY_BYTES + VALUE_BYTES);
  }

  /**
   * Lays out an empty table of `options.entries` at `byteOffset` (a
   * multiple of 8) of `buffer`, which must hold
   * {@linkcode TokenBuckets.byteLength} bytes from there, and maps it.
   *
   * @throws {RangeError} when the table does not fit there.
   */
  static create(
    buffer: ArrayBufferLike,
    options: TokenBucketsOptions & { byteOffset: number },
  ): TokenBuckets {
    const { byteOffset } = options;
    const entries = roundEntries(options.entries ?? DEFAULT_ENTRIES);
    if (byteOffset % 8 !== 0) {
      throw new RangeError(`Offset ${byteOffset} is not a multiple of 8`);
    }
    if (byteOffset + TokenBuckets.byteLength(entries) > buffer.byteLength) {
      throw new RangeError(
        `A table of ${entries} entries does not fit at offset ${byteOffset}`,
      );
    }
    new Int32Array(buffer, byteOffset, HEADER_BYTES / 4)[SETS] = entries / WAYS;
    return TokenBuckets.attach(buffer, options);
  }

  /**
   * Maps a table laid out by {@linkcode TokenBuckets.create} (in another
   * thread, say).
   *
   * @throws {RangeError} when no table is laid out there.
   */
  static attach(
    buffer: ArrayBufferLike,
    options: Omit<TokenBucketsOptions, "entries"> & { byteOffset: number },
  ): TokenBuckets {
    return new TokenBuckets(
      buffer,
      options.byteOffset,
      options.clock ?? wallClockMs,
    );
  }

  /** Entries that hold a bucket (never more than {@linkcode entries}). */
  get size(): number {
    return Atomics.load(this.#header, USED);
  }

  /** Entries the table holds. */
  get entries(): number {
    return this.#sets * WAYS;
  }

  /**
   * Takes a token from `key`'s bucket (a new key's bucket starts full).
   * Returns 0 when one was taken; otherwise the seconds until one will be
   * there (more than 0), and nothing is taken.
   */
  take(key: string, limit: BucketLimit): number {
    const [h1, h2] = hashKey(key);
    const now = this.#clock();
    if (!this.#shared) return this.#take(h1, h2, limit, now);
    this.#lock();
    try {
      return this.#take(h1, h2, limit, now);
    } finally {
      this.#unlock();
    }
  }

  #take(h1: number, h2: number, limit: BucketLimit, now: number): number {
    const keys = this.#keys;
    const values = this.#values;
    const base = ((h2 >>> 0) % this.#sets) * WAYS;
    // The entry to reuse: the lowest rank (0 empty, 1 refilled, 2 in
    // use), and among those in use the least recently seen.
    let victim = base;
    let rank = 3;
    let oldest = Infinity;
    for (let i = base; i < base + WAYS; i++) {
      const k1 = keys[2 * i]!;
      if (k1 === h1 && keys[2 * i + 1] === h2) {
        values[VALUES * i + 2] = now;
        return this.#spend(i, limit, now);
      }
      if (rank === 0) continue;
      if (k1 === 0) {
        victim = i;
        rank = 0;
        continue;
      }
      const at = values[VALUES * i + 1]!;
      const refilled = values[VALUES * i]! +
          Math.max(0, now - at) * limit.rate / 1000 >= limit.capacity;
      const seen = values[VALUES * i + 2]!;
      if (refilled) {
        if (rank > 1) {
          victim = i;
          rank = 1;
        }
      } else if (rank === 3 || (rank === 2 && seen < oldest)) {
        victim = i;
        rank = 2;
        oldest = seen;
      }
    }
    if (rank === 0) this.#header[USED]!++;
    keys[2 * victim] = h1;
    keys[2 * victim + 1] = h2;
    values[VALUES * victim] = limit.capacity;
    values[VALUES * victim + 1] = now;
    values[VALUES * victim + 2] = now;
    return this.#spend(victim, limit, now);
  }

  /**
   * Takes a token from entry `i` if it has one by `now`, or says how long
   * to wait. An entry holds its tokens as of its last take, and only a
   * take writes them: a refusal changes nothing (adding each refusal's
   * fraction of a token would lose a little to rounding every time, about
   * a tenth of the rate under a flood read on a 1 ms clock).
   */
  #spend(i: number, limit: BucketLimit, now: number): number {
    const values = this.#values;
    const at = values[VALUES * i + 1]!;
    const tokens = Math.min(
      limit.capacity,
      values[VALUES * i]! + Math.max(0, now - at) * limit.rate / 1000,
    );
    if (tokens >= 1 - EPSILON) {
      values[VALUES * i] = Math.max(0, tokens - 1);
      // Threads' clocks may disagree by a little: time never runs back.
      values[VALUES * i + 1] = Math.max(now, at);
      return 0;
    }
    return (1 - tokens) / limit.rate;
  }

  /** Takes the lock; after ~100 ms of trying, from whoever holds it. */
  #lock(): void {
    const header = this.#header;
    for (let tries = 0;; tries++) {
      if (Atomics.compareExchange(header, LOCK, 0, 1) === 0) return;
      if (tries >= 100) {
        // Held for 100 ms by a critical section of a few hundred
        // instructions: its thread was terminated inside it.
        Atomics.store(header, LOCK, 1);
        return;
      }
      Atomics.wait(header, LOCK, 1, 1);
    }
  }

  #unlock(): void {
    Atomics.store(this.#header, LOCK, 0);
    Atomics.notify(this.#header, LOCK, 1);
  }
}

/** Entries rounded up to whole sets, at least one set. */
function roundEntries(entries: number): number {
  if (!Number.isFinite(entries) || entries < 1) {
    throw new RangeError(`A table needs at least one entry, not ${entries}`);
  }
  return Math.ceil(entries / WAYS) * WAYS;
}

/**
 * Two independent 32-bit FNV-1a hashes of `key`: a 64-bit fingerprint.
 * The first is never 0, so an empty entry never matches by chance.
 *
 * @example Usage
 * ```ts
 * import { hashKey } from "./token_buckets.ts";
 * const [a, b] = hashKey("10.0.0.1");
 * if (a === 0 || (a === hashKey("10.0.0.2")[0] && b === hashKey("10.0.0.2")[1])) {
 *   throw new Error("a weak hash");
 * }
 * ```
 */
export function hashKey(key: string): [number, number] {
  let a = 0x811c9dc5;
  let b = 0x01000193 ^ 0x5bd1e995;
  for (let i = 0; i < key.length; i++) {
    const c = key.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ (c + 0x9e37), 0x01000193) ^ (b >>> 15);
  }
  return [a | 1, b];
}
