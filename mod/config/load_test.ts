import assert from "node:assert/strict";
import * as v from "valibot";
import {
  buildConfig,
  buildConfigWith,
  ConfigError,
  parseConfigText,
} from "./load.ts";
import { LISTENER, SECTIONS, type Setting } from "./settings.ts";

Deno.test("buildConfig() gives DESIGN defaults with no file", async () => {
  const { config } = await buildConfig({});
  assert.equal(config.listener[0]?.protocol, "zen");
  assert.equal(config.listener[0]?.address, "127.0.0.1:1060");
  assert.equal(config.listener[0]?.model, "async");
  assert.equal(config.zen.max_question, 1024);
  assert.equal(config.http.max_body, 1048576);
  assert.equal(config.limits.max_connections, 10000);
  assert.equal(config.log.format, "text");
});

Deno.test("buildConfig() reads listeners, each with its own model", async () => {
  const { config } = await buildConfig({
    listener: [
      { protocol: "zen", address: ":1060", model: "threads", workers: 3 },
      { protocol: "echo", address: "[::1]:7" },
    ],
  });
  assert.equal(config.listener.length, 2);
  assert.equal(config.listener[0]?.workers, 3);
  assert.equal(config.listener[1]?.model, "async");
  assert.equal(config.listener[1]?.address, "[::1]:7");
});

Deno.test("buildConfig() rejects unknown keys, bad enums and ports with the key path", async () => {
  const cases: [unknown, RegExp][] = [
    [{ zen: { max_questoin: 5 } }, /^zen\.max_questoin: unknown key$/],
    [{ nope: {} }, /^nope: unknown section$/],
    [
      { listener: [{ model: "fibers" }] },
      /^listener\[0\]\.model: must be one of/,
    ],
    [
      { listener: [{ address: "x:70000" }] },
      /^listener\[0\]\.address: port 70000/,
    ],
    [{ listener: [{ address: "x:0" }] }, /^listener\[0\]\.address: port 0/],
    [{ listener: [{ colour: "red" }] }, /^listener\[0\]\.colour: unknown key$/],
    [
      { zen: { max_question: "big" } },
      /^zen\.max_question: must be a number \(got "big"\)$/,
    ],
    [
      { zen: { idle_timeout: 0 } },
      /^zen\.idle_timeout: must be more than 0 seconds/,
    ],
    [{ log: { access: "yes" } }, /^log\.access: must be true or false/],
    [{ listener: {} }, /^listener: must be written as \[\[listener\]\]/],
    [{ listener: [] }, /^listener: at least one listener/],
  ];
  for (const [raw, pattern] of cases) {
    await assert.rejects(() => buildConfig(raw), (error: Error) => {
      assert.ok(error instanceof ConfigError, String(error));
      assert.match(error.message, pattern);
      return true;
    });
  }
});

Deno.test("buildConfig() applies flags over the file, coercing text", async () => {
  const { config } = await buildConfig(
    { http: { docroot: "/a" }, listener: [{ protocol: "zen" }] },
    {
      listeners: [{ protocol: "echo", address: "127.0.0.1:9" }],
      model: "iterative",
      values: { "http.docroot": "/b", "log.level": "debug" },
    },
  );
  assert.equal(config.listener.length, 1);
  assert.equal(config.listener[0]?.protocol, "echo");
  assert.equal(config.listener[0]?.model, "iterative");
  assert.equal(config.http.docroot, "/b");
  assert.equal(config.log.level, "debug");
  await assert.rejects(
    () => buildConfig({}, { workers: "many" }),
    /ConfigError: --workers: must be a number/,
  );
});

Deno.test("buildConfig() notes settings that do not apply to the model", async () => {
  const { notes, config } = await buildConfig({
    listener: [{ protocol: "zen", model: "async", workers: 4 }],
  });
  assert.equal(notes.length, 1);
  assert.match(
    notes[0]!,
    /listener\[0\]\.workers does not apply to model "async"/,
  );
  assert.ok(config.listener[0]!.workers >= 1);
});

Deno.test("parseConfigText() reports TOML syntax errors with line and column", async () => {
  await assert.rejects(
    () => parseConfigText("[zen]\nmax_question = = 3\n", "k.toml"),
    /ConfigError: k\.toml:2:\d+: /,
  );
});

Deno.test("every default passes its own schema (buildConfig() trusts defaults unchecked)", () => {
  const all: [string, Setting][] = [
    ...Object.entries(LISTENER).map(([name, s]) => [`listener.${name}`, s]),
    ...Object.entries(SECTIONS).flatMap(([section, settings]) =>
      Object.entries(settings).map(([name, s]) => [`${section}.${name}`, s])
    ),
  ] as [string, Setting][];
  assert.ok(all.length > 30);
  for (const [key, setting] of all) {
    const result = v.safeParse(setting.schema(v), setting.default);
    assert.ok(result.success, `${key}: default ${setting.default} is invalid`);
  }
});

Deno.test("buildConfig() reads only the sections asked for, and no listeners when told", async () => {
  const raw = {
    daemon: { pid_fiel: "typo" }, // not read: not judged
    elsewhere: { any: 1 },
    listener: [{ model: "fibers" }],
    zen: { max_question: 64 },
  };
  const { config } = await buildConfig(raw, {}, {
    sections: ["zen", "log"],
    listeners: false,
  });
  assert.equal(config.zen.max_question, 64);
  assert.deepEqual(config.listener, []);
  assert.equal(config.daemon.pid_file, "");
  await assert.rejects(
    () =>
      buildConfig({ zen: { max_question: 1 } }, {}, {
        sections: ["zen"],
        listeners: false,
      }),
    /zen\.max_question: must be at least 2 bytes/,
  );
  // The whole file is still judged by default (koan serve, check-config).
  await assert.rejects(() => buildConfig(raw), /daemon\.pid_fiel: unknown key/);
});

Deno.test("buildConfigWith() without valibot refuses values it would have to check", () => {
  assert.equal(buildConfigWith(undefined, {}).config.zen.max_question, 1024);
  assert.throws(
    () => buildConfigWith(undefined, { zen: { max_question: 64 } }),
    /needs valibot/,
  );
});
