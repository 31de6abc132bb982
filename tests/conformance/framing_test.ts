/**
 * The framing table (framing_cases.ts) against every model, over real
 * sockets: each row with a valid request pipelined behind it in the same
 * write, which must go unanswered when the row closes the connection. The
 * rows also run against a real nginx (`return 200` for everything) where
 * it is installed, and the rows where nginx answers otherwise must be
 * exactly the documented ones.
 */
import assert from "node:assert/strict";
import { spawnDaemon } from "../../mod/bench/spawn_daemon.ts";
import { bytesOf } from "../http_corpus/cases.ts";
import { parseResponses } from "../http_corpus/wire.ts";
import { freePort, ROOT_DIR } from "../_helpers.ts";
import {
  FRAMING_CASES,
  type FramingCase,
  NGINX_DISAGREES,
  SECOND_REQUEST,
} from "./framing_cases.ts";
import { MODELS_UNDER_TEST, startModelDaemon } from "./models.ts";
import { nginxConf } from "../service/_service.ts";

/** Where Debian installs nginx. */
const NGINX = "/usr/sbin/nginx";

/** Longest wait for a server to answer or close. */
const READ_MS = 5_000;

/** What a server did with a row and the request behind it. */
interface Outcome {
  /** Statuses of the final responses, in order. */
  statuses: number[];
  /** The server closed the connection. */
  closed: boolean;
}

function latin1(bytes: Uint8Array): string {
  let text = "";
  for (const byte of bytes) text += String.fromCharCode(byte);
  return text;
}

/**
 * Sends `row` and {@linkcode SECOND_REQUEST} in one write; reads until two
 * responses are in, the server closes, or {@linkcode READ_MS} passes.
 */
async function exchange(port: number, row: FramingCase): Promise<Outcome> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    conn.close();
  }, READ_MS);
  const buffer = new Uint8Array(64 * 1024);
  let text = "";
  let closed = false;
  try {
    const bytes = bytesOf(row.request + SECOND_REQUEST);
    try {
      for (let at = 0; at < bytes.length;) {
        at += await conn.write(bytes.subarray(at));
      }
    } catch (error) {
      // The server refused early and reset the connection: read what it said.
      if (
        !(error instanceof Deno.errors.BrokenPipe ||
          error instanceof Deno.errors.ConnectionReset)
      ) throw error;
    }
    while (parseResponses(text).responses.length < 2) {
      let n: number | null;
      try {
        n = await conn.read(buffer);
      } catch (error) {
        // The timer closed the connection under the read.
        if (timedOut && error instanceof Deno.errors.BadResource) break;
        // A reset after the answer: the server closed with our bytes unread.
        if (!(error instanceof Deno.errors.ConnectionReset)) throw error;
        n = null;
      }
      if (n === null) {
        closed = true;
        break;
      }
      text += latin1(buffer.subarray(0, n));
    }
  } finally {
    clearTimeout(timer);
    if (!timedOut) conn.close();
  }
  const statuses = parseResponses(text).responses.map((r) => r.status);
  return { statuses, closed };
}

/** Checks koan's outcome for `row`. */
function assertKoan(row: FramingCase, outcome: Outcome): void {
  const seen = JSON.stringify(outcome);
  assert.equal(outcome.statuses[0], row.status, `first status: ${seen}`);
  if (row.close) {
    assert.equal(outcome.statuses.length, 1, `nothing after it read: ${seen}`);
    assert.ok(outcome.closed, `the connection closes: ${seen}`);
  } else {
    assert.deepEqual(outcome.statuses, [row.status, 200], seen);
    assert.ok(!outcome.closed, `the connection lives: ${seen}`);
  }
}

/**
 * What a framing decision amounts to: the row refused or not, and the
 * pipelined request answered or not (statuses other than that differ
 * between servers for reasons that do not move a message boundary).
 */
function verdict(outcome: Outcome): string {
  const first = outcome.statuses[0];
  const refused = first === undefined || first >= 400;
  const next = outcome.statuses.slice(1).some((status) => status < 400);
  return `${refused ? "refused" : "accepted"}${next ? ", next answered" : ""}`;
}

