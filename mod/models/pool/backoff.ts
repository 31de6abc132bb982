/**
 * Restart delays for workers that exit unexpectedly: exponential (x1.5)
 * from a small base, capped, and forgotten once workers stay up.
 *
 * @module
 */

/** Options for {@linkcode Backoff}. */
export interface BackoffOptions {
  /** First delay in ms. @default {100} */
  baseMs?: number;
  /** Growth per failure. @default {1.5} */
  factor?: number;
  /** Largest delay in ms. @default {10000} */
  capMs?: number;
}

/**
 * Exponential backoff.
 *
 * @example Usage
 * ```ts
 * import { Backoff } from "./backoff.ts";
 * const backoff = new Backoff({ baseMs: 100 });
 * if (backoff.next() !== 100 || backoff.next() !== 150) throw new Error("x1.5");
 * ```
 */
export class Backoff {
  #baseMs: number;
  #factor: number;
  #capMs: number;
  #failures = 0;

  constructor(options: BackoffOptions = {}) {
    this.#baseMs = options.baseMs ?? 100;
    this.#factor = options.factor ?? 1.5;
    this.#capMs = options.capMs ?? 10_000;
  }

  /** Records a failure and returns how long to wait before the restart. */
  next(): number {
    const delay = Math.min(
      this.#capMs,
      this.#baseMs * this.#factor ** this.#failures,
    );
    this.#failures++;
    return Math.round(delay);
  }

  /** Failures since the last reset. */
  get failures(): number {
    return this.#failures;
  }

  /** Forgets past failures (workers have been stable). */
  reset(): void {
    this.#failures = 0;
  }
}
