/**
 * The Zen protocol: the aphorism table (`aphorisms.ts`) and its lookup by
 * bytes (`answer_index.ts`), question framing (`framer.ts`), simulated work
 * (`work.ts`) and the handler (`zen.ts`).
 *
 * May import `../contract.ts`, `../read_loop.ts`, `config`, `util`.
 *
 * @module
 */
export { createZenHandler, zen, type ZenSettings } from "./zen.ts";
export { BUILT_IN_TABLE, makeTable } from "./aphorisms.ts";
export { ZenFramer } from "./framer.ts";
