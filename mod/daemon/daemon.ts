/**
 * The daemon: starts one running listener per `[[listener]]` through the
 * model registry, then loops over queued signals — drain on TERM/INT/QUIT,
 * reload on HUP, reopen logs on USR2 (`koan reopen`; never USR1, on which
 * Deno opens a debugger) — until it stops (gunicorn's arbiter: signal
 * handlers only enqueue, this one loop acts).
 *
 * Under systemd it reports over `$NOTIFY_SOCKET` (READY=1, RELOADING=1,
 * STOPPING=1, STATUS=, WATCHDOG=1) and serves the sockets passed by socket
 * activation. A reload restarts only the listeners whose settings changed,
 * one at a time: the replacement starts (on the same socket when it accepts
 * in this isolate) before the old one drains, so no client is refused.
 *
 * The pid file is written to a new name and renamed into place (0644,
 * never through a symlink) and removed at exit only while it still holds
 * this process's pid (`log/safe_file.ts`).
 *
 * @module
 */
import { parseAddress } from "../config/address.ts";
import {
  ConfigError,
  type LoadedConfig,
  type LoadOptions,
} from "../config/load.ts";
import type { Config, ListenerConfig, ModelName } from "../config/settings.ts";
import { flushLogs, log, reopenLogs, setupLogging } from "../log/log.ts";
import type { Generation, Model, RunningListener } from "../models/contract.ts";
import { modelFor } from "../models/registry.ts";
import { probeAddress, setAlwaysReusePort } from "../net/listen.ts";
import { writeAccess } from "../log/access_log.ts";
import {
  PID_FILE_MODE,
  removeFileHolding,
  replaceFileSafely,
} from "../log/safe_file.ts";
import {
  adoptListenFds,
  inheritedInUse,
  type InheritedSocket,
  inheritedSocket,
  listenFdsFromEnv,
  releaseInherited,
} from "./activation.ts";
import { monotonicMicros, monotonicSource } from "./clock.ts";
import { makeGeneration } from "./generation.ts";
import { loadGeneration } from "./load_generation.ts";
import { dropRunningRecord, saveRunningRecord } from "./running_record.ts";
import { Notifier, watchdogInterval } from "./notify.ts";
import { addressKey, planConfig } from "./plan.ts";
import { type HandledSignal, SignalQueue } from "./signals.ts";
import { Supervision } from "./supervision.ts";
import { StatusBoard } from "./status_board.ts";
import { aggregate } from "../metrics/aggregate.ts";
import { describeEvent, ledger } from "../metrics/ledger.ts";
import { EXIT } from "../util/exit.ts";

/** Exit codes (DESIGN §2), defined once in `util/exit.ts`. */
export { EXIT };

interface Slot {
  listener: ListenerConfig;
  running: RunningListener;
}

const logger = log("daemon");

/** Extra time past `shutdown_timeout` for models to report back before the master exits anyway. */
const STOP_GRACE_MS = 5000;

function listenerKey(listener: ListenerConfig): string {
  return JSON.stringify(listener);
}

function isStop(signal: HandledSignal): boolean {
  return signal === "SIGTERM" || signal === "SIGINT" || signal === "SIGQUIT";
}

/** A reason for `/readyz` to answer 503 (see `Daemon.#notReady`). */
type NotReady = "stopping" | "moving" | "no worker";

/** How often readiness looks whether every pooled listener has a worker ready. */
const WORKERS_CHECK_MS = 250;

/** Mutable daemon state visible to protocols. */
class State {
  draining = false;
  ready = true;
  /** Readiness probes answered since `ready` went false. */
  probes = 0;
  /** Told of each such probe, while the drain delay waits for them. */
  onProbe: (() => void) | undefined;

  probed(): void {
    this.probes++;
    this.onProbe?.();
  }
}

