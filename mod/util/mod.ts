/**
 * Small things every layer may use: one timer wheel for every deadline
 * (`deadline.ts`), how koan starts itself again (`self_command.ts`), the
 * usage error (`usage.ts`), the exit codes (`exit.ts`), the version
 * (`version.ts`), error checks for catch blocks (`errors.ts`), and a timer
 * that does not load Node's (`timer.ts`).
 *
 * The bottom layer: imports nothing of koan's outside `util/`.
 *
 * @module
 */
export { deadlines } from "./deadline.ts";
export {
  type ErrorClass,
  type ErrorKinds,
  ignoring,
  ignoringAsync,
  isOneOf,
} from "./errors.ts";
export { EXIT } from "./exit.ts";
export { selfCommand } from "./self_command.ts";
export { after, type Cancel } from "./timer.ts";
export { UsageError } from "./usage.ts";
export { VERSION } from "./version.ts";
