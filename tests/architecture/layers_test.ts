import assert from "node:assert/strict";
import {
  buildGraph,
  checkLayers,
  LAYERS,
  scanDeno,
  scanImports,
} from "./layers.ts";

/** A small, clean project: every import points down. */
const CLEAN: Record<string, string> = {
  "main.ts": 'import { main } from "./mod/cli/main.ts";\n',
  "mod/cli/main.ts": 'import { serve } from "../daemon/daemon.ts";\n',
  "mod/daemon/daemon.ts": [
    'import { run } from "../models/registry.ts";',
    'import { log } from "../log/log.ts";',
    "Deno.addSignalListener;",
  ].join("\n"),
  "mod/models/registry.ts": 'import { listen } from "../net/listen.ts";\n',
  "mod/net/listen.ts": 'import { zen } from "../protocols/zen/zen.ts";\n',
  "mod/protocols/zen/zen.ts": [
    "/** Never `Deno.listen` here. */",
    'import { log } from "../../log/log.ts";',
    'import { parse } from "./framer.ts";',
  ].join("\n"),
  "mod/protocols/zen/framer.ts": "export const parse = 1;\n",
  "mod/protocols/zen/zen_test.ts": [
    'import { zen } from "./zen.ts";',
    'import { serve } from "../../daemon/daemon.ts";',
    "Deno.test;",
  ].join("\n"),
  "mod/log/log.ts": "export const log = 1;\n",
};

Deno.test("checkLayers() passes a clean fixture", () => {
  assert.deepEqual(checkLayers(buildGraph(CLEAN), LAYERS), []);
});

Deno.test("checkLayers() names an upward import with its file and line", () => {
  const graph = buildGraph({
    ...CLEAN,
    "mod/log/log.ts": [
      "export const log = 1;",
      "",
      'import { parse } from "../protocols/zen/framer.ts";',
    ].join("\n"),
  });
  assert.deepEqual(checkLayers(graph), [
    "mod/log/log.ts:3 imports mod/protocols/zen/framer.ts: log may not import protocols (a higher layer)",
  ]);
});

Deno.test("checkLayers() rejects an import of a sibling unit", () => {
  const graph = buildGraph({
    ...CLEAN,
    "mod/bench/load.ts": 'import { serve } from "../daemon/daemon.ts";\n',
    "mod/config/load.ts": '\nimport "../log/log.ts";\n',
  });
  assert.deepEqual(checkLayers(graph), [
    "mod/bench/load.ts:1 imports mod/daemon/daemon.ts: bench may not import daemon (a sibling in the same layer)",
    "mod/config/load.ts:2 imports mod/log/log.ts: config may not import log (a sibling in the same layer)",
  ]);
});

Deno.test("checkLayers() reports a cycle once, with its chain of files", () => {
  const graph = buildGraph({
    ...CLEAN,
    "mod/protocols/zen/framer.ts": [
      "export const parse = 1;",
      'import { zen } from "./work.ts";',
    ].join("\n"),
    "mod/protocols/zen/work.ts": 'import { zen } from "./zen.ts";\n',
  });
  assert.deepEqual(checkLayers(graph), [
    "cycle: mod/protocols/zen/framer.ts:2 → mod/protocols/zen/work.ts:1 → mod/protocols/zen/zen.ts:3 → mod/protocols/zen/framer.ts",
  ]);
});

Deno.test("checkLayers() ignores cycles through test files", () => {
  const graph = buildGraph({
    ...CLEAN,
    "mod/protocols/zen/framer.ts": 'import "./zen_test.ts";\n',
  });
  assert.deepEqual(checkLayers(graph), [
    "mod/protocols/zen/framer.ts:1 imports mod/protocols/zen/zen_test.ts: production code may not import a test file",
  ]);
});

Deno.test("checkLayers() rejects files outside a layer folder", () => {
  const graph = buildGraph({
    ...CLEAN,
    "mod/helpers.ts": "export const x = 1;\n",
    "mod/extras/thing.ts": 'import { serve } from "../daemon/daemon.ts";\n',
  });
  assert.deepEqual(checkLayers(graph), [
    "mod/helpers.ts: every module lives in a layer folder",
    "mod/extras/: not in the layer list",
  ]);
});

