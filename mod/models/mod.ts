/**
 * Concurrency models: how a listener's connections are spread over this
 * isolate, threads or processes. The daemon sees only the contract
 * (`contract.ts`: {@linkcode Model}, {@linkcode RunningListener}) and the
 * registry (`registry.ts`); each model lives in a folder of its own:
 *
 * - `iterative/`, `async/` — served in this isolate (`in_isolate/`);
 * - `threads/`, `processes/` — a supervised pool (`pool/`) sharing one
 *   listening socket; a `processes` child accepts in `processes/child.ts`;
 * - `per_connection/` — a fresh thread or child process per client;
 * - `ipc/` — what crosses between isolates and processes: messages,
 *   frames, the line channel, the hand-back queue, child commands;
 * - `child.ts` — the hidden `koan _worker` subcommand a child runs.
 *
 * May import `net`, `protocols`, `config`, `log`, `metrics`, `util`;
 * never `daemon`, `bench` or `cli` (checked by
 * `tests/architecture/layers_test.ts`).
 *
 * @module
 */
export type {
  Generation,
  ListenerSpec,
  Model,
  ModelContext,
  RunningListener,
} from "./contract.ts";
export { CrashLoopError } from "./contract.ts";
export { modelFor, MODELS } from "./registry.ts";
export { runWorkerProcess } from "./child.ts";
