/**
 * Connection limits: `max_connections` per listener and `max_per_source`
 * per client address. One implementation for every protocol and model;
 * models that spread a listener over threads share its counters through a
 * SharedArrayBuffer (see {@linkcode SharedLimiter}).
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

/** Limits for {@linkcode LocalLimiter}. */
export interface LimiterSettings {
  maxConnections: number;
  /** 0 = off. */
  maxPerSource: number;
}

/** Counters in this isolate only: `iterative`, `async`, and per-process use. */
export class LocalLimiter implements Limiter {
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
