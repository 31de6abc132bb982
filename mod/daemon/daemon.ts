/**
 * The daemon: starts one running listener per `[[listener]]` through the
 * model registry, then loops over queued signals — drain on TERM/INT/QUIT,
 * reload on HUP, reopen logs on USR1 — until it stops.
 *
 * @module
 */
import { formatAddress, parseAddress } from "../config/address.ts";
import {
  ConfigError,
  loadConfig,
  type LoadedConfig,
  type LoadOptions,
} from "../config/load.ts";
import type { Config, ListenerConfig } from "../config/settings.ts";
import { flushLogs, log, reopenLogs, setupLogging } from "../log/log.ts";
import type { Generation, RunningListener } from "../models/contract.ts";
import { modelFor } from "../models/registry.ts";
import { writeAccess } from "./access_log.ts";
import { makeGeneration } from "./generation.ts";
import { type HandledSignal, SignalQueue } from "./signals.ts";

/** Exit codes (DESIGN §2). */
export const EXIT = {
  ok: 0,
  failure: 1,
  usage: 2,
  workerBoot: 3,
} as const;

interface Slot {
  listener: ListenerConfig;
  running: RunningListener;
}

const logger = log("daemon");

function listenerKey(listener: ListenerConfig): string {
  return JSON.stringify(listener);
}

/** Mutable daemon state visible to protocols. */
class State {
  draining = false;
}

/** A running daemon. */
export class Daemon {
  #options: LoadOptions;
  #generation: Generation;
  #slots: Slot[] = [];
  #state = new State();
  #signals = new SignalQueue();

  private constructor(options: LoadOptions, generation: Generation) {
    this.#options = options;
    this.#generation = generation;
  }

  /**
   * Starts every listener.
   *
   * @throws {Error} when an address cannot be bound (the caller exits 1).
   */
  static async start(
    loaded: LoadedConfig,
    options: LoadOptions,
  ): Promise<Daemon> {
    const generation = await makeGeneration(loaded.config);
    const daemon = new Daemon(options, generation);
    for (const note of loaded.notes) logger.info(note);
    for (const [index, listener] of loaded.config.listener.entries()) {
      daemon.#slots.push({
        listener,
        running: await daemon.#startListener(index, listener),
      });
    }
    await daemon.#writePidFile();
    return daemon;
  }

  async #startListener(
    index: number,
    listener: ListenerConfig,
  ): Promise<RunningListener> {
    const address = parseAddress(listener.address);
    const running = await modelFor(listener.model).start({
      spec: { index, listener, address },
      generation: this.#generation,
      state: this.#state,
      access: writeAccess,
    });
    logger.info("listening on {address} ({protocol}, {model})", {
      address: formatAddress(address),
      protocol: listener.protocol,
      model: listener.model,
    });
    return running;
  }

  get #config(): Config {
    return this.#generation.config;
  }

  async #writePidFile(): Promise<void> {
    const path = this.#config.daemon.pid_file;
    if (path) await Deno.writeTextFile(path, `${Deno.pid}\n`);
  }

  async #removePidFile(): Promise<void> {
    const path = this.#config.daemon.pid_file;
    if (!path) return;
    try {
      await Deno.remove(path);
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
  }

  /** Runs the signal loop; resolves with the exit code. */
  async run(): Promise<number> {
    this.#signals.listen();
    try {
      for (;;) {
        const signal = await this.#signals.next();
        const code = await this.#dispatch(signal);
        if (code !== undefined) return code;
      }
    } finally {
      this.#signals.close();
      await this.#removePidFile();
      flushLogs();
    }
  }

  async #dispatch(signal: HandledSignal): Promise<number | undefined> {
    switch (signal) {
      case "SIGTERM":
      case "SIGINT":
      case "SIGQUIT":
        return await this.#handleStop(signal);
      case "SIGHUP":
        await this.#handleHup();
        return undefined;
      case "SIGUSR1":
        reopenLogs();
        logger.info("log file reopened");
        return undefined;
      case "SIGTTIN":
      case "SIGTTOU":
        logger.info("{signal}: no listener has a worker pool to resize", {
          signal,
        });
        return undefined;
    }
  }

  async #handleStop(signal: HandledSignal): Promise<number> {
    const timeoutMs = this.#config.limits.shutdown_timeout * 1000;
    logger.info("{signal}: draining, up to {seconds} s", {
      signal,
      seconds: timeoutMs / 1000,
    });
    this.#state.draining = true;
    const drained = Promise.all(
      this.#slots.map((slot) => slot.running.drain(timeoutMs)),
    );
    // A second stop signal ends the drain at once.
    const again = this.#signals.next().then(() => "again" as const);
    const result = await Promise.race([drained, again]);
    if (result === "again") {
      logger.warn("second signal: stopping now");
      return EXIT.ok;
    }
    const forced = result.reduce((sum, n) => sum + n, 0);
    if (forced > 0) {
      logger.warn("closed {forced} connections still open at the deadline", {
        forced,
      });
    }
    logger.info("stopped");
    return EXIT.ok;
  }

  async #handleHup(): Promise<void> {
    let loaded: LoadedConfig;
    let generation: Generation;
    try {
      loaded = await loadConfig(this.#options);
      generation = await makeGeneration(loaded.config);
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      logger.error("reload refused, keeping the running config: {error}", {
        error: error.message,
      });
      return;
    }
    setupLogging(generation.config.log);
    for (const note of loaded.notes) logger.info(note);
    this.#generation = generation;
    const next = generation.config.listener;
    const kept: Slot[] = [];
    // Unchanged listeners take the new generation in place; changed ones are
    // replaced one at a time, the new one bound before the old one drains.
    for (const [index, listener] of next.entries()) {
      const same = this.#slots.find((slot, i) =>
        i === index && listenerKey(slot.listener) === listenerKey(listener)
      );
      if (same) {
        await same.running.update(generation);
        kept.push(same);
        continue;
      }
      const old = this.#slots[index];
      if (old) {
        await old.running.drain(this.#config.limits.shutdown_timeout * 1000);
      }
      kept.push({
        listener,
        running: await this.#startListener(index, listener),
      });
    }
    for (const slot of this.#slots.slice(next.length)) {
      await slot.running.drain(this.#config.limits.shutdown_timeout * 1000);
    }
    this.#slots = kept;
    logger.info("reloaded{from}", {
      from: loaded.path ? ` from ${loaded.path}` : "",
    });
  }
}
