/**
 * The models the conformance suite runs against, with what differs in
 * their observable behaviour, and the daemon each case set starts.
 *
 * @module
 */
import type { ModelName } from "../../mod/config/settings.ts";
import { freePort, startDaemon, type TestDaemon } from "../_helpers.ts";

/** A model under test. */
export interface ModelUnderTest {
  name: ModelName;
  /**
   * Serves one connection at a time, so a second client waits in the
   * backlog instead of being refused: limits can never be reached.
   */
  oneAtATime: boolean;
  /** `threads` or `processes`: a supervised pool of `WORKERS` workers. */
  pool?: "thread" | "process";
}

/** Every model koan has. */
export const MODELS_UNDER_TEST: readonly ModelUnderTest[] = [
  { name: "iterative", oneAtATime: true },
  { name: "async", oneAtATime: false },
  { name: "threads", oneAtATime: false, pool: "thread" },
  { name: "processes", oneAtATime: false, pool: "process" },
  { name: "thread-per-connection", oneAtATime: false },
  { name: "process-per-connection", oneAtATime: false },
];

/** Workers per pooled listener in tests (small: CI has two cores). */
export const WORKERS = 2;

/** The listening ports of a conformance daemon. */
export interface Ports {
  zen: number;
  echo: number;
  http: number;
}

/** A started daemon and its ports. */
export interface ModelDaemon {
  daemon: TestDaemon;
  ports: Ports;
  [Symbol.asyncDispose](): Promise<void>;
}

/** Options for {@linkcode startModelDaemon}. */
export interface ModelDaemonOptions {
  /** Extra TOML sections appended to the config. */
  sections?: string;
}

/** Starts `koan serve` with Zen, echo and HTTP listeners on `model`. */
export async function startModelDaemon(
  model: ModelUnderTest,
  options: ModelDaemonOptions = {},
): Promise<ModelDaemon> {
  const ports: Ports = { zen: freePort(), echo: freePort(), http: freePort() };
  const listeners = (["zen", "echo", "http"] as const).map((protocol) =>
    [
      "[[listener]]",
      `protocol = "${protocol}"`,
      `address = "127.0.0.1:${ports[protocol]}"`,
      `model = "${model.name}"`,
      ...(model.pool ? [`workers = ${WORKERS}`] : []),
    ].join("\n")
  );
  const daemon = await startDaemon([], {
    config: [...listeners, options.sections ?? ""].join("\n\n"),
    ports: Object.values(ports),
    timeoutMs: 30_000,
  });
  return {
    daemon,
    ports,
    [Symbol.asyncDispose]: () => daemon[Symbol.asyncDispose](),
  };
}
