/**
 * The command line: `koan serve | inetd | client | bench | check-config |
 * reopen` (`main.ts`, which imports a subcommand's module only when it
 * runs), `serve` and `check-config` with their flags (`serve.ts`), the
 * help texts, the full one generated from the settings table (`help.ts`),
 * the Zen client (`client.ts`) and `koan reopen` (`reopen.ts`). Maps errors
 * to exit codes; nothing below it prints usage.
 *
 * May import every layer below: `bench`, `daemon`, `models`, `net`,
 * `protocols`, `config`, `log`, `metrics`, `util`.
 *
 * @module
 */
export { main } from "./main.ts";
