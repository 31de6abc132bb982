/**
 * koan's command-line entry. Everything else lives in `mod/`.
 *
 * @module
 */
import { main } from "./mod/cli/main.ts";

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
