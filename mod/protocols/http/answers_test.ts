/**
 * What koan's own HTTP answers give away (issue 17 §4), through the
 * handler over a scripted peer: the admin routes by peer, fixed error
 * pages, `nosniff`, the Server header per generation, and
 * `keepalive_timeout = 0`.
 */
import assert from "node:assert/strict";
import { bytesOf } from "../../../tests/http_corpus/cases.ts";
import {
  parseResponses,
  type WireResponse,
} from "../../../tests/http_corpus/wire.ts";
import { configOf } from "../../config/_testing.ts";
import { VERSION } from "../../util/version.ts";
import { BUILT_IN_TABLE } from "../zen/aphorisms.ts";
import { MemoryTransport } from "./_memory_transport.ts";
import { createHttpHandler, http } from "./http.ts";
import type { HttpEnv } from "./settings.ts";
import { reasonOf } from "./status.ts";

const H = "Host: koan.test\r\n";
const OUTSIDE = "192.0.2.1:4242";

function envWith(raw: Record<string, unknown> = {}): HttpEnv {
  return {
    settings: http.settings(configOf(raw).config),
    aphorisms: BUILT_IN_TABLE,
    state: { draining: false },
  };
}

/** Sends `request` from `peer` and waits for the handler to finish. */
async function exchange(
  request: string,
  options: { env?: HttpEnv; peer?: string; head?: boolean } = {},
): Promise<{ responses: WireResponse[]; text: string }> {
  const transport = new MemoryTransport([bytesOf(request)]);
  await createHttpHandler(options.env ?? envWith())(transport, {
    info: { peer: options.peer ?? OUTSIDE, local: "127.0.0.1:8080" },
    draining: new AbortController().signal,
    access: () => {},
  });
  const text = transport.text;
  const { responses } = parseResponses(text, {
    bodiless: () => options.head ?? false,
  });
  return { responses, text };
}

const get = (path: string, extra = "") =>
  `GET ${path} HTTP/1.1\r\n${H}${extra}Connection: close\r\n\r\n`;

/** A response without its Date line, to compare two answers made apart. */
function withoutDate(raw: string): string {
  return raw.replace(/\r\nDate: [^\r]*/, "");
}

const ADMIN_PATHS = ["/metrics", "/status", "/status.json"];

Deno.test("HTTP handler serves the admin routes to loopback peers only by default", async () => {
  for (
    const peer of [
      "127.0.0.1:5",
      "127.8.9.10:5",
      "[::1]:5",
      "[::ffff:127.0.0.1]:5",
      "127.0.0.1",
      "::1",
    ]
  ) {
    for (const path of ["/metrics", "/status"]) {
      const { responses } = await exchange(get(path), { peer });
      assert.equal(responses[0]?.status, 200, `${path} from ${peer}`);
    }
  }
  const unknown = (await exchange(get("/nope"))).responses[0]!;
  assert.equal(unknown.status, 404);
  for (
    const peer of [
      OUTSIDE,
      "[::2]:5",
      "[::ffff:192.0.2.1]:5",
      "10.127.0.1:5",
      "stdin",
      "",
    ]
  ) {
    for (const path of ADMIN_PATHS) {
      const { responses } = await exchange(
        get(path, "Host: localhost\r\nX-Forwarded-For: 127.0.0.1\r\n")
          .replace(H, ""),
        { peer },
      );
      assert.equal(responses[0]?.status, 404, `${path} from ${peer}`);
      assert.equal(
        withoutDate(responses[0]!.raw),
        withoutDate(unknown.raw),
        `${path} from ${peer}: the same 404 as an unknown path`,
      );
    }
  }
  const hello = await exchange(get("/"));
  assert.equal(hello.responses[0]?.status, 200, "/ answers everyone");
});

Deno.test("HTTP handler hides the admin routes from everyone when admin = off, shows them to anyone when on", async () => {
  const off = envWith({ http: { admin: "off" } });
  for (const path of ADMIN_PATHS) {
    const { responses } = await exchange(get(path), {
      env: off,
      peer: "127.0.0.1:5",
    });
    assert.equal(responses[0]?.status, 404, `${path}, admin = off`);
  }
  const on = envWith({ http: { admin: "on" } });
  for (const path of ["/metrics", "/status"]) {
    const { responses } = await exchange(get(path), { env: on });
    assert.equal(responses[0]?.status, 200, `${path}, admin = on`);
  }
});

const TOKEN = "zq7TOKEN";

