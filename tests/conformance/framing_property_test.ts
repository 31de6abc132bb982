/**
 * Request smuggling as a property, over a real socket: valid chunked and
 * fixed-length requests whose bodies carry a complete second request
 * (`GET /zen?q=smuggled`) are mutated byte by byte (insert, delete,
 * replace, favouring framing bytes and the spans that decide framing),
 * sent, and koan must answer the request once or refuse it and read
 * nothing after the refusal, and must never answer the request hidden in
 * the body unless the mutated bytes, read by RFC 9112's grammar alone, put
 * a message boundary right before it. That grammar is written out here a second
 * time, independently of koan's parser, as the oracle: where it says the
 * framing is malformed, koan must refuse.
 *
 * One daemon on the `async` model (the parser is the same in every model);
 * one connection per run, half-closed after the request so that every
 * outcome ends in a close; every read bounded.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { bytesOf } from "../http_corpus/cases.ts";
import { parseResponses, type WireResponse } from "../http_corpus/wire.ts";
import { MODELS_UNDER_TEST, startModelDaemon } from "./models.ts";

/** The fast-check seed: a failure reproduces with it (it is printed). */
const SEED = 0x6b6f616e;
const RUNS = 300;
/** fast-check stops (and fails) past this. */
const TIME_LIMIT_MS = 50_000;
/** Longest wait for one exchange. */
const READ_MS = 5_000;

/**
 * The request hidden in every body: a question koan answers in JSON,
 * echoing it, so an answer to it is recognisable whatever its status.
 */
const SMUGGLED =
  "GET /zen?q=smuggled HTTP/1.1\r\nHost: x\r\nAccept: application/json\r\n\r\n";
/** What the answer to {@linkcode SMUGGLED} carries and nothing else does. */
const SMUGGLED_MARK = '"question":"smuggled"';

const HEAD = "POST /zen HTTP/1.1\r\nHost: koan.test\r\n";
/** A body that also ends a chunked body early for a reader that lost count. */
const DATA = `Zen?\r\n0\r\n\r\n${SMUGGLED}`;

/** A request to mutate and the spans where a mutation changes framing. */
interface Base {
  name: string;
  text: string;
  hot: number[];
}

function span(text: string, part: string, from = 0): number[] {
  const at = text.indexOf(part, from);
  assert.ok(at >= 0, part);
  return Array.from({ length: part.length + 1 }, (_, i) => at + i);
}

function chunkedBase(): Base {
  const size = DATA.length.toString(16);
  const text = `${HEAD}Transfer-Encoding: chunked\r\n\r\n` +
    `${size};n=v\r\n${DATA}\r\n0;e="q"\r\nX-T: v\r\n\r\n`;
  const bodyAt = text.indexOf("\r\n\r\n") + 4;
  return {
    name: "chunked",
    text,
    hot: [
      ...span(text, "Transfer-Encoding: chunked\r\n"),
      ...span(text, `${size};n=v\r\n`, bodyAt),
      ...span(text, `\r\n0;e="q"\r\nX-T: v\r\n\r\n`, bodyAt + DATA.length),
    ],
  };
}

function fixedBase(): Base {
  const text = `${HEAD}Content-Length: ${DATA.length}\r\n\r\n${DATA}`;
  return {
    name: "fixed-length",
    text,
    hot: [...span(text, `Content-Length: ${DATA.length}\r\n\r\n`)],
  };
}

const BASES: readonly Base[] = [chunkedBase(), fixedBase()];

// --- The oracle: RFC 9112 framing, written from the ABNF. ---

const TOKEN = "[!#$%&'*+\\-.^_`|~0-9A-Za-z]+";
const VALUE = "[\\t\\x20-\\x7e\\x80-\\xff]*";
const FIELD = `${TOKEN}:[ \\t]*${VALUE}\\r\\n`;
const REQUEST_HEAD = new RegExp(
  `^(?:\\r\\n)*${TOKEN} [\\x21-\\x7e]+ HTTP/1\\.([01])\\r\\n((?:${FIELD})*)\\r\\n`,
);
const QUOTED =
  '"(?:[\\t \\x21\\x23-\\x5b\\x5d-\\x7e\\x80-\\xff]|\\\\[\\t \\x21-\\x7e\\x80-\\xff])*"';
const EXT = `[ \\t]*;[ \\t]*${TOKEN}(?:[ \\t]*=[ \\t]*(?:${TOKEN}|${QUOTED}))?`;
const SIZE_LINE = new RegExp(`([0-9A-Fa-f]+)(?:${EXT})*\\r\\n`, "y");
const TRAILER = new RegExp(`(?:${FIELD})*\\r\\n`, "y");

/** How the grammar alone frames the first message of a byte string. */
type Framing =
  /** Well framed, ending at `end`. */
  | { kind: "framed"; end: number }
  /** The head is fine but its framing fields or chunked body break the grammar. */
  | { kind: "malformed"; why: string }
  /** The head does not parse here or the body is cut short: no verdict. */
  | { kind: "unknown" };