/** nginx from a temp dir: one process in the foreground, 200 for everything. */
async function startNginx(dir: string, port: number) {
  const conf = `${dir}/nginx.conf`;
  await Deno.writeTextFile(
    conf,
    nginxConf(dir, {
      http: [
        "server {",
        `  listen 127.0.0.1:${port};`,
        '  location / { return 200 "ok\\n"; }',
        "}",
      ],
    }),
  );
  return await spawnDaemon({
    command: NGINX,
    args: ["-p", dir, "-e", `${dir}/error.log`, "-c", conf],
    output: ["stderr"],
    accepting: [port],
    timeoutMs: 20_000,
  });
}

const nginxInstalled = await Deno.stat(NGINX).then(
  (info) => info.isFile,
  (error) => {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  },
);

for (const model of MODELS_UNDER_TEST) {
  Deno.test(`framing (${model.name}): one grammar, a refusal closes`, async (t) => {
    await using served = await startModelDaemon(model);
    const outcomes = new Map<string, Outcome>();
    for (const row of FRAMING_CASES) {
      await t.step(`${row.name} (${row.rfc})`, async () => {
        const outcome = await exchange(served.ports.http, row);
        outcomes.set(row.name, outcome);
        try {
          assertKoan(row, outcome);
        } catch (error) {
          // The daemon's last words say why, when the answer went missing.
          if (!(error instanceof assert.AssertionError)) throw error;
          const tail = served.daemon.log.trimEnd().split("\n").slice(-8);
          error.message += `\ndaemon log, last lines:\n${tail.join("\n")}`;
          throw error;
        }
      });
    }
    if (model.name !== "async") return;
    if (!nginxInstalled) {
      await t.step(
        `nginx not installed (${NGINX}): rows run against koan only`,
        () => assert.equal(outcomes.size, FRAMING_CASES.length),
      );
      return;
    }
    await t.step("nginx disagrees on the documented rows only", async () => {
      const dir = await Deno.makeTempDir({ prefix: "koan-framing-nginx-" });
      const port = freePort();
      try {
        await using _nginx = await startNginx(dir, port);
        const report: string[] = [];
        const disagree: string[] = [];
        for (const row of FRAMING_CASES) {
          const koan = outcomes.get(row.name);
          assert.ok(koan, `koan's outcome for "${row.name}"`);
          const nginx = await exchange(port, row);
          const differs = verdict(koan) !== verdict(nginx);
          if (differs) disagree.push(row.name);
          report.push(
            `${differs ? "≠" : "="} ${row.name}: koan ${
              JSON.stringify(koan.statuses)
            } ${verdict(koan)}; nginx ${JSON.stringify(nginx.statuses)} ${
              verdict(nginx)
            }`,
          );
        }
        assert.deepEqual(
          disagree,
          FRAMING_CASES.map((row) => row.name).filter((name) =>
            NGINX_DISAGREES.includes(name)
          ),
          `rows where nginx and koan disagree:\n${report.join("\n")}`,
        );
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    });
  });
}

Deno.test("framing: every documented nginx disagreement names a row, and docs/conformance.md explains each", async () => {
  const names = new Set(FRAMING_CASES.map((row) => row.name));
  assert.equal(names.size, FRAMING_CASES.length, "row names are unique");
  for (const name of NGINX_DISAGREES) assert.ok(names.has(name), name);
  const doc = await Deno.readTextFile(`${ROOT_DIR}docs/conformance.md`);
  const section = doc.split("## Where nginx answers otherwise")[1]?.split(
    "\n### ",
  )[0];
  assert.ok(section, 'docs/conformance.md: "Where nginx answers otherwise"');
  const rows = section.split("\n").filter((line) => line.startsWith("| "))
    .slice(2) // the header and the | --- | line
    .map((line) => line.split("|")[1]!.trim());
  assert.deepEqual(rows, NGINX_DISAGREES);
});