/** How a daemon is started; every default is the real thing. */
export interface DaemonOptions extends LoadOptions {
  /** Looks a model up by name. @default {modelFor} */
  models?: (name: ModelName) => Model;
  /**
   * Where signals arrive. @default {a SignalQueue listening to this
   * process's signals} An injected queue is used as it is: the caller
   * pushes into it, or calls `listen()` itself.
   */
  signals?: SignalQueue;
  /** Reads systemd's variables. @default {Deno.env.get} */
  env?: (name: string) => string | undefined;
}

/** A running daemon. */
export class Daemon {
  #options: DaemonOptions;
  #models: (name: ModelName) => Model;
  #generation: Generation;
  #slots: Slot[] = [];
  #state = new State();
  #signals: SignalQueue;
  /** Set when a model reports a crash loop: stop, then exit with it. */
  #exitCode: number = EXIT.ok;
  #inherited: InheritedSocket[];
  #notifier: Notifier | undefined;
  #supervision: Supervision;
  #board: StatusBoard;
  /** Listeners replaced by a reload, still draining. */
  #retiring = new Set<Promise<number>>();
  /** Feeds limit refusals to the ledger once a second. */
  #refusals: ReturnType<typeof setInterval> | undefined;
  /** Why `/readyz` answers 503 now; empty when ready. */
  #unready = new Set<NotReady>();
  #workersCheck: ReturnType<typeof setInterval> | undefined;

