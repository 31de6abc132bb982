/**
 * Errors handled on purpose: a `catch` names the errors it expects and lets
 * every other one through, so a `TypeError` from a mistake in the same `try`
 * is not taken for "already closed" or "the peer went away". Off the hot
 * paths, {@linkcode ignoring} and {@linkcode ignoringAsync} say it in one
 * line; in a per-connection loop, a plain `catch (error)` that tests
 * {@linkcode isOneOf} costs nothing until something fails.
 *
 * Pure JavaScript: the helpers take the classes as arguments and never touch
 * `Deno` themselves, so protocols may use them (with their own classes).
 *
 * @module
 */

/** A class of errors: `TypeError`, `Deno.errors.BadResource`, `HttpError`. */
export type ErrorClass = abstract new (...args: never[]) => unknown;

/** One error class, or several. */
export type ErrorKinds = ErrorClass | readonly ErrorClass[];

/**
 * Whether `error` is an instance of `kinds` (or of one of them). Anything
 * that is not an object, such as a thrown string, is none of them.
 *
 * @example Usage
 * ```ts
 * import { isOneOf } from "./errors.ts";
 *
 * const error = new Deno.errors.BrokenPipe("Broken pipe (os error 32)");
 * if (!isOneOf(error, [Deno.errors.BrokenPipe, Deno.errors.ConnectionReset])) {
 *   throw new Error("a broken pipe is one of them");
 * }
 * if (isOneOf(new TypeError("x"), Deno.errors.BadResource)) {
 *   throw new Error("a TypeError is not a BadResource");
 * }
 * ```
 */
export function isOneOf(error: unknown, kinds: ErrorKinds): boolean {
  if (typeof kinds === "function") return error instanceof kinds;
  for (const kind of kinds) {
    if (error instanceof kind) return true;
  }
  return false;
}

/**
 * Runs `fn` and returns its result; an error of `kinds` it throws is
 * swallowed (the result is then `undefined`), any other is rethrown. For a
 * function that returns a promise use {@linkcode ignoringAsync}: this one
 * refuses a promise with a `TypeError` rather than miss its rejection.
 *
 * It allocates a closure per call: in a per-connection loop, write the
 * `try`/`catch` out with {@linkcode isOneOf} instead.
 *
 * @example Closing what may be closed already
 * ```ts
 * import { ignoring } from "./errors.ts";
 *
 * const file = Deno.openSync(Deno.execPath());
 * file.close();
 * // A second close() throws BadResource ("Bad resource ID").
 * ignoring(Deno.errors.BadResource, () => file.close());
 * ```
 *
 * @throws {unknown} whatever `fn` throws that is not one of `kinds`.
 * @throws {TypeError} when `fn` returns a promise.
 */
export function ignoring<T>(kinds: ErrorKinds, fn: () => T): T | undefined {
  let result: T;
  try {
    result = fn();
  } catch (error) {
    if (isOneOf(error, kinds)) return undefined;
    throw error;
  }
  if (typeof (result as { then?: unknown } | null)?.then === "function") {
    throw new TypeError(
      "ignoring() cannot wait for a promise: use ignoringAsync()",
    );
  }
  return result;
}

/**
 * Awaits `fn()`; a rejection (or a synchronous throw) with an error of
 * `kinds` resolves to `undefined` instead, any other error rejects.
 *
 * @example Cancelling a stream that may have failed
 * ```ts
 * import { ignoringAsync } from "./errors.ts";
 *
 * const stream = new ReadableStream({
 *   start(controller) {
 *     controller.error(new Deno.errors.BrokenPipe("gone"));
 *   },
 * });
 * // cancel() on an errored stream rejects with the stream's error.
 * await ignoringAsync(Deno.errors.BrokenPipe, () => stream.cancel());
 * ```
 *
 * @throws {unknown} whatever `fn` throws or rejects with that is not one of `kinds`.
 */
export async function ignoringAsync<T>(
  kinds: ErrorKinds,
  fn: () => T | PromiseLike<T>,
): Promise<T | undefined> {
  try {
    return await fn();
  } catch (error) {
    if (isOneOf(error, kinds)) return undefined;
    throw error;
  }
}
