/**
 * One connection at a time: a worker that serves one connection to its end
 * before it accepts the next (`iterative`; `threads` or `processes` with
 * `concurrency = 1`) is held by a keep-alive client that sends nothing, and
 * every other client waits in the kernel's backlog meanwhile. For such a
 * worker `[limits] serial_idle` caps how long an idle connection keeps it:
 * the Zen and echo `idle_timeout` and the HTTP `keepalive_timeout` handed
 * to the protocol are at most that long (0: closed once idle after an
 * answer). The HTTP header timeout, for a request on its way, is left as it
 * is: a request arriving is not idleness.
 *
 * The cap is applied where a handler is built from a generation
 * ({@linkcode serveInIsolate} with concurrency 1), so it follows reloads,
 * and the protocols know nothing of models.
 *
 * @module
 */
import type { Config, ListenerConfig } from "../../config/settings.ts";
import { log } from "../../log/log.ts";
import type { Generation, ModelContext } from "../contract.ts";

/** Whether `listener`'s model serves one connection at a time per worker. */
export function servesSerially(listener: ListenerConfig): boolean {
  switch (listener.model) {
    case "iterative":
      return true;
    case "threads":
    case "processes":
      return listener.concurrency === 1;
    default:
      return false;
  }
}

/** The idle limits, in seconds, a one-at-a-time worker serves `config` with. */
export function serialIdleLimits(
  config: Config,
): { idleTimeout: number; keepaliveTimeout: number } {
  const cap = config.limits.serial_idle;
  return {
    idleTimeout: Math.min(config.zen.idle_timeout, cap),
    keepaliveTimeout: Math.min(config.http.keepalive_timeout, cap),
  };
}

/**
 * `generation` with its idle limits capped by `serial_idle`, for a worker
 * that serves one connection at a time; the same object when nothing
 * changes.
 *
 * @example Usage
 * ```ts
 * import { serialGeneration } from "./serial.ts";
 * import { buildConfig } from "../../config/load.ts";
 * import { BUILT_IN_TABLE } from "../../protocols/zen/aphorisms.ts";
 * const { config } = await buildConfig({});
 * const capped = serialGeneration({ config, aphorisms: BUILT_IN_TABLE });
 * if (capped.config.http.keepalive_timeout !== config.limits.serial_idle) {
 *   throw new Error("keepalive_timeout should be capped by serial_idle");
 * }
 * ```
 */
export function serialGeneration(generation: Generation): Generation {
  const { config } = generation;
  const { idleTimeout, keepaliveTimeout } = serialIdleLimits(config);
  if (
    idleTimeout === config.zen.idle_timeout &&
    keepaliveTimeout === config.http.keepalive_timeout
  ) return generation;
  return {
    ...generation,
    config: {
      ...config,
      zen: { ...config.zen, idle_timeout: idleTimeout },
      http: { ...config.http, keepalive_timeout: keepaliveTimeout },
    },
  };
}

/**
 * Logs, once at start, the idle limit a one-at-a-time listener serves
 * with, so the operator sees why idle clients are closed sooner than the
 * protocol's own setting says. Nothing for other listeners.
 */
export function noteSerialIdle(context: ModelContext): void {
  const { listener, index } = context.spec;
  if (!servesSerially(listener)) return;
  const { config } = context.generation;
  const limits = serialIdleLimits(config);
  const [name, own, capped] = listener.protocol === "http"
    ? [
      "keepalive_timeout",
      config.http.keepalive_timeout,
      limits.keepaliveTimeout,
    ]
    : ["idle_timeout", config.zen.idle_timeout, limits.idleTimeout];
  log("model").info(
    "listener[{index}] serves one connection at a time: an idle connection is closed {when} ({name} {own} s, serial_idle {cap} s)",
    {
      index,
      when: capped === 0 ? "once idle after an answer" : `after ${capped} s`,
      name,
      own,
      cap: config.limits.serial_idle,
    },
  );
}
