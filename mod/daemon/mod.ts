/**
 * The master process: the one loop that owns signals (`signals.ts`),
 * listeners and their models (`daemon.ts`, `plan.ts`), reload, drain and
 * exit codes; systemd (`notify.ts`, `activation.ts`, `clock.ts`), worker
 * supervision counts (`supervision.ts`), the status board
 * (`status_board.ts`), the config a reload loads (`load_generation.ts`),
 * the running record beside the pid file and the reload preview behind
 * `koan check-config --diff` (`running_record.ts`, `config_diff.ts`,
 * `reload_preview.ts`), and inetd (`inetd.ts`, `inetd_wait.ts`).
 *
 * May import `models`, `net`, `protocols`, `config`, `log`, `metrics`,
 * `util`; never `bench` or `cli`.
 *
 * @module
 */
export { Daemon, EXIT } from "./daemon.ts";
export { runInetd } from "./inetd.ts";
export { HANDLED_SIGNALS, SignalQueue } from "./signals.ts";
