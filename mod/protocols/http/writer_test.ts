import assert from "node:assert/strict";
import { VERSION } from "../../util/version.ts";
import { HttpError } from "./status.ts";
import {
  bannerOf,
  dateLine,
  errorBytes,
  OutBuffer,
  PLAIN_BANNER,
  PresetResponses,
  presetTails,
  tailIndex,
  VERSIONED_BANNER,
  writeError,
  writeHead,
} from "./writer.ts";

const decoder = new TextDecoder();
const text = (out: OutBuffer) => decoder.decode(out.view());

Deno.test("writeHead() writes status, Date, Server, nosniff, fields, length, blank line", () => {
  const out = new OutBuffer(16);
  writeHead(out, 200, {
    fixed: new TextEncoder().encode("Content-Type: text/plain\r\n"),
    extra: 'ETag: "x"\r\n',
    contentLength: 1234567,
    connection: "none",
  });
  const lines = text(out).split("\r\n");
  assert.equal(lines[0], "HTTP/1.1 200 OK");
  assert.match(
    lines[1]!,
    /^Date: (Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d\d:\d\d:\d\d GMT$/,
  );
  assert.equal(lines[2], "Server: koan");
  assert.equal(lines[3], "X-Content-Type-Options: nosniff");
  assert.deepEqual(lines.slice(4), [
    "Content-Type: text/plain",
    'ETag: "x"',
    "Content-Length: 1234567",
    "",
    "",
  ]);
});

Deno.test("writeHead() names the version in Server only with the versioned banner", () => {
  assert.equal(bannerOf(false), PLAIN_BANNER);
  assert.equal(bannerOf(true), VERSIONED_BANNER);
  for (
    const [banner, server] of [
      [undefined, "Server: koan"],
      [PLAIN_BANNER, "Server: koan"],
      [VERSIONED_BANNER, `Server: koan/${VERSION}`],
    ] as const
  ) {
    const out = new OutBuffer();
    writeHead(out, 204, { contentLength: -1, connection: "none", banner });
    const lines = text(out).split("\r\n");
    assert.equal(lines[2], server);
    assert.equal(lines[3], "X-Content-Type-Options: nosniff");
  }
});

Deno.test("writeHead() says close or keep-alive only when it must", () => {
  for (
    const [connection, line] of [
      ["none", undefined],
      ["close", "Connection: close"],
      ["keep-alive", "Connection: keep-alive"],
    ] as const
  ) {
    const out = new OutBuffer();
    writeHead(out, 204, { contentLength: -1, connection });
    const head = text(out);
    assert.equal(head.includes("Content-Length"), false);
    assert.equal(
      head.split("\r\n").find((l) => l.startsWith("Connection")),
      line,
    );
  }
});

Deno.test("dateLine() matches the wall clock's second", () => {
  const line = decoder.decode(dateLine());
  const date = Date.parse(line.slice(6, -2));
  assert.ok(Math.abs(date - Date.now()) < 2000, line);
});

Deno.test("OutBuffer.putDecimal() writes every magnitude", () => {
  for (const n of [0, 7, 10, 99, 100, 65536, 1048576, 2 ** 40]) {
    const out = new OutBuffer(1);
    out.putDecimal(n);
    assert.equal(text(out), String(n));
  }
});

Deno.test("OutBuffer grows, then shrinks back on clear()", () => {
  const out = new OutBuffer(8);
  out.put(new Uint8Array(1000).fill(65));
  assert.equal(out.length, 1000);
  assert.ok(out.bytes.length >= 1000);
  out.clear();
  assert.equal(out.length, 0);
  assert.equal(out.bytes.length, 8);
});

Deno.test("presetTails() equals what writeHead() would write", () => {
  const fixed = new TextEncoder().encode("Content-Type: text/plain\r\n");
  const body = new TextEncoder().encode("Hello, world!");
  const tails = presetTails({ fixed, body });
  for (const connection of ["none", "close", "keep-alive"] as const) {
    for (const head of [false, true]) {
      const out = new OutBuffer();
      writeHead(out, 200, { fixed, contentLength: body.length, connection });
      if (!head) out.put(body);
      const full = text(out);
      const tail = decoder.decode(tails[tailIndex(connection, head)]);
      assert.ok(full.endsWith(tail), `${connection} ${head}`);
      assert.ok(
        full.slice(0, -tail.length).endsWith(
          "Server: koan\r\nX-Content-Type-Options: nosniff\r\n",
        ),
      );
    }
  }
});

Deno.test("writeError() answers the status with its fixed page, never the detail, and closes", () => {
  const out = new OutBuffer();
  const error = new HttpError(
    405,
    "POST is not allowed here",
    "Allow: GET\r\n",
  );
  const n = writeError(out, error);
  const response = text(out);
  assert.equal(n, out.length);
  assert.match(response, /^HTTP\/1\.1 405 Method Not Allowed\r\n/);
  assert.match(response, /\r\nAllow: GET\r\n/);
  assert.match(response, /\r\nConnection: close\r\n/);
  assert.match(response, /\r\nX-Content-Type-Options: nosniff\r\n/);
  assert.ok(response.endsWith("\r\n\r\n405 Method Not Allowed\n"), response);
  assert.ok(!response.includes("POST is not allowed"));
  const head = new OutBuffer();
  writeError(head, error, { head: true });
  assert.ok(text(head).endsWith("\r\n\r\n"), "HEAD gets no body");
});

Deno.test("errorBytes() is a standalone copy, with the banner asked for", () => {
  const bytes = errorBytes(new HttpError(408, "slow"));
  assert.match(decoder.decode(bytes), /^HTTP\/1\.1 408 Request Timeout\r\n/);
  assert.match(decoder.decode(bytes), /\r\nServer: koan\r\n/);
  const versioned = errorBytes(new HttpError(408, "slow"), VERSIONED_BANNER);
  assert.ok(
    decoder.decode(versioned).includes(`\r\nServer: koan/${VERSION}\r\n`),
  );
});

Deno.test("PresetResponses.get() is the prefix and the tail in one array per banner, kept for the second", async () => {
  const body = new TextEncoder().encode("Hello, world!");
  const tails = presetTails({ body });
  const preset = new PresetResponses(200, tails);
  for (const banner of [PLAIN_BANNER, VERSIONED_BANNER]) {
    for (const connection of ["none", "close", "keep-alive"] as const) {
      for (const head of [false, true]) {
        const index = tailIndex(connection, head);
        const now = performance.now();
        const bytes = preset.get(banner.presetBase + index, now);
        const prefix = banner.prefix(200, now);
        assert.deepEqual(
          bytes,
          new Uint8Array([...prefix, ...tails[index]!]),
          `${connection}${head ? ", HEAD" : ""}`,
        );
        assert.equal(
          preset.get(banner.presetBase + index, now),
          bytes,
          "built once",
        );
      }
    }
  }
  // A new second: a new Date line, so new bytes.
  const before = decoder.decode(preset.get(0));
  await new Promise((resolve) => setTimeout(resolve, 1100));
  const now = performance.now();
  const after = decoder.decode(preset.get(0, now));
  assert.notEqual(after, before);
  assert.equal(
    after,
    decoder.decode(PLAIN_BANNER.prefix(200, now)) + decoder.decode(tails[0]!),
  );
});

Deno.test("OutBuffer.putShared() queues bytes by reference until more are appended", () => {
  const shared = new TextEncoder().encode("HTTP/1.1 200 OK\r\n\r\n");
  const out = new OutBuffer(8);
  out.putShared(shared);
  assert.equal(out.length, shared.length);
  assert.equal(out.view(), shared, "a lone shared chunk is sent as it is");
  // Anything appended after it copies it first, in order.
  out.putAscii("x");
  out.putShared(shared);
  out.putDecimal(42);
  assert.equal(text(out), "HTTP/1.1 200 OK\r\n\r\nxHTTP/1.1 200 OK\r\n\r\n42");
  assert.equal(shared[0], 0x48, "the shared bytes are never written to");
  // Dropped with the queue, however it is emptied.
  out.clear();
  out.putShared(shared);
  out.length = 0;
  out.put(new TextEncoder().encode("next"));
  assert.equal(text(out), "next");
  out.clear();
  out.putShared(shared);
  out.length = 0;
  assert.equal(out.view().length, 0);
});
