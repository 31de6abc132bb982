/**
 * Admission for a `processes` child: the master holds the listener's one
 * limiter (children share no memory), so each accepted connection is
 * admitted by asking the master first and released by telling it after.
 * The child's own {@linkcode Acceptor} then runs with a limiter that only
 * counts, since every connection it sees was admitted already.
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

/** Asks the master about a source; resolves to a refusal or undefined. */
export type AskMaster = (source: string) => Promise<Refusal | undefined>;

/** Options for {@linkcode admittingSource}. */
export interface AdmittingOptions {
  /** Asks the master. */
  ask: AskMaster;
  /** Bytes sent to a refused connection before closing it. */
  busyReply: Uint8Array;
}

/** Wraps a source so that it yields only connections the master admitted. */
export function admittingSource(
  inner: AcceptSource,
  options: AdmittingOptions,
): AcceptSource {
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