/** Requests carrying {@linkcode TOKEN} that koan refuses, with the status each gets. */
const REFUSALS: readonly [number, string][] = [
  [400, `GET /zen HTTP/1.1\r\n${H}${TOKEN} x: 1\r\n\r\n`],
  [400, `GET /${TOKEN}<script> HTTP/1.1\r\n\r\n`],
  [404, `GET /${TOKEN}<script>alert(1)</script> HTTP/1.1\r\n${H}\r\n`],
  [405, `DELETE /healthz?${TOKEN} HTTP/1.1\r\n${H}\r\n`],
  [413, `POST /zen?${TOKEN} HTTP/1.1\r\n${H}Content-Length: 99999999\r\n\r\n`],
  [414, `GET /${TOKEN}${"a".repeat(300)} HTTP/1.1\r\n${H}\r\n`],
  [431, `GET / HTTP/1.1\r\n${H}X-${TOKEN}: ${"b".repeat(600)}\r\n\r\n`],
  [417, `GET / HTTP/1.1\r\n${H}Expect: ${TOKEN}\r\n\r\n`],
  [501, `${TOKEN} / HTTP/1.1\r\n${H}\r\n`],
  [501, `POST /zen HTTP/1.1\r\n${H}Transfer-Encoding: ${TOKEN}\r\n\r\n`],
  [505, `GET /${TOKEN} HTTP/2.0\r\n${H}\r\n`],
];

Deno.test("HTTP error pages are fixed text per status and never repeat the request", async () => {
  const env = envWith({
    http: { max_request_line: 256, max_header_bytes: 512 },
  });
  for (const [status, request] of REFUSALS) {
    const { responses, text } = await exchange(request, { env });
    const response = responses[0];
    assert.equal(response?.status, status, request);
    assert.equal(response.body, `${status} ${reasonOf(status)}\n`, request);
    assert.ok(!text.includes(TOKEN), `${request} echoed in\n${text}`);
    assert.equal(
      response.headers.get("x-content-type-options"),
      "nosniff",
      request,
    );
  }
});

Deno.test("HTTP answers koan makes itself all carry nosniff", async () => {
  const env = envWith();
  for (
    const request of [
      get("/"),
      get("/healthz"),
      get("/zen?q=Readability%3F"),
      get("/nope"),
      `OPTIONS /zen HTTP/1.1\r\n${H}Connection: close\r\n\r\n`,
    ]
  ) {
    const { responses } = await exchange(request, { env });
    assert.equal(
      responses[0]?.headers.get("x-content-type-options"),
      "nosniff",
      request,
    );
  }
});

Deno.test("HTTP Server header names no version unless server_tokens is on, per generation", async () => {
  const plain = envWith();
  const tokens = envWith({ http: { server_tokens: true } });
  // Alternating generations in one isolate: shared constant replies must
  // follow the generation asking, not the first one built.
  for (
    const [env, want] of [[plain, "koan"], [tokens, `koan/${VERSION}`], [
      plain,
      "koan",
    ]] as const
  ) {
    for (
      const request of [get("/"), get("/healthz"), get("/nope"), get("/zen")]
    ) {
      const { responses } = await exchange(request, { env });
      assert.equal(responses[0]?.headers.get("server"), want, request);
    }
    const { responses } = await exchange(
      `HEAD / HTTP/1.1\r\n${H}Connection: close\r\n\r\n`,
      { env, head: true },
    );
    assert.equal(responses[0]?.headers.get("server"), want, "HEAD /");
  }
});

Deno.test("HTTP handler with keepalive_timeout = 0 answers with Connection: close and closes", async () => {
  const env = envWith();
  env.settings = {
    ...env.settings,
    http: { ...env.settings.http, keepalive_timeout: 0 },
  };
  for (
    const request of [
      `GET / HTTP/1.1\r\n${H}\r\n`.repeat(2),
      `GET /healthz HTTP/1.0\r\nConnection: keep-alive\r\n\r\n`.repeat(2),
      `GET /zen?q=Readability%3F HTTP/1.1\r\n${H}\r\n`.repeat(2),
    ]
  ) {
    const transport = new MemoryTransport([bytesOf(request)], {
      holdOpen: true,
    });
    const served = createHttpHandler(env)(transport, {
      info: { peer: OUTSIDE, local: "127.0.0.1:8080" },
      draining: new AbortController().signal,
      access: () => {},
    });
    // Bounded: a handler still waiting after 2 s is the failure.
    let waited = false;
    const timer = setTimeout(() => {
      waited = true;
      transport.close();
    }, 2000);
    await served;
    clearTimeout(timer);
    const { responses } = parseResponses(transport.text);
    assert.equal(responses.length, 1, request);
    assert.equal(responses[0]?.status, 200, request);
    assert.equal(responses[0]?.headers.get("connection"), "close", request);
    assert.ok(!waited, "closed by the handler, not by the test");
  }
});
