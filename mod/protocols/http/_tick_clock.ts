/**
 * The monotonic clock read once per turn of the event loop, as nginx
 * reads its clock once per iteration (`ngx_time_update()` in
 * `ngx_times.c`): under load one turn completes the reads and writes of
 * many connections, and `performance.now()` costs about a tenth of a
 * microsecond each time, two times per request.
 *
 * A reading is kept until the microtasks queued before it have run (a
 * microtask queued with it forgets it), so it is never older than the
 * work already scheduled when it was taken: all that one turn's I/O
 * completions run, and nothing after. Readings never go backwards.
 *
 * @module
 */

let cached = 0;
let valid = false;

function forget(): void {
  valid = false;
}

/**
 * Queues the forgetting: a reaction to a settled promise is a microtask
 * like `queueMicrotask()`'s, without its wrapper closure and native call.
 */
const SETTLED = Promise.resolve();

/**
 * `performance.now()`, shared by everything that runs in the same turn of
 * the event loop (the same generation of microtasks).
 *
 * @example Usage
 * ```ts
 * import { tickNow } from "./_tick_clock.ts";
 * const first = tickNow();
 * if (tickNow() !== first) throw new Error("read twice in one turn");
 * await new Promise((resolve) => setTimeout(resolve, 2));
 * if (tickNow() <= first) throw new Error("a later turn reads the clock again");
 * ```
 */
export function tickNow(): number {
  if (valid) return cached;
  valid = true;
  SETTLED.then(forget);
  return cached = performance.now();
}
