/**
 * The master process: the one loop that owns signals (`signals.ts`),
 * listeners and their models (`daemon.ts`, `plan.ts`), reload, drain and
 * exit codes; systemd (`notify.ts`, `activation.ts`, `clock.ts`), worker
 * supervision counts (`supervision.ts`), the status board
 * (`status_board.ts`), and inetd (`inetd.ts`, `inetd_wait.ts`).
 *
 * May import `models`, `net`, `protocols`, `config`, `log`, `metrics`,
 * `util`; never `bench` or `cli`.
 *
 * @module
 */
export { Daemon, EXIT } from "./daemon.ts";
export { runInetd } from "./inetd.ts";
export { HANDLED_SIGNALS, SignalQueue } from "./signals.ts";
