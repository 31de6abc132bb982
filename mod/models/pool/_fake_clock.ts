/**
 * A fake {@linkcode PoolClock} for the supervisor's tests: time stands
 * still until a test moves it, and moving it runs the timers that fall due,
 * in order, letting promise callbacks settle after each one. A test of a
 * 30 s timeout runs in microseconds.
 *
 * @module
 */
import type { PoolClock, TimerId } from "./supervisor.ts";

interface Timer {
  id: number;
  at: number;
  /** Period of an interval; `undefined` for a one-shot timer. */
  every: number | undefined;
  /** Scheduling order: timers due at the same time run in it. */
  order: number;
  fn: () => void;
}

/** Promise turns {@linkcode FakeClock.settle} lets run; the pool's chains are a few deep. */
const SETTLE_TURNS = 50;

/** A clock that moves only when told to. */
export class FakeClock implements PoolClock {
  #now = 0;
  #epochMs: number;
  #timers = new Map<number, Timer>();
  #nextId = 1;
  #order = 0;

  /** Starts at 0 ms monotonic, `epochMs` wall-clock. */
  constructor(epochMs = Date.UTC(2025, 0, 1)) {
    this.#epochMs = epochMs;
  }

  now(): number {
    return this.#now;
  }

  wall(): number {
    return this.#epochMs + this.#now;
  }

  setTimeout(fn: () => void, ms: number): TimerId {
    return this.#add(fn, ms, undefined);
  }

  setInterval(fn: () => void, ms: number): TimerId {
    // A zero period would never let time move on.
    return this.#add(fn, ms, Math.max(1, ms));
  }

  clearTimeout(id: TimerId): void {
    if (typeof id === "number") this.#timers.delete(id);
  }

  clearInterval(id: TimerId): void {
    if (typeof id === "number") this.#timers.delete(id);
  }

  /** Timers not yet run or cancelled (intervals count until cleared). */
  get pending(): number {
    return this.#timers.size;
  }

  /** Lets pending promise callbacks run, without moving time. */
  async settle(): Promise<void> {
    for (let i = 0; i < SETTLE_TURNS; i++) await Promise.resolve();
  }

  /** Moves time on by `ms`, running every timer due on the way. */
  async advance(ms: number): Promise<void> {
    await this.runUntil(() => false, ms);
  }

  /**
   * Runs timers in order until `done()` holds (checked after each one has
   * run and settled) or `limitMs` have passed. Returns whether `done()`
   * held; time stops at the timer that made it so.
   */
  async runUntil(done: () => boolean, limitMs: number): Promise<boolean> {
    const end = this.#now + limitMs;
    await this.settle();
    if (done()) return true;
    for (let timer = this.#due(end); timer; timer = this.#due(end)) {
      this.#now = timer.at;
      if (timer.every === undefined) {
        this.#timers.delete(timer.id);
      } else {
        timer.at += timer.every;
        timer.order = this.#order++;
      }
      timer.fn();
      await this.settle();
      if (done()) return true;
    }
    this.#now = end;
    return false;
  }

  #add(fn: () => void, ms: number, every: number | undefined): number {
    const id = this.#nextId++;
    const at = this.#now + Math.max(0, ms);
    this.#timers.set(id, { id, at, every, order: this.#order++, fn });
    return id;
  }

  #due(end: number): Timer | undefined {
    let first: Timer | undefined;
    for (const timer of this.#timers.values()) {
      if (timer.at > end) continue;
      if (
        !first || timer.at < first.at ||
        (timer.at === first.at && timer.order < first.order)
      ) first = timer;
    }
    return first;
  }
}
