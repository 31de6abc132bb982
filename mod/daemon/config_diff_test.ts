import assert from "node:assert/strict";
import { configOf } from "../config/_testing.ts";
import type { Config } from "../config/settings.ts";
import { diffConfigs, formatConfigDiff, hasChanges } from "./config_diff.ts";

const ZEN = { protocol: "zen", address: "127.0.0.1:1060", workers: 1 };
const HTTP = {
  protocol: "http",
  address: ":8080",
  model: "threads",
  workers: 2,
};
const ECHO = { protocol: "echo", address: "127.0.0.1:7007" };

function config(raw: Record<string, unknown>): Config {
  return configOf(raw).config;
}

/** The lines a reload from `before` to `after` prints. */
function lines(
  before: Record<string, unknown>,
  after: Record<string, unknown>,
): string[] {
  return formatConfigDiff(diffConfigs(config(before), config(after)));
}

Deno.test("formatConfigDiff() says no changes for the same config, listeners reordered or not", () => {
  const running = config({ listener: [ZEN, HTTP] });
  for (const next of [[ZEN, HTTP], [HTTP, ZEN]]) {
    const diff = diffConfigs(running, config({ listener: next }));
    assert.equal(hasChanges(diff), false);
    assert.deepEqual(formatConfigDiff(diff), ["no changes"]);
    assert.equal(diff.inPlace.length, 2, "both kept in place");
  }
});

Deno.test("diffConfigs() finds a model change at the same address: moved, its workers restart", () => {
  assert.deepEqual(
    lines({ listener: [ZEN, HTTP] }, {
      listener: [{ ...ZEN, model: "threads", workers: 4 }, HTTP],
    }),
    [
      'listener zen 127.0.0.1:1060: moved, model "async" → "threads", workers 1 → 4',
      "workers restart: zen 127.0.0.1:1060 (threads, 4 workers): the listener is replaced, the old one drains",
      "workers kept: http 0.0.0.0:8080 (threads, 2 workers): updated in place",
    ],
  );
});

Deno.test("diffConfigs() finds other listener keys changed: the listener is replaced all the same", () => {
  const diff = diffConfigs(
    config({ listener: [HTTP] }),
    config({
      listener: [{ ...HTTP, workers: 3, concurrency: 1 }],
    }),
  );
  assert.equal(diff.listeners[0]?.kind, "changed");
  assert.deepEqual(diff.listeners[0]?.changes, [
    { key: "workers", before: 2, after: 3 },
    { key: "concurrency", before: 0, after: 1 },
  ]);
  assert.deepEqual(formatConfigDiff(diff), [
    "listener http 0.0.0.0:8080: changed, workers 2 → 3, concurrency 0 → 1",
    "workers restart: http 0.0.0.0:8080 (threads, 3 workers): the listener is replaced, the old one drains",
  ]);
});

Deno.test("diffConfigs() matches addresses as the listen table does (`:8080` is 0.0.0.0:8080)", () => {
  const diff = diffConfigs(
    config({ listener: [HTTP] }),
    config({ listener: [{ ...HTTP, address: "0.0.0.0:8080" }] }),
  );
  assert.equal(diff.listeners[0]?.kind, "changed");
  assert.deepEqual(diff.listeners[0]?.changes, [
    { key: "address", before: ":8080", after: "0.0.0.0:8080" },
  ]);
});

Deno.test("diffConfigs() shows a list as it is written", () => {
  assert.deepEqual(
    lines({ listener: [ZEN] }, {
      listener: [{ ...ZEN, trusted_proxies: ["10.0.0.0/8"] }],
    })[0],
    'listener zen 127.0.0.1:1060: changed, trusted_proxies [] → ["10.0.0.0/8"]',
  );
});

Deno.test("diffConfigs() lists a protocol change at the same address as changed", () => {
  assert.deepEqual(
    lines({ listener: [ZEN] }, { listener: [{ ...ZEN, protocol: "echo" }] })[0],
    'listener echo 127.0.0.1:1060: changed, protocol "zen" → "echo"',
  );
});

Deno.test("diffConfigs() lists added listeners in config order, then removed ones", () => {
  assert.deepEqual(
    lines({ listener: [ZEN, HTTP] }, { listener: [ECHO, ZEN] }),
    [
      "listener echo 127.0.0.1:7007: added (async)",
      "listener http 0.0.0.0:8080: removed (threads, 2 workers; it drains)",
      "workers kept: zen 127.0.0.1:1060 (async): updated in place",
    ],
  );
});

Deno.test("diffConfigs() flattens settings to dotted keys, in config order, strings quoted", () => {
  assert.deepEqual(
    lines({ listener: [ZEN], limits: { max_connections: 1000 } }, {
      listener: [ZEN],
      log: { level: "debug" },
      limits: { max_connections: 2000 },
      zen: { aphorisms: "" },
    }),
    [
      "limits.max_connections: 1000 → 2000",
      'log.level: "info" → "debug"',
      "workers kept: zen 127.0.0.1:1060 (async): updated in place",
    ],
  );
});

Deno.test("formatConfigDiff() says a reload does not move the pid file", () => {
  assert.deepEqual(
    lines({ daemon: { pid_file: "/run/a.pid" } }, {
      daemon: { pid_file: "/run/b.pid" },
    }).filter((line) => line.startsWith("daemon.")),
    [
      'daemon.pid_file: "/run/a.pid" → "/run/b.pid" (not applied by a reload: the pid file stays where it is until a restart)',
    ],
  );
});

Deno.test("diffConfigs() shows keys one side lacks (a record of another koan version) as (none)", () => {
  const running = config({ listener: [ZEN] });
  const next = structuredClone(running) as Config & { zen: { extra?: number } };
  next.zen.extra = 5;
  delete (running.limits as Partial<Config["limits"]>).max_per_source;
  delete (next.http as Partial<Config["http"]>).max_body;
  assert.deepEqual(formatConfigDiff(diffConfigs(running, next)), [
    "zen.extra: (none) → 5",
    "limits.max_per_source: (none) → 0",
    "http.max_body: 1048576 → (none)",
    "workers kept: zen 127.0.0.1:1060 (async): updated in place",
  ]);
});
