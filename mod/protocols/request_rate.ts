/**
 * `[http] request_rate` and `request_burst`: requests a second per client
 * address, as nginx's `limit_req zone=… rate=R burst=N nodelay` counts
 * them. One setting for both protocols that have requests: an HTTP
 * request over it is answered `429 Too Many Requests` with `Retry-After`,
 * a Zen question `Error: slow down.`, and the connection stays open
 * either way. HTTP requests and Zen questions have buckets of their own.
 *
 * A client's bucket holds `burst + 1` tokens and refills at `rate` a
 * second: a new client may make `burst + 1` requests at once, then one
 * every `1/rate` seconds (nginx's `excess` accounting, without the delay).
 *
 * Where the buckets live is the model's business, behind
 * {@linkcode RequestGate}: by default this isolate keeps a table of its
 * own per protocol (`iterative`, `async`, and under the per-connection
 * models and inetd one per connection, since each is its own isolate); a
 * pool worker is given its pool's ({@linkcode shareRequestGate}): the
 * threads of `threads` share a table in shared memory, and a `processes`
 * child asks its master, which keeps the table. Each table has a fixed
 * size (`util/token_buckets.ts`), so a flood of sources cannot grow it.
 *
 * @module
 */
import type { ProtocolName } from "./contract.ts";
import { exportRateTable } from "../metrics/rate_tables.ts";
import { type Counter, metrics, seriesKey } from "../metrics/registry.ts";
import { type BucketLimit, TokenBuckets } from "../util/token_buckets.ts";

export type { BucketLimit };

/** Where a client's requests are counted. */
export interface RequestGate {
  /**
   * Takes a token for a request from `client` (an address): 0 when
   * taken, else the seconds until one will be there, and nothing is
   * taken. A promise when the count is kept in another process.
   */
  take(client: string, limit: BucketLimit): number | Promise<number>;
}

/** The settings the limit is made from (`[http]`). */
export interface RequestRateSettings {
  /** Requests a second; 0 = off. */
  request_rate: number;
  /** Requests at once above the rate. */
  request_burst: number;
}

/**
 * The bucket for `settings`: `burst + 1` tokens, refilled at `rate` a
 * second; undefined when the limit is off.
 *
 * @example Usage
 * ```ts
 * import { requestLimit } from "./request_rate.ts";
 * const limit = requestLimit({ request_rate: 100, request_burst: 0 });
 * if (limit?.capacity !== 1) throw new Error("one request at once");
 * if (requestLimit({ request_rate: 0, request_burst: 5 }) !== undefined) {
 *   throw new Error("0 is off");
 * }
 * ```
 */
export function requestLimit(
  settings: RequestRateSettings,
): BucketLimit | undefined {
  const rate = settings.request_rate;
  if (!(rate > 0)) return undefined;
  return { rate, capacity: 1 + settings.request_burst };
}

let shared: RequestGate | undefined;
const own = new Map<ProtocolName, RequestGate>();

/**
 * Counts every request of this isolate in `gate` from now on: a pool
 * worker's share of its pool's count, given before the worker serves.
 * Undefined: this isolate's own tables again.
 */
export function shareRequestGate(gate: RequestGate | undefined): void {
  shared = gate;
}

/**
 * Where `protocol`'s requests are counted in this isolate: the pool's
 * gate when one was shared, else a table of this isolate's own (made on
 * first use, and exported as `koan_rate_limit_sources`).
 *
 * @example Usage
 * ```ts
 * import { requestGate } from "./request_rate.ts";
 * const limit = { rate: 1, capacity: 1 };
 * const gate = requestGate("zen");
 * if (gate.take("192.0.2.7", limit) !== 0) throw new Error("first");
 * if (gate.take("192.0.2.7", limit) === 0) throw new Error("second");
 * ```
 */
export function requestGate(protocol: ProtocolName): RequestGate {
  if (shared !== undefined) return shared;
  let gate = own.get(protocol);
  if (gate === undefined) {
    const table = TokenBuckets.allocate();
    exportRateTable("request_rate", table);
    gate = table;
    own.set(protocol, gate);
  }
  return gate;
}

const limitedCounters = new Map<ProtocolName, Counter>();

/** `koan_requests_limited_total{protocol}`, made on first use. */
export function limitedCounter(protocol: ProtocolName): Counter {
  let counter = limitedCounters.get(protocol);
  if (counter === undefined) {
    counter = metrics.counter(
      seriesKey("koan_requests_limited_total", { protocol }),
    );
    limitedCounters.set(protocol, counter);
  }
  return counter;
}

/**
 * The address part of a peer as `ConnectionInfo.peer` gives it:
 * `v4:port`, `[v6]:port`, or a bare address (returned as it is, like
 * `"stdin"` or a Unix socket's path).
 *
 * @example Usage
 * ```ts
 * import { peerAddress } from "./request_rate.ts";
 * if (peerAddress("192.0.2.7:4242") !== "192.0.2.7") throw new Error();
 * if (peerAddress("[2001:db8::1]:80") !== "2001:db8::1") throw new Error();
 * if (peerAddress("2001:db8::1") !== "2001:db8::1") throw new Error();
 * ```
 */
export function peerAddress(peer: string): string {
  if (peer.startsWith("[")) {
    const close = peer.indexOf("]");
    return close < 0 ? "" : peer.slice(1, close);
  }
  const colon = peer.indexOf(":");
  // One colon: v4:port. More: a bare IPv6 address (as REMOTE_ADDR has it).
  if (colon >= 0 && peer.indexOf(":", colon + 1) < 0) {
    return peer.slice(0, colon);
  }
  return peer;
}
