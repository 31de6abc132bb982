/**
 * Admission for a `processes` child: the master holds the listener's one
 * limiter (children share no memory), so each accepted connection is
 * admitted by asking the master first and released by telling it after.
 * The child's own {@linkcode Acceptor} then runs with a limiter that only
 * counts, since every connection it sees was admitted already.
 *
 * The same question carries `[http] request_rate`: the master keeps the
 * pool's one table of request buckets, so N children do not allow N times
 * the rate. A child asks before each HTTP request or Zen question with
 * {@linkcode requestQuestion} in place of a source address, and the master
 * answers `request_rate` for no token. That is one pipe round trip per
 * request while the limit is on (none while it is off): exact, at the
 * price of that latency. `Retry-After` from a child is `1/rate` rounded
 * up, the longest a token can take (the master's exact wait is not sent;
 * for any rate of 1/s or more both round to 1).
 *
 * @module
 */
import {
  type AcceptedConn,
  type AcceptSource,
  refuseConnection,
} from "../../net/acceptor.ts";
import type {
  AdjustableLimiter,
  LimiterSettings,
  Refusal,
} from "../../net/limiter.ts";
import {
  type BucketLimit,
  shareRequestGate,
} from "../../protocols/request_rate.ts";

/** How a request question starts; a source address never has a space. */
const REQUEST = "request ";

/**
 * The admission question for a request from `client` under `limit`, as
 * the master reads it back with {@linkcode parseRequestQuestion}.
 *
 * @example Usage
 * ```ts
 * import { parseRequestQuestion, requestQuestion } from "./admission.ts";
 * const question = requestQuestion("2001:db8::7", { rate: 100, capacity: 1 });
 * const parsed = parseRequestQuestion(question);
 * if (parsed?.client !== "2001:db8::7" || parsed.limit.rate !== 100) throw new Error();
 * if (parseRequestQuestion("192.0.2.7") !== undefined) throw new Error();
 * ```
 */
export function requestQuestion(client: string, limit: BucketLimit): string {
  return `${REQUEST}${limit.rate} ${limit.capacity} ${client}`;
}

/** A request question's parts; undefined for a connection's source address. */
export function parseRequestQuestion(
  source: string,
): { client: string; limit: BucketLimit } | undefined {
  if (!source.startsWith(REQUEST)) return undefined;
  const [rate, capacity, client] = source.slice(REQUEST.length).split(" ");
  const limit = { rate: Number(rate), capacity: Number(capacity) };
  if (
    client === undefined || !(limit.rate > 0) || !(limit.capacity >= 1)
  ) return undefined;
  return { client, limit };
}

/** Asks the master about a source; resolves to a refusal or undefined. */
export type AskMaster = (source: string) => Promise<Refusal | undefined>;

/** Options for {@linkcode admittingSource}. */
export interface AdmittingOptions {
  /** Asks the master. */
  ask: AskMaster;
  /** Bytes sent to a refused connection before closing it. */
  busyReply: Uint8Array;
}

/**
 * Wraps a source so that it yields only connections the master admitted,
 * and makes this child count requests with the master too (see the
 * module doc).
 */
export function admittingSource(
  inner: AcceptSource,
  options: AdmittingOptions,
): AcceptSource {
  shareRequestGate({
    take: async (client, limit) =>
      await options.ask(requestQuestion(client, limit)) === undefined
        ? 0
        : 1 / limit.rate,
  });
  return {
    async accept(): Promise<AcceptedConn> {
      for (;;) {
        const conn = await inner.accept();
        const refusal = await options.ask(conn.source);
        if (refusal === undefined) return conn;
        refuseConnection(conn, refusal, options.busyReply);
      }
    },
    // At a drain, connections already accepted are served, not handed back
    // (a socket cannot travel child -> master reliably in Deno 2.9). The
    // master is told of each so its counts stay balanced on release.
    takePending: () => {
      const pending = inner.takePending?.() ?? [];
      for (const conn of pending) void options.ask(conn.source);
      return pending;
    },
    close: () => inner.close(),
  };
}

/** The child-side limiter: admits what the master admitted, tells it on release. */
export class MasterLimiter implements AdjustableLimiter {
  #open = 0;
  #tell: (source: string) => void;

  /** `tell` reports a released connection to the master. */
  constructor(tell: (source: string) => void) {
    this.#tell = tell;
  }

  admit(_source: string): Refusal | undefined {
    this.#open++;
    return undefined;
  }

  release(source: string): void {
    this.#open--;
    this.#tell(source);
  }

  update(_settings: LimiterSettings): void {
    // The limits live in the master.
  }

  get open(): number {
    return this.#open;
  }
}
