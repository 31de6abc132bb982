/**
 * A one-shot timer that does not load Node's timers.
 *
 * In Deno 2.9.6 the global `setTimeout` and `setInterval` are Node's, and
 * the first call loads Node's timers and the core of the Node layer with
 * them (denoland/deno#35373): 15–25 ms that every `koan inetd` connection
 * would pay for its first deadline or log flush. `AbortSignal.timeout` is
 * a web timer with no such cost. It cannot be cleared, so cancelling only
 * disarms the callback: the spent timer runs out on its own (it keeps the
 * event loop alive until then, as a pending `setTimeout` would, and Deno's
 * test sanitizers do not count it). Use it for short, repeating duties
 * (the deadline wheel's sweep, the log flushes); long waits that are
 * usually cancelled belong on the wheel.
 *
 * @module
 */

/** Disarms a timer from {@linkcode after}; calling it again does nothing. */
export type Cancel = () => void;

/**
 * Calls `callback` once, `ms` milliseconds from now, unless cancelled.
 *
 * @example Usage
 * ```ts
 * import { after } from "./timer.ts";
 * const fired = await new Promise<boolean>((resolve) => {
 *   const cancel = after(5, () => resolve(false));
 *   cancel();
 *   after(10, () => resolve(true));
 * });
 * if (!fired) throw new Error("a cancelled timer ran");
 * ```
 */
export function after(ms: number, callback: () => void): Cancel {
  let armed = true;
  AbortSignal.timeout(Math.max(0, ms)).addEventListener("abort", () => {
    if (!armed) return;
    armed = false;
    callback();
  }, { once: true });
  return () => {
    armed = false;
  };
}