Deno.test("checkLayers() flags Deno. in protocol code but not in its tests", () => {
  const graph = buildGraph({
    ...CLEAN,
    "mod/protocols/zen/framer.ts": [
      "// Deno.listen belongs to net/",
      "export const parse = 1;",
      "const now = Deno.now; const id = Deno.pid;",
    ].join("\n"),
    "mod/protocols/_fake.ts": "Deno.test;\n",
  });
  assert.deepEqual(checkLayers(graph), [
    "mod/protocols/zen/framer.ts:3 uses Deno.*: protocols must stay pure",
  ]);
});

Deno.test("scanImports() reads multi-line, type and re-export imports", () => {
  const text = [
    "import {",
    "  a,",
    "  b,",
    '} from "./a.ts";',
    'import type { T } from "../util/t.ts";',
    'export { c } from "./c.ts";',
    'export * from "./d.ts";',
    'import "./side.ts";',
    'import { z } from "zod";',
    'import process from "node:process";',
  ].join("\n");
  assert.deepEqual(
    scanImports("mod/net/x.ts", text).map((e) => [e.line, e.target]),
    [
      [4, "mod/net/a.ts"],
      [5, "mod/util/t.ts"],
      [6, "mod/net/c.ts"],
      [7, "mod/net/d.ts"],
      [8, "mod/net/side.ts"],
    ],
  );
});

Deno.test("scanImports() reads dynamic imports and worker URLs", () => {
  const text = [
    'const { g } = await import("../daemon/generation.ts");',
    "const WORKER = new URL(",
    '  "./worker.ts",',
    "  import.meta.url,",
    ");",
    'type M = typeof import("./m.ts");',
    'const data = new URL("./data.json", "https://example.com/");',
  ].join("\n");
  assert.deepEqual(
    scanImports("mod/cli/main.ts", text).map((e) => [e.line, e.target]),
    [[1, "mod/daemon/generation.ts"], [3, "mod/cli/worker.ts"], [
      6,
      "mod/cli/m.ts",
    ]],
  );
});

Deno.test("scanImports() does not count running main.ts as a child process as an import", () => {
  const text = 'const main = new URL("../../main.ts", import.meta.url);';
  assert.deepEqual(scanImports("mod/util/self_command.ts", text), []);
  assert.equal(
    scanImports("mod/util/x.ts", 'import "../../main.ts";')[0]?.target,
    "main.ts",
  );
});

Deno.test("scanImports() ignores imports in comments", () => {
  const text = [
    "/**",
    " * @example Usage",
    " * ```ts",
    ' * import { Backoff } from "./backoff.ts";',
    " * ```",
    " */",
    '// import "./line.ts";',
    'const s = "// not a comment"; import "./real.ts";',
    'const t = `${"/*"}${/`/.source}`; import "./after_template.ts";',
    'const r = /["\'/]/g; import "./after_regex.ts"; /* import "./x.ts" */',
  ].join("\n");
  assert.deepEqual(
    scanImports("mod/a/b.ts", text).map((e) => [e.line, e.specifier]),
    [[8, "./real.ts"], [9, "./after_template.ts"], [
      10,
      "./after_regex.ts",
    ]],
  );
});

Deno.test("scanDeno() finds Deno. outside comments only", () => {
  const text = "/* Deno.exit */\nconst x = Deno.env; // Deno.pid\nmyDeno.x;";
  assert.deepEqual(scanDeno(text), [2]);
});

/** Repo-relative paths of every `.ts` file under `dir`. */
async function walk(root: URL, dir: string): Promise<string[]> {
  const files: string[] = [];
  for await (const entry of Deno.readDir(new URL(dir, root))) {
    const path = `${dir}${entry.name}`;
    if (entry.isDirectory) files.push(...await walk(root, `${path}/`));
    else if (entry.isFile && entry.name.endsWith(".ts")) files.push(path);
  }
  return files;
}

Deno.test("mod/ keeps its layers one-way, without cycles", async () => {
  const root = new URL("../../", import.meta.url);
  const paths = ["main.ts", ...await walk(root, "mod/")].sort();
  const sources: Record<string, string> = {};
  for (const path of paths) {
    sources[path] = await Deno.readTextFile(new URL(path, root));
  }
  assert.ok(paths.length > 50, `only ${paths.length} files found`);
  const problems = checkLayers(buildGraph(sources), LAYERS);
  assert.equal(
    problems.length,
    0,
    `${problems.length} layering violations:\n${problems.join("\n")}`,
  );
});
