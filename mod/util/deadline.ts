/**
 * Coarse deadlines for many connections from one timer, the way event loops
 * in nginx and redis keep timeouts cheap: arming is a field write, and one
 * timer sweeps every armed deadline a few times a second, while any is
 * armed. Timeouts here are in seconds, so a tenth of a second of slack is
 * invisible. The sweep's timer is {@linkcode after}, not `setInterval`,
 * which would load Node's timers on the first connection (`timer.ts`).
 *
 * The same sweep notices an aborted {@linkcode Deadline.signal}: a
 * connection waiting for its client hears that a drain began without an
 * `abort` listener of its own (one costs about 600 bytes in Deno, and a
 * listener on a signal shared by thousands makes every `addEventListener`
 * a linear scan).
 *
 * Pure JavaScript (timers only), so protocols may use it.
 *
 * @module
 */
import { after, type Cancel } from "./timer.ts";

const SWEEP_MS = 100;

/** Why a deadline fired: its time passed, or its signal aborted. */
export type Expiry = "time" | "signal";

/**
 * One connection's deadline; re-armed per read, never reallocated. Either
 * give {@linkcode DeadlineWheel.create} a callback, or extend the class
 * and override {@linkcode Deadline.expire} (one object per connection
 * instead of a deadline, a closure and its scope).
 *
 * @example Usage
 * ```ts
 * import { Deadline, DeadlineWheel } from "./deadline.ts";
 * const wheel = new DeadlineWheel();
 * class Idle extends Deadline {
 *   expired = false;
 *   protected override expire(): void {
 *     this.expired = true;
 *   }
 * }
 * const idle = new Idle(wheel);
 * idle.arm(10);
 * await new Promise((resolve) => setTimeout(resolve, 250));
 * idle.dispose();
 * if (!idle.expired) throw new Error("the deadline should have fired");
 * ```
 */
export class Deadline {
  /** Absolute expiry on the `performance.now()` clock; Infinity when disarmed. */
  at = Infinity;
  /** @internal whether the wheel holds it. */
  tracked = false;
  /**
   * Also fires, once, with `"signal"` when this aborts (noticed at the next
   * sweep, while the deadline is tracked); cleared as it fires.
   */
  signal: AbortSignal | undefined = undefined;
  #onExpire: (() => void) | undefined;
  #wheel: DeadlineWheel;

  /** A deadline on `wheel`; `onExpire` runs when it fires, unless a subclass overrides {@linkcode Deadline.expire}. */
  constructor(wheel: DeadlineWheel, onExpire?: () => void) {
    this.#wheel = wheel;
    this.#onExpire = onExpire;
  }

  /** Expires `ms` from now unless re-armed or disarmed first. */
  arm(ms: number): void {
    this.at = performance.now() + ms;
    if (!this.tracked) this.#wheel.track(this);
  }

  /** Cancels without releasing the slot. */
  disarm(): void {
    this.at = Infinity;
  }

  /** Stops tracking until armed again: an idle deadline costs the sweep nothing. */
  dispose(): void {
    this.at = Infinity;
    if (this.tracked) this.#wheel.untrack(this);
  }

  /** Runs when the deadline fires; calls the `onExpire` given to the constructor. */
  protected expire(_why: Expiry): void {
    this.#onExpire?.();
  }

  /** @internal called by the wheel. */
  fire(why: Expiry): void {
    if (why === "time") this.at = Infinity;
    else this.signal = undefined;
    this.expire(why);
  }
}

/** The sweeper shared by every {@linkcode Deadline}. */
export class DeadlineWheel {
  #tracked = new Set<Deadline>();
  /** The next sweep, while anything is tracked. */
  #next: Cancel | undefined;

  /** Creates a deadline that calls `onExpire` once when it passes. */
  create(onExpire: () => void): Deadline {
    return new Deadline(this, onExpire);
  }

  /** @internal */
  track(deadline: Deadline): void {
    if (deadline.tracked) return;
    deadline.tracked = true;
    this.#tracked.add(deadline);
    this.#next ??= this.#schedule();
  }

  /** One sweep in {@linkcode SWEEP_MS}, then the next while anything is tracked. */
  #schedule(): Cancel {
    return after(SWEEP_MS, () => {
      this.#next = undefined;
      this.#sweep();
      if (this.#tracked.size > 0) this.#next ??= this.#schedule();
    });
  }

  /** @internal */
  untrack(deadline: Deadline): void {
    deadline.tracked = false;
    this.#tracked.delete(deadline);
    if (this.#tracked.size === 0) this.#stop();
  }

  #stop(): void {
    this.#next?.();
    this.#next = undefined;
  }

  #sweep(): void {
    const now = performance.now();
    for (const deadline of this.#tracked) {
      if (deadline.at <= now) deadline.fire("time");
      else if (deadline.signal?.aborted) deadline.fire("signal");
    }
  }

  /** Deadlines currently tracked (tests, metrics). */
  get size(): number {
    return this.#tracked.size;
  }
}

/** The process-wide wheel. */
export const deadlines: DeadlineWheel = new DeadlineWheel();
