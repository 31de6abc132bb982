/**
 * One-way layers for `mod/`, checked the way import-linter and
 * dependency-cruiser do: a scanner turns source text into import edges with
 * line numbers, and a checker turns the graph into violation messages.
 * Both are pure, so `layers_test.ts` can feed them in-memory fixtures.
 *
 * @module
 */

/** Layers from top to bottom; names in one inner list are siblings. */
export type Layers = readonly (readonly string[])[];

/** koan's layer order (DESIGN.md §1): a unit may import only lower layers. */
export const LAYERS: Layers = [
  ["main.ts"],
  ["cli"],
  ["bench", "daemon"],
  ["models"],
  ["net"],
  ["protocols"],
  ["config", "log", "metrics"],
  ["util"],
];

/** One relative import found in a file. */
export interface Edge {
  /** The specifier as written, e.g. `"../log/log.ts"`. */
  specifier: string;
  /** Repo-relative path the specifier resolves to, e.g. `"mod/log/log.ts"`. */
  target: string;
  /** 1-based line of the specifier. */
  line: number;
}

/** What the checker needs to know about one file. */
export interface ModuleNode {
  /** Relative imports, in line order. */
  imports: Edge[];
  /** Lines that use `Deno.` outside comments. */
  denoLines: number[];
}

/** Repo-relative path (`"mod/net/listen.ts"`, `"main.ts"`) → its node. */
export type Graph = Map<string, ModuleNode>;