  private constructor(
    options: DaemonOptions,
    generation: Generation,
    inherited: InheritedSocket[],
  ) {
    const env = options.env ?? ((name: string) => Deno.env.get(name));
    this.#options = options;
    this.#models = options.models ?? modelFor;
    this.#signals = options.signals ?? new SignalQueue();
    this.#notifier = Notifier.fromEnv(env);
    this.#generation = generation;
    this.#inherited = inherited;
    this.#board = new StatusBoard({
      listeners: () =>
        this.#slots.map((slot) => ({
          listener: slot.listener,
          stats: () => slot.running.stats(),
        })),
      draining: () => this.#state.draining,
    });
    this.#supervision = new Supervision({
      extra: () => this.#board.statusExtra(),
      notifier: this.#notifier,
      listeners: () =>
        this.#slots.map((slot) => ({
          listener: slot.listener,
          stats: () => slot.running.stats(),
        })),
      watchdogMs: watchdogInterval(
        { usec: env("WATCHDOG_USEC"), pid: env("WATCHDOG_PID") },
        Deno.pid,
      ),
    });
  }

  /**
   * Adopts sockets passed by systemd, checks every address is free, starts
   * every listener and tells the service manager it is ready.
   *
   * @throws {ConfigError} for a configuration that cannot run (exit 2).
   * @throws {Error} when an address cannot be bound (the caller exits 1).
   */
  static async start(
    loaded: LoadedConfig,
    options: DaemonOptions,
  ): Promise<Daemon> {
    const passed = listenFdsFromEnv(
      options.env ?? ((name) => Deno.env.get(name)),
      Deno.pid,
    );
    const inherited = passed ? await adoptListenFds(passed) : [];
    const config = await planConfig(loaded, inherited, options);
    const generation = await makeGeneration(config);
    const daemon = new Daemon(options, generation, inherited);
    // From here a signal is queued, not fatal: a TERM that arrives while
    // the listeners start is acted on as soon as the loop runs.
    if (!options.signals) daemon.#signals.listen();
    for (const note of loaded.notes) logger.info(note);
    for (const socket of inherited) {
      logger.info("socket activation: fd {fd} {name} on {address}", {
        fd: socket.fd,
        name: socket.name || "(unnamed)",
        address: socket.address,
      });
    }
    // Every address must be free before anything binds: SO_REUSEPORT below
    // would otherwise let two daemons share a port without a word.
    for (const listener of config.listener) {
      const address = parseAddress(listener.address);
      if (inheritedSocket(address) === undefined) await probeAddress(address);
    }
    setAlwaysReusePort(true);
    for (const [index, listener] of config.listener.entries()) {
      daemon.#slots.push({
        listener,
        running: await daemon.#startListener(index, listener),
      });
    }
    daemon.#writePidFile();
    saveRunningRecord(config, {
      options,
      inherited,
      configPath: loaded.path,
    });
    daemon.#ready();
    daemon.#board.start();
    daemon.#supervision.start();
    ledger.onEvent((event) =>
      logger.info("ledger: {event}", { event: describeEvent(event) })
    );
    daemon.#observeRefusals(); // the baseline: refusals from now on are news
    daemon.#refusals = setInterval(() => daemon.#observeRefusals(), 1000);
    daemon.#workersCheck = setInterval(
      () => daemon.#checkWorkers(),
      WORKERS_CHECK_MS,
    );
    return daemon;
  }

  async #startListener(
    index: number,
    listener: ListenerConfig,
  ): Promise<RunningListener> {
    const address = parseAddress(listener.address);
    const running = await this.#models(listener.model).start({
      spec: { index, listener, address },
      generation: this.#generation,
      state: this.#state,
      access: writeAccess,
      onLoss: (kind, counts, reason) =>
        ledger.record(kind, counts, {
          protocol: listener.protocol,
          listener: `${listener.protocol} ${addressKey(listener.address)}`,
          reason,
        }),
      onFatal: () => {
        // The model logged why; stop everything and exit 3 (DESIGN §2).
        this.#exitCode = EXIT.workerBoot;
        this.#signals.push("SIGTERM");
      },
    });
    const fd = inheritedSocket(address);
    if (fd !== undefined && !inheritedInUse(address)) {
      // The model bound sockets of its own: the inherited one would queue
      // clients nobody accepts.
      await running.drain(0);
      throw new ConfigError(
        `listener[${index}].model`,
        `"${listener.model}" does not accept from the socket systemd passed (fd ${fd})`,
      );
    }
    logger.info("listening on {address} ({protocol}, {model}{from})", {
      address: addressKey(listener.address),
      protocol: listener.protocol,
      model: listener.model,
      from: fd === undefined ? "" : `, socket-activated fd ${fd}`,
    });
    return running;
  }

  get #config(): Config {
    return this.#generation.config;
  }

  #ready(): void {
    this.#notifier?.send({
      READY: 1,
      STATUS: this.#supervision.statusNow(),
      MAINPID: Deno.pid,
    });
  }

  /** @throws {Error} naming the pid file when it cannot be written. */
  #writePidFile(): void {
    const path = this.#config.daemon.pid_file;
    if (!path) return;
    try {
      replaceFileSafely(path, `${Deno.pid}\n`, { mode: PID_FILE_MODE });
    } catch (error) {
      throw new Error(
        `Cannot write the pid file "${path}": ${(error as Error).message}`,
        { cause: error },
      );
    }
  }

  /** Removes the pid file, unless it no longer holds this process's pid. */
  #removePidFile(): void {
    const path = this.#config.daemon.pid_file;
    if (!path) return;
    try {
      const kept = removeFileHolding(path, String(Deno.pid));
      if (kept !== undefined) {
        logger.warn("pid file {path} left in place: {why}", {
          path,
          why: /^\d+$/.test(kept) ? `it holds pid ${kept}, not this one` : kept,
        });
      }
    } catch (error) {
      // Whatever stops it (no permission, the directory gone), the exit
      // goes on: a pid file left behind is stale, not harmful.
      logger.warn("pid file {path} not removed: {error}", {
        path,
        error: (error as Error).message,
      });
    }
  }

  /** Runs the signal loop; resolves with the exit code. */
  async run(): Promise<number> {
    try {
      for (;;) {
        const signal = await this.#signals.next();
        const code = await this.#dispatch(signal);
        if (code !== undefined) return code;
      }
    } finally {
      clearInterval(this.#refusals);
      clearInterval(this.#workersCheck);
      ledger.onEvent(undefined);
      this.#supervision.stop();
      this.#board.stop();
      this.#signals.close();
      releaseInherited();
      this.#removePidFile();
      dropRunningRecord(this.#config);
      await this.#notifier?.flush();
      this.#notifier?.close();
      await flushLogs();
    }
  }

  /** Connections open now on every listener. */
  #openConnections(): number {
    return this.#slots.reduce(
      (n, slot) => n + slot.running.stats().connections,
      0,
    );
  }

  /** Limit refusals since the last look become ledger events. */
  #observeRefusals(): void {
    ledger.observe(aggregate(), (label) => {
      const slot = this.#slots.find((s) =>
        addressKey(s.listener.address) === label
      );
      return slot?.listener.protocol ?? "unknown";
    });
  }

  /**
   * SIGUSR2 (`koan reopen`): this process's log file, then every worker's.
   * A file that cannot be opened again (a symlink planted in its place) is
   * logged, and the one open goes on: a reopen never stops the service.
   */
  #reopen(): void {
    const reopened = reopenLogs();
    for (const slot of this.#slots) slot.running.reopen?.();
    if (reopened) logger.info("log file reopened");
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
      case "SIGUSR2":
        this.#reopen();
        return undefined;
      case "SIGTTIN":
      case "SIGTTOU": {
        const pools = this.#slots.filter((slot) => slot.running.scale);
        if (pools.length === 0) {
          logger.info("{signal}: no listener has a worker pool to resize", {
            signal,
          });
        }
        for (const slot of pools) {
          await slot.running.scale!(signal === "SIGTTIN" ? 1 : -1);
        }
        return undefined;
      }
    }
  }

  /**
   * `[limits] drain_delay`: before the drain, `/readyz` answers 503 while
   * koan still accepts and serves, so a balancer takes it out before any
   * client is refused. The wait ends after `drain_probes` such probes
   * (counted across workers) or the delay, whichever comes first; a
   * second stop signal ends it too. Resolves to the signal wait still
   * pending, for the drain to take over (wrapped: an async function would
   * wait for a promise it returns).
   */
  async #drainDelay(
    signal: HandledSignal,
  ): Promise<{ next?: Promise<HandledSignal> }> {
    const { drain_delay: seconds, drain_probes: wanted } = this.#config.limits;
    if (seconds <= 0) return {};
    this.#notReady("stopping", true);
    logger.info(
      "{signal}: not ready; draining after {wanted} readyz probes or {seconds} s",
      { signal, wanted, seconds },
    );
    this.#notifier?.send({
      STOPPING: 1,
      STATUS: this.#supervision.statusNow("not ready: "),
    });
    const probes = this.#probesOrDelay(seconds, wanted);
    try {
      for (;;) {
        const next = this.#signals.next();
        const result = await Promise.race([probes.wait, next]);
        if (result === "delay") {
          logger.info("drain: drain_delay {seconds} s passed", { seconds });
          return { next };
        }
        if (result === "probes") {
          logger.info("drain: readyz probed {count} times", {
            count: this.#state.probes,
          });
          return { next };
        }
        const again = await next;
        if (isStop(again)) {
          logger.info("drain: second signal ({signal}) ends the wait", {
            signal: again,
          });
          return {};
        }
        if (again === "SIGUSR2") this.#reopen();
        else logger.info("{signal} ignored while draining", { signal: again });
      }
    } finally {
      probes.end();
    }
  }

  /**
   * From now on, counts `/readyz` probes answered 503 (across workers):
   * `wait` resolves once there were `wanted` of them, or `seconds` passed.
   * `end` stops counting.
   */
  #probesOrDelay(
    seconds: number,
    wanted: number,
  ): { wait: Promise<"probes" | "delay">; end(): void } {
    this.#state.probes = 0;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const wait = new Promise<"probes" | "delay">((resolve) => {
      timer = setTimeout(() => resolve("delay"), seconds * 1000);
      this.#state.onProbe = () => {
        if (this.#state.probes >= wanted) resolve("probes");
      };
    });
    return {
      wait,
      end: () => {
        clearTimeout(timer);
        this.#state.onProbe = undefined;
      },
    };
  }

  /**
   * With `[limits] drain_delay`, while readiness reads 503 for a reload's
   * move: waits until `/readyz` was probed `drain_probes` times or the
   * delay passed, so that a balancer has taken koan out before the old
   * listeners close their idle keep-alive connections (one it still
   * reused would fail a request). Signals wait in the queue meanwhile.
   */
  async #awaitProbes(why: string): Promise<void> {
    const { drain_delay: seconds, drain_probes: wanted } = this.#config.limits;
    if (seconds <= 0) return;
    const probes = this.#probesOrDelay(seconds, wanted);
    try {
      const result = await probes.wait;
      logger.info(
        result === "probes"
          ? "{why}: readyz probed {count} times while not ready"
          : "{why}: drain_delay {seconds} s passed while not ready",
        { why, count: this.#state.probes, seconds },
      );
    } finally {
      probes.end();
    }
  }

  async #handleStop(signal: HandledSignal): Promise<number> {
    const timeoutMs = this.#config.limits.shutdown_timeout * 1000;
    const open = this.#openConnections();
    const accepted = acceptedTotal();
    // The stop's ledger event: what was open when it began, and what
    // was accepted during drain_delay, closed normally unless cut.
    const recordStop = (cut: number, reason: string) => {
      this.#observeRefusals();
      const total = open + Math.max(0, acceptedTotal() - accepted);
      ledger.record("stop", {
        refused: 0,
        cut,
        undelivered: cut,
        closed: Math.max(0, total - cut),
        total,
      }, { reason });
    };
    let pending = (await this.#drainDelay(signal)).next;
    this.#notReady("stopping", true);
    this.#state.draining = true;
    // Stop taking connections at once: every model closes its listening
    // descriptors as its drain begins (a pool's workers as soon as they
    // hear of it), so no client is accepted that will not be served. With
    // systemd's sockets that closes only koan's copies; systemd keeps its
    // own, so clients arriving meanwhile wait for the next start.
    releaseInherited();
    const drained = Promise.all([
      ...this.#slots.map((slot) => slot.running.drain(timeoutMs)),
      ...this.#retiring,
    ]).then((counts) => counts.reduce((sum, n) => sum + n, 0));
    logger.info("{signal}: draining, up to {seconds} s", {
      signal,
      seconds: timeoutMs / 1000,
    });
    this.#supervision.pause(true);
    this.#notifier?.send({
      STOPPING: 1,
      STATUS: this.#supervision.statusNow("draining: "),
    });
    // A model that never reports back must not keep the master alive.
    let timer: ReturnType<typeof setTimeout> | undefined;
    const overdue = new Promise<"overdue">((resolve) =>
      timer = setTimeout(() => resolve("overdue"), timeoutMs + STOP_GRACE_MS)
    );
    try {
      for (;;) {
        const next = pending ?? this.#signals.next();
        pending = undefined;
        const result = await Promise.race([drained, overdue, next]);
        if (result === "overdue") {
          logger.error(
            "drain still unfinished {ms} ms past the deadline: exiting",
            {
              ms: STOP_GRACE_MS,
            },
          );
          recordStop(this.#openConnections(), "overdue");
          return this.#exitCode;
        }
        if (typeof result === "number") {
          if (result > 0) {
            logger.warn(
              "closed {forced} connections still open at the deadline",
              { forced: result },
            );
          }
          recordStop(result, result > 0 ? "shutdown_timeout" : signal);
          logger.info("stopped");
          return this.#exitCode;
        }
        // The race's losing next() keeps its place: take the signal it got.
        const again = await next;
        if (isStop(again)) {
          logger.warn("second signal ({signal}): stopping now", {
            signal: again,
          });
          recordStop(this.#openConnections(), "second signal");
          return this.#exitCode;
        }
        if (again === "SIGUSR2") {
          this.#reopen();
        } else {
          logger.info("{signal} ignored while draining", { signal: again });
        }
      }
    } finally {
      clearTimeout(timer);
    }
  }

  async #handleHup(): Promise<void> {
    const micros = monotonicMicros();
    this.#supervision.pause(true);
    this.#notifier?.send({
      RELOADING: 1,
      ...(micros === undefined ? {} : { MONOTONIC_USEC: micros }),
      STATUS: "reloading",
    });
    if (micros === undefined && this.#notifier) {
      logger.debug("MONOTONIC_USEC left out: clock source {source}", {
        source: monotonicSource(),
      });
    }
    try {
      await this.#reload();
    } catch (error) {
      // Whatever went wrong, the daemon goes on serving what it has.
      logger.error("reload failed: {error}", {
        error: (error as Error)?.stack ?? String(error),
      });
    } finally {
      this.#supervision.pause(false);
      this.#ready();
    }
  }

  async #reload(): Promise<void> {
    let loaded: LoadedConfig;
    let generation: Generation;
    try {
      // The same loading `koan check-config --diff` previews.
      ({ loaded, generation } = await loadGeneration(this.#options, {
        inherited: this.#inherited,
      }));
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      logger.error("reload refused, keeping the running config: {error}", {
        error: error.message,
      });
      this.#board.reloaded("refused");
      return;
    }
    try {
      setupLogging(generation.config.log);
    } catch (error) {
      // planConfig opened the files a moment ago; one swapped since (a
      // symlink planted in between) refuses the reload, and the running
      // log files stay open.
      logger.error("reload refused, keeping the running config: {error}", {
        error: (error as Error).message,
      });
      this.#board.reloaded("refused");
      return;
    }
    for (const note of loaded.notes) logger.info(note);
    const previous = this.#generation;
    this.#generation = generation;
    const timeoutMs = previous.config.limits.shutdown_timeout * 1000;
    const openBefore = this.#openConnections();
    const retired: Retired[] = [];
    const old = [...this.#slots];
    const next: Slot[] = [];
    /** A listener is being replaced: readiness reads 503 meanwhile. */
    let moving = false;
    /** Old listeners whose replacements serve: retired once all have started. */
    const replacing: Slot[] = [];
    // Unchanged listeners take the new generation in place.
    const unchanged = new Map<number, Slot>();
    generation.config.listener.forEach((listener, index) => {
      const i = old.findIndex((slot) =>
        listenerKey(slot.listener) === listenerKey(listener)
      );
      if (i >= 0) {
        unchanged.set(index, old[i]!);
        old.splice(i, 1);
      }
    });
    try {
      for (const [index, listener] of generation.config.listener.entries()) {
        const same = unchanged.get(index);
        if (same) {
          await same.running.update(generation);
          next.push(same);
          continue;
        }
        // Changed or new: start the replacement first (on the same socket
        // when it accepts in this isolate; beside it with SO_REUSEPORT when
        // its workers bind their own), then drain the one it replaces.
        const key = addressKey(listener.address);
        const replaced = old.findIndex((slot) =>
          addressKey(slot.listener.address) === key
        );
        if (replaced >= 0 && !moving) {
          moving = true;
          this.#notReady("moving", true);
        }
        let running: RunningListener;
        try {
          if (replaced < 0 && !this.#serves(key)) {
            const address = parseAddress(listener.address);
            if (inheritedSocket(address) === undefined) {
              await probeAddress(address);
            }
          }
          running = await this.#startListener(index, listener);
        } catch (error) {
          logger.error(
            "reload: listener[{index}] ({address}) not started, {kept}: {error}",
            {
              index,
              address: key,
              kept: replaced < 0
                ? "nothing served there"
                : "keeping the old one",
              error: (error as Error).message,
            },
          );
          if (replaced >= 0) {
            const keep = old.splice(replaced, 1)[0]!;
            await keep.running.update(generation);
            next.push(keep);
          }
          continue;
        }
        // A pool starts ready; it must read as the daemon does now.
        if (!this.#state.ready) running.setReady?.(false);
        next.push({ listener, running });
        if (replaced >= 0) replacing.push(old.splice(replaced, 1)[0]!);
      }
      // Before the old listeners close their idle keep-alives, a balancer
      // that probes /readyz has seen the 503 and stopped reusing them.
      if (moving) await this.#awaitProbes("reload");
      // Replaced listeners, and those no longer configured.
      for (const slot of [...replacing, ...old]) {
        retired.push(this.#retire(slot, timeoutMs));
      }
      this.#slots = next;
    } finally {
      // The old listeners have stopped accepting, the new ones serve (or,
      // had starting them thrown, the old ones still do).
      if (moving) this.#notReady("moving", false);
    }
    this.#board.reloaded("ok");
    void recordReload(openBefore, retired);
    logger.info("reloaded{from}", {
      from: loaded.path ? ` from ${loaded.path}` : "",
    });
    // The listeners that run, not those planned: one that failed to
    // start is tried again by the next reload, and so is shown by --diff.
    saveRunningRecord({
      ...generation.config,
      listener: this.#slots.map((slot) => slot.listener),
    }, {
      options: this.#options,
      inherited: this.#inherited,
      configPath: loaded.path,
    });
  }

  /**
   * Turns one reason for `/readyz` to answer 503 on or off: `stopping`
   * (the drain delay and the drain, never off again), `moving` (a reload replaces a
   * listener) or `no worker` (a pooled listener has none ready). Ready
   * means no reason; a change reaches the daemon's state (in-isolate
   * models read it) and each model that keeps its own (pool workers).
   */
  #notReady(reason: NotReady, on: boolean): void {
    const before = this.#unready.size === 0;
    if (on) this.#unready.add(reason);
    else this.#unready.delete(reason);
    const ready = this.#unready.size === 0;
    if (ready === before) return;
    this.#state.ready = ready;
    for (const slot of this.#slots) slot.running.setReady?.(ready);
  }

  /** Readiness follows whether every pooled listener has a worker ready. */
  #checkWorkers(): void {
    if (this.#state.draining) return;
    this.#notReady("no worker", this.#supervision.totals().short.length > 0);
  }

  /** True while a running listener serves `key` (so a probe would find our own socket). */
  #serves(key: string): boolean {
    return this.#slots.some((slot) =>
      addressKey(slot.listener.address) === key
    );
  }

  /** Drains a replaced listener in the background; a stop waits for it too. */
  #retire(slot: Slot, timeoutMs: number): Retired {
    const open = slot.running.stats().connections;
    logger.info("draining the old {protocol} listener on {address} ({model})", {
      protocol: slot.listener.protocol,
      address: addressKey(slot.listener.address),
      model: slot.listener.model,
    });
    const done = slot.running.drain(timeoutMs).catch((error) => {
      logger.error("old listener failed to drain: {error}", {
        error: (error as Error).message,
      });
      return 0;
    });
    this.#retiring.add(done);
    done.finally(() => this.#retiring.delete(done));
    return { open, forced: done };
  }
}

/** A listener a reload replaced: its connections then, and its drain. */
interface Retired {
  open: number;
  /** Resolves to the connections its drain forced. */
  forced: Promise<number>;
}

/** Connections admitted so far, daemon-wide. */
function acceptedTotal(): number {
  let total = 0;
  for (const [key, value] of Object.entries(aggregate().counters)) {
    if (key.startsWith("koan_connections_total")) total += value;
  }
  return total;
}

/**
 * The reload's ledger event, once the listeners it replaced have drained:
 * every connection open when it began is counted; only those a replaced
 * listener forced at its deadline were lost.
 */
async function recordReload(open: number, retired: Retired[]): Promise<void> {
  const forced = await Promise.all(retired.map((r) => r.forced));
  const cut = forced.reduce((n, f) => n + f, 0);
  const drained = retired.reduce((n, r) => n + r.open, 0);
  ledger.record("reload", {
    refused: 0,
    cut,
    undelivered: cut,
    closed: Math.max(0, drained - cut),
    total: Math.max(open, cut),
  }, { reason: retired.length > 0 ? "listeners replaced" : "in place" });
}