/** Splits a list value at commas, trimming OWS (SP, HTAB) only; empties dropped. */
function elements(value: string): string[] {
  return value.split(",").map((part) => part.replace(/^[ \t]+|[ \t]+$/g, ""))
    .filter((part) => part !== "");
}

/** Frames `text` (one code unit per byte) by RFC 9112 §6 and §7.1. */
function frame(text: string): Framing {
  const head = REQUEST_HEAD.exec(text);
  if (!head) return { kind: "unknown" };
  const lines = head[2]!.split("\r\n").slice(0, -1);
  const lengths: string[] = [];
  const codings: string[] = [];
  for (const line of lines) {
    const colon = line.indexOf(":");
    const name = line.slice(0, colon).toLowerCase();
    const value = line.slice(colon + 1).replace(/^[ \t]+|[ \t]+$/g, "");
    if (name === "content-length") lengths.push(value);
    if (name === "transfer-encoding") codings.push(...elements(value));
  }
  let at = head[0].length;
  const hasCoding = lines.some((line) =>
    line.toLowerCase().startsWith("transfer-encoding:")
  );
  if (hasCoding) {
    if (lengths.length > 0) return { kind: "malformed", why: "CL and TE" };
    if (head[1] === "0") return { kind: "malformed", why: "TE in HTTP/1.0" };
    if (codings.length !== 1 || codings[0]!.toLowerCase() !== "chunked") {
      return { kind: "malformed", why: `codings ${JSON.stringify(codings)}` };
    }
    for (;;) {
      SIZE_LINE.lastIndex = at;
      const line = SIZE_LINE.exec(text);
      if (!line) {
        // Cut short by the mutation (a prefix of a valid line) is no verdict.
        return text.length - at < 4096 && !/\r\n/.test(text.slice(at))
          ? { kind: "unknown" }
          : { kind: "malformed", why: `size line at ${at}` };
      }
      const size = parseInt(line[1]!, 16);
      at = SIZE_LINE.lastIndex;
      if (size === 0) break;
      if (text.length < at + size + 2) return { kind: "unknown" };
      if (text.slice(at + size, at + size + 2) !== "\r\n") {
        return { kind: "malformed", why: `chunk data at ${at}` };
      }
      at += size + 2;
    }
    TRAILER.lastIndex = at;
    if (!TRAILER.exec(text)) {
      return /\r\n\r\n/.test(text.slice(at)) ||
          /[^\t\x20-\x7e\x80-\xff\r\n]/.test(text.slice(at))
        ? { kind: "malformed", why: `trailer at ${at}` }
        : { kind: "unknown" };
    }
    return { kind: "framed", end: TRAILER.lastIndex };
  }
  if (lengths.length > 1) return { kind: "malformed", why: "CL twice" };
  if (lengths.length === 1) {
    if (!/^[0-9]+$/.test(lengths[0]!)) {
      return { kind: "malformed", why: `CL ${JSON.stringify(lengths[0])}` };
    }
    at += Number(lengths[0]);
    if (text.length < at) return { kind: "unknown" };
  }
  return { kind: "framed", end: at };
}

/** Whether the grammar puts a message boundary right before the hidden request. */
function smugglingIsFraming(text: string, framing: Framing): boolean {
  if (framing.kind !== "framed") return false;
  return text.slice(framing.end).replace(/^(?:\r\n)+/, "").startsWith(
    "GET /zen?q=smuggled ",
  );
}

// --- Mutations. ---

interface Mutation {
  op: "insert" | "delete" | "replace";
  /** Pick from the base's framing spans rather than anywhere. */
  hot: boolean;
  at: number;
  byte: number;
}

const INTERESTING = [...'\x20\t\r\n;="\\,:0 1afxG'].map((c) => c.charCodeAt(0))
  .concat([0xa0, 0x00, 0x0b, 0xef, 0xbb, 0xbf, 0x85]);

const mutation: fc.Arbitrary<Mutation> = fc.record({
  op: fc.constantFrom("insert", "delete", "replace"),
  hot: fc.boolean(),
  at: fc.nat(),
  byte: fc.oneof(
    fc.constantFrom(...INTERESTING),
    fc.integer({ min: 0, max: 255 }),
  ),
});

function mutate(base: Base, mutations: readonly Mutation[]): string {
  const bytes = [...base.text];
  for (const m of mutations) {
    const at = m.hot
      ? Math.min(base.hot[m.at % base.hot.length]!, bytes.length)
      : m.at % (bytes.length + 1);
    const char = String.fromCharCode(m.byte);
    if (m.op === "insert") bytes.splice(at, 0, char);
    else if (at < bytes.length) {
      bytes.splice(at, 1, ...(m.op === "replace" ? [char] : []));
    }
  }
  return bytes.join("");
}

// --- The exchange. ---

function latin1(bytes: Uint8Array): string {
  let text = "";
  for (const byte of bytes) text += String.fromCharCode(byte);
  return text;
}

