/**
 * The command line: `koan serve | inetd | client | bench | check-config`
 * (`main.ts`, which imports a subcommand's module only when it runs),
 * `serve` and `check-config` with their flags (`serve.ts`), the help text
 * generated from the settings table (`help.ts`), and the Zen client
 * (`client.ts`). Maps errors to exit codes; nothing below it prints usage.
 *
 * May import every layer below: `bench`, `daemon`, `models`, `net`,
 * `protocols`, `config`, `log`, `metrics`, `util`.
 *
 * @module
 */
export { main } from "./main.ts";