const PATTERNS = [
  // import x from, import type, import { a,\n b } from, export ... from
  /\b(?:import|export)\s[^;"'`()=]*?\bfrom\s*(["'])([^"'\n]+)\1/g,
  /\bimport\s*(["'])([^"'\n]+)\1/g, // import "x" (side effects)
  /\bimport\s*\(\s*(["'])([^"'\n]+)\1/g, // import("x"), typeof import("x")
  /\bnew\s+URL\s*\(\s*(["'])([^"'\n]+)\1\s*,\s*import\.meta\.url\s*,?\s*\)/g,
];

/**
 * Relative imports of the file at `path` (repo-relative), with the line of
 * each specifier. Comments are ignored; bare, `npm:` and `node:` are skipped.
 *
 * @example Usage
 * ```ts
 * const [edge] = scanImports("mod/net/a.ts", 'import { b } from "../util/b.ts";');
 * if (edge?.target !== "mod/util/b.ts" || edge.line !== 1) throw new Error();
 * ```
 */
export function scanImports(path: string, text: string): Edge[] {
  const code = stripComments(text);
  const edges: Edge[] = [];
  for (const pattern of PATTERNS) {
    for (const match of code.matchAll(pattern)) {
      const specifier = match[2]!;
      if (!specifier.startsWith("./") && !specifier.startsWith("../")) continue;
      const at = match.index + match[0].lastIndexOf(specifier);
      const target = new URL(specifier, `file:///${path}`).pathname.slice(1);
      // Running the program's entry again as a child process (self_command)
      // starts a new program; it is not an import of it.
      if (target === "main.ts" && match[0].startsWith("new")) continue;
      edges.push({ specifier, target, line: lineAt(code, at) });
    }
  }
  return edges.sort((a, b) => a.line - b.line);
}

/** Lines of `text` that use `Deno.` outside comments. */
export function scanDeno(text: string): number[] {
  const code = stripComments(text);
  const lines = [...code.matchAll(/(?<![\w$.])Deno\./g)]
    .map((match) => lineAt(code, match.index));
  return [...new Set(lines)];
}

/** Builds a {@linkcode Graph} from repo-relative paths and source texts. */
export function buildGraph(sources: Record<string, string>): Graph {
  return new Map(
    Object.entries(sources).map(([path, text]) => [
      path,
      { imports: scanImports(path, text), denoLines: scanDeno(text) },
    ]),
  );
}

/**
 * Every layering violation in `graph`, one message per problem: imports of
 * a higher or sibling unit, production imports of test files, import cycles,
 * files outside a layer folder, and `Deno.` in protocol code.
 *
 * @example Usage
 * ```ts
 * const graph = buildGraph({
 *   "mod/log/log.ts": 'import "../daemon/daemon.ts";',
 *   "mod/daemon/daemon.ts": "",
 * });
 * if (checkLayers(graph).length !== 1) throw new Error("upward import");
 * ```
 */
export function checkLayers(graph: Graph, layers: Layers = LAYERS): string[] {
  const rank = new Map(layers.flatMap((names, i) => names.map((n) => [n, i])));
  const problems: string[] = [];
  const strays = new Set<string>();
  for (const [path, node] of graph) {
    const unit = unitOf(path);
    if (unit === undefined) {
      problems.push(`${path}: every module lives in a layer folder`);
      continue;
    }
    const level = rank.get(unit);
    if (level === undefined) {
      strays.add(path.startsWith("mod/") ? `mod/${unit}/` : unit);
      continue;
    }
    if (isExempt(path)) continue;
    if (unit === "protocols") {
      for (const line of node.denoLines) {
        problems.push(`${path}:${line} uses Deno.*: protocols must stay pure`);
      }
    }
    for (const { target, line } of node.imports) {
      if (!graph.has(target)) continue;
      const where = `${path}:${line} imports ${target}`;
      if (target.endsWith("_test.ts")) {
        problems.push(`${where}: production code may not import a test file`);
      }
      const other = unitOf(target);
      const otherLevel = rank.get(other ?? "");
      if (other === unit || otherLevel === undefined || otherLevel > level) {
        continue;
      }
      const why = otherLevel === level
        ? "a sibling in the same layer"
        : "a higher layer";
      problems.push(`${where}: ${unit} may not import ${other} (${why})`);
    }
  }
  for (const stray of strays) {
    problems.push(`${stray}: not in the layer list`);
  }
  return [...problems, ...findCycles(graph)];
}

/** The unit of a path: its folder under `mod/`, or the path itself. */
function unitOf(path: string): string | undefined {
  if (!path.startsWith("mod/")) return path;
  const parts = path.split("/");
  return parts.length > 2 ? parts[1] : undefined;
}

/** Tests and `_` scaffolding may import anything. */
function isExempt(path: string): boolean {
  const name = path.slice(path.lastIndexOf("/") + 1);
  return name.startsWith("_") || name.endsWith("_test.ts");
}

/**
 * The shortest cycle through each file, each distinct cycle reported once,
 * as `a.ts:LINE → b.ts:LINE → a.ts` (LINE: the import of the next file).
 */
function findCycles(graph: Graph): string[] {
  const found = new Map<string, string>();
  for (const start of [...graph.keys()].sort()) {
    if (isExempt(start)) continue;
    const prev = new Map<string, [string, number]>();
    const queue = [start];
    search: for (const node of queue) {
      if (isExempt(node)) continue;
      for (const { target, line } of graph.get(node)?.imports ?? []) {
        if (target === start) {
          const steps: [string, number][] = [[node, line]];
          for (let at = node; at !== start;) {
            const step = prev.get(at)!;
            steps.unshift(step);
            at = step[0];
          }
          const first = steps.indexOf(
            steps.reduce((a, b) => (b[0] < a[0] ? b : a)),
          );
          const ring = [...steps.slice(first), ...steps.slice(0, first)];
          const key = ring.map(([file]) => file).join(" ");
          const chain = ring.map(([file, l]) => `${file}:${l}`).join(" → ");
          found.set(key, `cycle: ${chain} → ${ring[0]![0]}`);
          break search;
        }
        if (graph.has(target) && !prev.has(target)) {
          prev.set(target, [node, line]);
          queue.push(target);
        }
      }
    }
  }
  return [...found.values()];
}

/** `text` with every comment blanked out; strings and line breaks stay. */
function stripComments(text: string): string {
  const out = text.split("");
  const blank = (from: number, to: number) => {
    for (let k = from; k < to; k++) if (out[k] !== "\n") out[k] = " ";
    return to;
  };
  const holes: number[] = []; // brace depth at each open `${`
  let depth = 0;
  let prev = ""; // last code character, to tell a regex from a division
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    const pair = text.slice(i, i + 2);
    if (pair === "//") {
      const end = text.indexOf("\n", i);
      i = blank(i, end < 0 ? text.length : end);
    } else if (pair === "/*") {
      const end = text.indexOf("*/", i + 2);
      i = blank(i, end < 0 ? text.length : end + 2);
    } else if (
      c === '"' || c === "'" ||
      (c === "/" && /^$|[-(,=:[!&|?{};+*%<>~^]/.test(prev))
    ) {
      i = skipLiteral(text, i);
      prev = c;
    } else if (c === "`" || (c === "}" && holes.at(-1) === depth)) {
      if (c === "}") holes.pop();
      for (i++; i < text.length && text[i] !== "`"; i++) {
        if (text[i] === "\\") i++;
        else if (text.startsWith("${", i)) break;
      }
      if (text[i] === "$") holes.push(depth);
      i += text[i] === "$" ? 2 : 1;
      prev = text[i - 1]!; // "{" inside a hole, "`" after the template
    } else {
      if (c === "{") depth++;
      if (c === "}") depth--;
      if (!/\s/.test(c)) prev = c;
      i++;
    }
  }
  return out.join("");
}

/** Index just past the string or regex literal that opens at `start`. */
function skipLiteral(text: string, start: number): number {
  const quote = text[start];
  let inClass = false;
  for (let i = start + 1; i < text.length; i++) {
    const c = text[i];
    if (c === "\\") i++;
    else if (c === "\n") return i;
    else if (quote === "/" && (c === "[" || c === "]")) inClass = c === "[";
    else if (c === quote && !inClass) return i + 1;
  }
  return text.length;
}

/** 1-based line number of `index` in `text`. */
function lineAt(text: string, index: number): number {
  let line = 1;
  for (
    let i = text.indexOf("\n");
    i >= 0 && i < index;
    i = text.indexOf("\n", i + 1)
  ) line++;
  return line;
}
