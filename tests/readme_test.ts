/**
 * The README and docs/ render: every table parses as a table (GitHub
 * Flavored Markdown, by marked) with as many cells in each row as in its
 * header, and no table row has run into a paragraph — what happens when a
 * paragraph interrupts a table and a formatter then reflows the rest.
 */
import assert from "node:assert/strict";
import { marked, type Token, type Tokens } from "marked";
import { ROOT_DIR } from "./_helpers.ts";
import { MODEL_NAMES } from "../mod/config/settings.ts";

/** Every block token of `tokens`, depth first (inside lists and quotes too). */
function* walk(tokens: Token[]): Generator<Token> {
  for (const token of tokens) {
    yield token;
    if (token.type === "list") {
      for (const item of (token as Tokens.List).items) yield* walk(item.tokens);
    } else if (token.type === "blockquote") {
      yield* walk((token as Tokens.Blockquote).tokens);
    }
  }
}

/** The 1-based line of `raw` in `text`, for messages. */
function lineOf(text: string, raw: string): number {
  const at = text.indexOf(raw);
  return at < 0 ? 0 : text.slice(0, at).split("\n").length;
}

interface Checked {
  tables: Tokens.Table[];
  problems: string[];
}

/** Parses `text` (from `name`) and lists its tables and every rendering problem. */
function checkText(text: string, name: string): Checked {
  const tables: Tokens.Table[] = [];
  const problems: string[] = [];
  for (const token of walk(marked.lexer(text, { gfm: true }))) {
    if (token.type === "table") {
      const table = token as Tokens.Table;
      tables.push(table);
      const width = table.header.length;
      for (const [index, row] of table.rows.entries()) {
        if (row.length !== width) {
          problems.push(
            `${name}:${lineOf(text, table.raw)}: table row ${
              index + 1
            } has ${row.length} cells, its header ${width}`,
          );
        }
      }
      continue;
    }
    if (token.type === "paragraph" || token.type === "text") {
      // A "|" outside code spans in running text is a table row that lost
      // its table.
      const prose = token.raw.replace(/(`+)[^]*?\1/g, "");
      if (prose.includes("|")) {
        problems.push(
          `${name}:${
            lineOf(text, token.raw)
          }: a table row ran into a paragraph: "${
            token.raw.trim().slice(0, 80).replaceAll("\n", " ")
          }…"`,
        );
      }
    }
  }
  return { tables, problems };
}

function check(path: string): Checked {
  return checkText(Deno.readTextFileSync(path), path.slice(ROOT_DIR.length));
}

function markdownFiles(): string[] {
  const files = [`${ROOT_DIR}README.md`];
  for (const entry of Deno.readDirSync(`${ROOT_DIR}docs`)) {
    if (entry.isFile && entry.name.endsWith(".md")) {
      files.push(`${ROOT_DIR}docs/${entry.name}`);
    }
  }
  return files.sort();
}

Deno.test("README.md and docs/*.md: every table renders as a table, no row runs into a paragraph", () => {
  const problems = markdownFiles().flatMap((path) => check(path).problems);
  assert.deepEqual(problems, []);
});

Deno.test("README.md: the model table has a row for every model and for inetd", () => {
  const { tables } = check(`${ROOT_DIR}README.md`);
  const models = tables.find((table) => table.header[0]?.text === "model");
  assert.ok(models, 'no table headed "model"');
  const names = models.rows.map((row) =>
    row[0]!.text.replace(/`/g, "").replace(" (default)", "")
  );
  assert.deepEqual(names, [...MODEL_NAMES, "inetd"]);
});

Deno.test("the table check finds a row that ran into a paragraph", () => {
  const broken = [
    "| a | b |",
    "| - | - |",
    "| 1 | 2 |",
    "",
    "Some text. | 3 | 4 |",
    "",
  ].join("\n");
  const { tables, problems } = checkText(broken, "broken.md");
  assert.equal(tables.length, 1);
  assert.deepEqual(problems, [
    'broken.md:5: a table row ran into a paragraph: "Some text. | 3 | 4 |…"',
  ]);
});