/** Sends `text`, half-closes, reads until koan closes; undefined if it never does. */
async function exchange(
  port: number,
  text: string,
): Promise<{ responses: WireResponse[]; rest: string } | undefined> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    conn.close();
  }, READ_MS);
  let received = "";
  try {
    try {
      const bytes = bytesOf(text);
      for (let at = 0; at < bytes.length;) {
        at += await conn.write(bytes.subarray(at));
      }
      await conn.closeWrite();
    } catch (error) {
      // koan refused early and reset the connection: read what it said.
      if (
        !(error instanceof Deno.errors.BrokenPipe ||
          error instanceof Deno.errors.ConnectionReset ||
          error instanceof Deno.errors.NotConnected)
      ) throw error;
    }
    const buffer = new Uint8Array(16 * 1024);
    for (;;) {
      let n: number | null;
      try {
        n = await conn.read(buffer);
      } catch (error) {
        if (timedOut && error instanceof Deno.errors.BadResource) {
          return undefined;
        }
        // A reset after the answer: koan closed with our bytes unread.
        if (!(error instanceof Deno.errors.ConnectionReset)) throw error;
        n = null;
      }
      if (n === null) break;
      received += latin1(buffer.subarray(0, n));
    }
  } finally {
    clearTimeout(timer);
    if (!timedOut) conn.close();
  }
  return parseResponses(received);
}

/** The checks of one run; throws an AssertionError naming what broke. */
function check(
  text: string,
  outcome: { responses: WireResponse[]; rest: string } | undefined,
): void {
  const framing = frame(text);
  const shown = `request ${JSON.stringify(text)}\nframing ${
    JSON.stringify(framing)
  }\n`;
  assert.ok(outcome, `${shown}koan neither answered nor closed`);
  const { responses, rest } = outcome;
  const statuses = responses.map((r) => r.status);
  const seen = `${shown}statuses ${JSON.stringify(statuses)}`;
  assert.equal(rest, "", `${seen}: a response cut short`);
  const hidden = responses.filter((r) => r.raw.includes(SMUGGLED_MARK));
  const framed = smugglingIsFraming(text, framing);
  if (!framed) {
    assert.equal(
      hidden.length,
      0,
      `${seen}: answered the request hidden in the body`,
    );
  }
  // Answered once, or refused with nothing read after the refusal (the
  // hidden request aside, when the grammar itself frames it).
  const own = framed
    ? statuses.filter((_, i) => !hidden.includes(responses[i]!))
    : statuses;
  own.forEach((status, index) => {
    if (status >= 400) {
      assert.equal(index, own.length - 1, `${seen}: read past a refusal`);
    } else assert.equal(index, 0, `${seen}: a second request answered`);
  });
  if (framing.kind === "malformed") {
    assert.ok(
      statuses.length === 1 && statuses[0]! >= 400,
      `${seen}: malformed framing (${framing.why}) not refused`,
    );
  }
}

const ASYNC = MODELS_UNDER_TEST.find((model) => model.name === "async")!;

Deno.test("framing property (async): a mutated request is answered once or refused, never smuggled", async (t) => {
  await using served = await startModelDaemon(ASYNC);
  const port = served.ports.http;

  await t.step(
    "the unmutated requests are answered once; the hidden one is recognisable",
    async () => {
      for (const base of BASES) {
        assert.deepEqual(frame(base.text), {
          kind: "framed",
          end: base.text.length,
        });
        const outcome = await exchange(port, base.text);
        assert.deepEqual(
          outcome?.responses.map((r) => r.status),
          [200],
          base.name,
        );
      }
      // The oracle can say "malformed", and can see a boundary before the hidden request.
      const chunked = BASES[0]!.text;
      const size = `${DATA.length.toString(16)};n=v\r\n`;
      assert.equal(
        frame(chunked.replace(size, `${DATA.length.toString(16)} \r\n`)).kind,
        "malformed",
      );
      assert.ok(smugglingIsFraming(
        chunked.replace(size, "4\r\n"),
        frame(chunked.replace(size, "4\r\n")),
      ));
      const alone = await exchange(port, SMUGGLED);
      assert.ok(
        alone?.responses[0]?.raw.includes(SMUGGLED_MARK),
        `the hidden request's answer is recognisable: ${
          alone?.responses[0]?.raw
        }`,
      );
    },
  );

  await t.step(`${RUNS} mutations (seed ${SEED})`, async () => {
    const started = Date.now();
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...BASES),
        fc.array(mutation, { minLength: 1, maxLength: 3 }),
        async (base, mutations) => {
          const text = mutate(base, mutations);
          check(text, await exchange(port, text));
        },
      ),
      {
        seed: SEED,
        numRuns: RUNS,
        interruptAfterTimeLimit: TIME_LIMIT_MS,
        markInterruptAsFailure: true,
        endOnFailure: true,
      },
    );
    assert.ok(Date.now() - started < 60_000, "within a minute");
  });
});
