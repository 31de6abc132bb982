import assert from "node:assert/strict";
import { resetSync } from "@logtape/logtape";
import { configOf } from "../config/_testing.ts";
import type { ModelName } from "../config/settings.ts";
import { setupLogging } from "../log/log.ts";
import { metrics } from "../metrics/registry.ts";
import type {
  Generation,
  ListenerStats,
  Model,
  ModelContext,
  RunningListener,
} from "../models/contract.ts";
import { freePort } from "../net/free_port.ts";
import { Daemon, type DaemonOptions, EXIT } from "./daemon.ts";
import { SignalQueue } from "./signals.ts";

// Signals reach the daemon through an injected SignalQueue (the daemon's
// `signals` option), so no real signal is sent to the test process.

/** Awaits `promise`, failing after `ms`; the timer also keeps the event loop alive while a signal travels. */
async function within<T>(promise: Promise<T>, ms = 2000): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) =>
    timer = setTimeout(() => reject(new Error(`Not settled in ${ms} ms`)), ms)
  );
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** Waits until `check()` holds, failing after `ms`. */
async function until(check: () => boolean, ms = 2000): Promise<void> {
  const deadline = performance.now() + ms;
  while (!check()) {
    if (performance.now() > deadline) {
      throw new Error(`Condition not met in ${ms} ms`);
    }
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
}

/** A running listener that records what the daemon asks of it. */
interface Fake {
  running: RunningListener;
  context: ModelContext;
  calls: string[];
  generations: Generation[];
  /** Resolves when `drain()` is first called. */
  drainCalled: Promise<void>;
}

interface FakeShape {
  reopen?: boolean;
  scale?: boolean;
  /** What `drain()` returns. @default {Promise.resolve(0)} */
  drain?: () => Promise<number>;
}

/**
 * A model that serves nothing: each `start()` takes the next shape from
 * `shapes` and records the listener it returns in `started`.
 */
function fakeModel(name: ModelName, shapes: FakeShape[], started: Fake[]) {
  const model: Model = {
    name,
    start(context) {
      const shape = shapes.shift() ?? {};
      const calls: string[] = [];
      const generations: Generation[] = [];
      let markDrain!: () => void;
      const drainCalled = new Promise<void>((resolve) => markDrain = resolve);
      const running: RunningListener = {
        stats: (): ListenerStats => ({ connections: 0, workers: 1 }),
        update(generation) {
          calls.push("update");
          generations.push(generation);
          return Promise.resolve();
        },
        drain(timeoutMs) {
          calls.push(`drain ${timeoutMs}`);
          markDrain();
          return shape.drain?.() ?? Promise.resolve(0);
        },
      };
      if (shape.reopen) running.reopen = () => void calls.push("reopen");
      if (shape.scale) {
        running.scale = (delta) => {
          calls.push(`scale ${delta}`);
          return Promise.resolve();
        };
      }
      started.push({ running, context, calls, generations, drainCalled });
      return Promise.resolve(running);
    },
  };
  return model;
}

/** What a test injects into {@linkcode Daemon.start}. */
type Seam = Required<Pick<DaemonOptions, "models" | "signals" | "env">>;

/**
 * Runs `body` with every model served by a fake (through the daemon's
 * `models` option), a signal queue the test pushes into instead of real
 * signals, and an empty environment (no systemd variables).
 */
async function withFakeAsync(
  shapes: FakeShape[],
  body: (started: Fake[], seam: Seam) => Promise<void>,
): Promise<void> {
  const started: Fake[] = [];
  const fake = fakeModel("async", shapes, started);
  const signals = new SignalQueue();
  try {
    await body(started, { models: () => fake, signals, env: () => undefined });
  } finally {
    signals.close();
  }
}

/** A config with `count` listeners of model `async`, on free ports. */
function configWith(count: number, raw: Record<string, unknown> = {}) {
  return configOf({
    ...raw,
    listener: Array.from({ length: count }, () => ({
      protocol: "zen",
      address: `127.0.0.1:${freePort()}`,
      model: "async",
    })),
  });
}

function counter(key: string): number {
  return metrics.snapshot().counters[key] ?? 0;
}

Deno.test("Daemon.run() drains every listener on SIGTERM and resolves 0", async () => {
  await withFakeAsync([{}, {}], async (started, seam) => {
    const daemon = await Daemon.start(
      configWith(2, { limits: { shutdown_timeout: 7 } }),
      seam,
    );
    const run = daemon.run();
    seam.signals.push("SIGTERM");
    assert.equal(await within(run), EXIT.ok);
    assert.equal(started.length, 2);
    for (const fake of started) {
      assert.deepEqual(fake.calls, ["drain 7000"]);
      assert.equal(fake.context.state.draining, true);
    }
  });
});

Deno.test("Daemon.run() stops at once on a second stop signal while draining", async () => {
  // A drain that never finishes: only the second signal can end run().
  const stuck = () => new Promise<number>(() => {});
  await withFakeAsync([{ drain: stuck }], async (started, seam) => {
    const daemon = await Daemon.start(
      configWith(1, { limits: { shutdown_timeout: 30 } }),
      seam,
    );
    const run = daemon.run();
    seam.signals.push("SIGTERM");
    await within(started[0]!.drainCalled);
    // Not SIGINT: `deno test` takes that one as "cancel the run".
    seam.signals.push("SIGQUIT");
    assert.equal(await within(run), EXIT.ok);
    assert.deepEqual(started[0]!.calls, ["drain 30000"]);
  });
});

Deno.test("Daemon.run() still reopens logs on SIGUSR2 while draining", async () => {
  const stuck = () => new Promise<number>(() => {});
  await withFakeAsync(
    [{ drain: stuck, reopen: true }],
    async (started, seam) => {
      const daemon = await Daemon.start(configWith(1), seam);
      const run = daemon.run();
      const fake = started[0]!;
      seam.signals.push("SIGTERM");
      await within(fake.drainCalled);
      seam.signals.push("SIGUSR2");
      await until(() => fake.calls.includes("reopen"));
      seam.signals.push("SIGTERM");
      assert.equal(await within(run), EXIT.ok);
      assert.deepEqual(fake.calls, ["drain 30000", "reopen"]);
    },
  );
});

Deno.test("Daemon.run() keeps running when SIGHUP brings an invalid config", async () => {
  const path = await Deno.makeTempFile({ suffix: ".toml" });
  try {
    await Deno.writeTextFile(path, "[limits\nshutdown_timeout = 1\n");
    await withFakeAsync([{}], async (started, seam) => {
      const refused = 'koan_reloads_total{result="refused"}';
      const before = counter(refused);
      const options: DaemonOptions = { ...seam, path };
      const daemon = await Daemon.start(
        configWith(1, { limits: { shutdown_timeout: 5 } }),
        options,
      );
      const run = daemon.run();
      seam.signals.push("SIGHUP");
      await until(() => counter(refused) === before + 1);
      // Not updated, not replaced: the running listener and config stay.
      assert.deepEqual(started[0]!.calls, []);
      seam.signals.push("SIGTERM");
      assert.equal(await within(run), EXIT.ok);
      assert.equal(started.length, 1);
      assert.deepEqual(started[0]!.calls, ["drain 5000"]);
    });
  } finally {
    await Deno.remove(path);
  }
});

Deno.test("Daemon.run() applies a valid SIGHUP config to an unchanged listener in place", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const loaded = configWith(1, { limits: { shutdown_timeout: 5 } });
    const listener = loaded.config.listener[0]!;
    const path = `${dir}/koan.toml`;
    const logFile = `${dir}/koan.log`;
    await Deno.writeTextFile(
      path,
      [
        "[limits]",
        "shutdown_timeout = 9",
        "[log]",
        `file = "${logFile}"`,
        "[[listener]]",
        `protocol = "${listener.protocol}"`,
        `address = "${listener.address}"`,
        `model = "${listener.model}"`,
        "",
      ].join("\n"),
    );
    await withFakeAsync([{}], async (started, seam) => {
      const ok = 'koan_reloads_total{result="ok"}';
      const before = counter(ok);
      const daemon = await Daemon.start(loaded, { ...seam, path });
      const run = daemon.run();
      seam.signals.push("SIGHUP");
      await until(() => counter(ok) === before + 1);
      const fake = started[0]!;
      assert.equal(started.length, 1);
      assert.deepEqual(fake.calls, ["update"]);
      assert.equal(fake.generations[0]!.config.limits.shutdown_timeout, 9);
      seam.signals.push("SIGTERM");
      assert.equal(await within(run), EXIT.ok);
      // The stop uses the reloaded shutdown_timeout.
      assert.deepEqual(fake.calls, ["update", "drain 9000"]);
      // From the reload on, lines go to the new config's log file.
      const text = await Deno.readTextFile(logFile);
      const tag = `INFO  [master ${Deno.pid}] koan.daemon:`;
      assert.deepEqual(
        text.split("\n").map((line) =>
          line.slice("2000-01-01T00:00:00.000Z ".length)
            .replace(/\d\d:\d\d:\d\d —/, "HH:MM:SS —")
        ),
        [
          `${tag} reloaded from ${path}`,
          `${tag} ledger: reload HH:MM:SS — 0 lost of 0 (0 refused, 0 cut, 0 answers not delivered, 0 closed normally) reason in place`,
          `${tag} SIGTERM: draining, up to 9 s`,
          `${tag} ledger: stop HH:MM:SS — 0 lost of 0 (0 refused, 0 cut, 0 answers not delivered, 0 closed normally) reason SIGTERM`,
          `${tag} stopped`,
          "",
        ],
      );
    });
  } finally {
    // The reload configured logging for this isolate; undo it.
    setupLogging({ level: "info", format: "text", file: "", access: true });
    resetSync();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("Daemon.run() calls reopen() on SIGUSR2 on every running listener that has one", async () => {
  await withFakeAsync(
    [{ reopen: true }, {}, { reopen: true }],
    async (started, seam) => {
      const daemon = await Daemon.start(configWith(3), seam);
      const run = daemon.run();
      seam.signals.push("SIGUSR2");
      await until(() =>
        started[0]!.calls.includes("reopen") &&
        started[2]!.calls.includes("reopen")
      );
      seam.signals.push("SIGTERM");
      assert.equal(await within(run), EXIT.ok);
      assert.deepEqual(started.map((fake) => fake.calls), [
        ["reopen", "drain 30000"],
        ["drain 30000"],
        ["reopen", "drain 30000"],
      ]);
    },
  );
});

Deno.test("Daemon.run() scales pooled listeners by one on SIGTTIN and SIGTTOU", async () => {
  await withFakeAsync([{ scale: true }, {}], async (started, seam) => {
    const daemon = await Daemon.start(configWith(2), seam);
    const run = daemon.run();
    const pooled = started[0]!;
    seam.signals.push("SIGTTIN");
    await until(() => pooled.calls.length === 1);
    seam.signals.push("SIGTTOU");
    await until(() => pooled.calls.length === 2);
    seam.signals.push("SIGTERM");
    assert.equal(await within(run), EXIT.ok);
    assert.deepEqual(pooled.calls, ["scale 1", "scale -1", "drain 30000"]);
    assert.deepEqual(started[1]!.calls, ["drain 30000"]);
  });
});

Deno.test("Daemon.run() drains and resolves 3 when a model reports a crash loop", async () => {
  await withFakeAsync([{}, {}], async (started, seam) => {
    const daemon = await Daemon.start(configWith(2), seam);
    const run = daemon.run();
    started[1]!.context.onFatal!("workers keep dying at boot");
    assert.equal(await within(run), EXIT.workerBoot);
    assert.deepEqual(started.map((fake) => fake.calls), [
      ["drain 30000"],
      ["drain 30000"],
    ]);
  });
});

Deno.test("Daemon.start() replaces a symlink at the pid path (0644), never writing through it", async () => {
  const dir = await Deno.makeTempDir();
  const previous = Deno.umask(0);
  try {
    const pidFile = `${dir}/koan.pid`;
    await Deno.writeTextFile(`${dir}/victim`, "precious\n");
    await Deno.symlink(`${dir}/victim`, pidFile);
    await withFakeAsync([{}], async (_started, seam) => {
      const daemon = await Daemon.start(
        configWith(1, { daemon: { pid_file: pidFile } }),
        seam,
      );
      const info = await Deno.lstat(pidFile);
      assert.ok(info.isFile);
      assert.equal(info.mode! & 0o777, 0o644);
      assert.equal(await Deno.readTextFile(pidFile), `${Deno.pid}\n`);
      assert.equal(await Deno.readTextFile(`${dir}/victim`), "precious\n");
      const run = daemon.run();
      seam.signals.push("SIGTERM");
      assert.equal(await within(run), EXIT.ok);
    });
  } finally {
    Deno.umask(previous);
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("Daemon.run() leaves a pid file that holds another pid by the exit", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const pidFile = `${dir}/koan.pid`;
    await withFakeAsync([{}], async (_started, seam) => {
      const daemon = await Daemon.start(
        configWith(1, { daemon: { pid_file: pidFile } }),
        seam,
      );
      // Another koan started on the same pid file meanwhile.
      await Deno.writeTextFile(pidFile, "999999\n");
      const run = daemon.run();
      seam.signals.push("SIGTERM");
      assert.equal(await within(run), EXIT.ok);
      assert.equal(await Deno.readTextFile(pidFile), "999999\n");
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("Daemon.start() writes the pid file and run() removes it", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const pidFile = `${dir}/koan.pid`;
    await withFakeAsync([{}], async (_started, seam) => {
      const daemon = await Daemon.start(
        configWith(1, { daemon: { pid_file: pidFile } }),
        seam,
      );
      assert.equal(await Deno.readTextFile(pidFile), `${Deno.pid}\n`);
      const run = daemon.run();
      seam.signals.push("SIGTERM");
      assert.equal(await within(run), EXIT.ok);
      await assert.rejects(Deno.stat(pidFile), Deno.errors.NotFound);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
