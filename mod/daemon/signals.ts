/**
 * Signals become queued events; the daemon's loop drains the queue and acts
 * (gunicorn's arbiter). Handlers here only enqueue and wake the loop: no
 * logging, no work inside a signal callback.
 *
 * @module
 */

/** Signals the daemon answers. */
export const HANDLED_SIGNALS = [
  "SIGTERM",
  "SIGINT",
  "SIGQUIT",
  "SIGHUP",
  "SIGUSR1",
  "SIGTTIN",
  "SIGTTOU",
] as const satisfies readonly Deno.Signal[];

/** A handled signal's name. */
export type HandledSignal = typeof HANDLED_SIGNALS[number];

/** A queue of received signals with an awaitable "something arrived". */
export class SignalQueue {
  #queue: HandledSignal[] = [];
  #wake: (() => void) | undefined;
  #listeners: [HandledSignal, () => void][] = [];

  /** Starts listening for `signals`. */
  listen(signals: readonly HandledSignal[] = HANDLED_SIGNALS): void {
    for (const signal of signals) {
      const listener = () => this.push(signal);
      Deno.addSignalListener(signal, listener);
      this.#listeners.push([signal, listener]);
    }
  }

  /** Enqueues an event (also used for internal events in tests). */
  push(signal: HandledSignal): void {
    this.#queue.push(signal);
    this.#wake?.();
    this.#wake = undefined;
  }

  /** Resolves with the next signal, waiting if none is queued. */
  async next(): Promise<HandledSignal> {
    while (this.#queue.length === 0) {
      await new Promise<void>((resolve) => this.#wake = resolve);
    }
    return this.#queue.shift()!;
  }

  /** Stops listening. */
  close(): void {
    for (const [signal, listener] of this.#listeners) {
      Deno.removeSignalListener(signal, listener);
    }
    this.#listeners = [];
  }
}
