/**
 * The command line: `koan serve | inetd | client | bench | check-config |
 * reopen | reload | stop | status` (`main.ts`, which imports a
 * subcommand's module only when it runs), `serve` and `check-config` with
 * their flags (`serve.ts`), the help texts, the full one generated from
 * the settings table (`help.ts`), the Zen client (`client.ts`) and the
 * control commands, which all find the daemon by its pid file in one way
 * (`daemon_pid.ts`): `koan reopen` (`reopen.ts`), `reload` and `stop`
 * (`control.ts`), `status` (`status.ts`). Maps errors to exit codes;
 * nothing below it prints usage.
 *
 * May import every layer below: `bench`, `daemon`, `models`, `net`,
 * `protocols`, `config`, `log`, `metrics`, `util`.
 *
 * @module
 */
export { main } from "./main.ts";
