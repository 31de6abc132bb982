/**
 * Simulated work per answer (the seeds' `time.sleep` in `get_answer`): the
 * knob that makes the concurrency models visibly differ.
 *
 * - `sleep`: an async timer; an event loop keeps serving others meanwhile.
 * - `block`: `Atomics.wait`, a real thread-blocking wait, like a blocking
 *   syscall or a synchronous driver; the whole thread stops.
 * - `cpu`: a busy loop; the thread stops *and* burns a core.
 *
 * @module
 */

/** The kinds of work. */
export type WorkKind = "none" | "sleep" | "block" | "cpu";

const blocker = new Int32Array(new SharedArrayBuffer(4));

/** Performs `ms` of work of the given kind; resolves when done. */
export function doWork(kind: WorkKind, ms: number): Promise<void> | undefined {
  if (kind === "none" || ms <= 0) return undefined;
  if (kind === "sleep") {
    return new Promise((resolve) => setTimeout(resolve, ms));
  }
  if (kind === "block") {
    Atomics.wait(blocker, 0, 0, ms);
    return undefined;
  }
  const end = performance.now() + ms;
  let spins = 0;
  while (performance.now() < end) spins++;
  if (spins < 0) throw new RangeError("unreachable"); // keeps the loop observable
  return undefined;
}
