/**
 * Coarse deadlines for many connections from one timer, the way event loops
 * in nginx and redis keep timeouts cheap: arming is a field write, and one
 * interval sweeps every armed deadline a few times a second. Timeouts here
 * are in seconds, so a quarter-second of slack is invisible.
 *
 * Pure JavaScript (timers only), so protocols may use it.
 *
 * @module
 */

const SWEEP_MS = 100;

/** One connection's deadline; re-armed per read, never reallocated. */
export class Deadline {
  /** Absolute expiry on the `performance.now()` clock; Infinity when disarmed. */
  at = Infinity;
  /** @internal whether the wheel holds it. */
  tracked = false;
  #onExpire: () => void;
  #wheel: DeadlineWheel;

  constructor(wheel: DeadlineWheel, onExpire: () => void) {
    this.#wheel = wheel;
    this.#onExpire = onExpire;
  }

  /** Expires `ms` from now unless re-armed or disarmed first. */
  arm(ms: number): void {
    this.at = performance.now() + ms;
    this.#wheel.track(this);
  }

  /** Cancels without releasing the slot. */
  disarm(): void {
    this.at = Infinity;
  }

  /** Stops tracking for good. */
  dispose(): void {
    this.at = Infinity;
    this.#wheel.untrack(this);
  }

  /** @internal called by the wheel. */
  fire(): void {
    this.at = Infinity;
    this.#onExpire();
  }
}

/** The sweeper shared by every {@linkcode Deadline}. */
export class DeadlineWheel {
  #tracked = new Set<Deadline>();
  #timer: ReturnType<typeof setInterval> | undefined;

  /** Creates a deadline that calls `onExpire` once when it passes. */
  create(onExpire: () => void): Deadline {
    return new Deadline(this, onExpire);
  }

  /** @internal */
  track(deadline: Deadline): void {
    if (deadline.tracked) return;
    deadline.tracked = true;
    this.#tracked.add(deadline);
    this.#timer ??= setInterval(() => this.#sweep(), SWEEP_MS);
  }

  /** @internal */
  untrack(deadline: Deadline): void {
    deadline.tracked = false;
    this.#tracked.delete(deadline);
    if (this.#tracked.size === 0) this.#stop();
  }

  #stop(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  #sweep(): void {
    const now = performance.now();
    for (const deadline of this.#tracked) {
      if (deadline.at <= now) deadline.fire();
    }
  }

  /** Deadlines currently tracked (tests, metrics). */
  get size(): number {
    return this.#tracked.size;
  }
}

/** The process-wide wheel. */
export const deadlines: DeadlineWheel = new DeadlineWheel();
