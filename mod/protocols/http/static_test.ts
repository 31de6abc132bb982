import assert from "node:assert/strict";
import type { FileEntry, FileSource } from "./file_source.ts";
import { HttpRequest } from "./request.ts";
import { etagOf, noneMatch, rangeOf, safePath, serveStatic } from "./static.ts";
import { HttpError } from "./status.ts";

function statusOf(fn: () => unknown): number {
  try {
    fn();
  } catch (error) {
    if (error instanceof HttpError) return error.status;
    throw error;
  }
  return 0;
}

async function replyStatus(
  promise: Promise<{ status: number }>,
): Promise<number> {
  try {
    return (await promise).status;
  } catch (error) {
    if (error instanceof HttpError) return error.status;
    throw error;
  }
}

Deno.test("safePath() decodes once and splits into names", () => {
  assert.deepEqual(safePath("/"), { segments: [], directory: true });
  assert.deepEqual(safePath("/a/b.txt"), {
    segments: ["a", "b.txt"],
    directory: false,
  });
  assert.deepEqual(safePath("//a/./b/").segments, ["a", "b"]);
  assert.deepEqual(safePath("/caf%C3%A9").segments, ["café"]);
  // Double encoding stays a literal name: decoded once only.
  assert.deepEqual(safePath("/%252e%252e/x").segments, ["%2e%2e", "x"]);
  assert.deepEqual(safePath("/.well-known/a").segments, [".well-known", "a"]);
});

Deno.test("safePath() refuses every way out of the root", () => {
  for (
    const [path, status] of [
      ["/..", 400],
      ["/a/../../etc/passwd", 400],
      ["/%2e%2e/etc/passwd", 400],
      ["/%2E%2E/etc/passwd", 400],
      ["/.%2e/x", 400],
      ["/a%2f..%2f..%2fetc", 400],
      ["/a%2F", 400],
      ["/a%5c..%5cb", 400],
      ["/a\\..\\b", 400],
      ["/a%00.html", 400],
      ["/a%0a", 400],
      ["/a%zz", 400],
      ["/a%2", 400],
      ["/%c3%28", 400],
      ["/.env", 404],
      ["/a/.git/config", 404],
      ["relative", 400],
    ] as const
  ) {
    assert.equal(statusOf(() => safePath(path)), status, path);
  }
});

Deno.test("rangeOf() reads single byte ranges", () => {
  assert.deepEqual(rangeOf("bytes=0-4", 10), { start: 0, end: 4 });
  assert.deepEqual(rangeOf("bytes=5-", 10), { start: 5, end: 9 });
  assert.deepEqual(rangeOf("bytes=-3", 10), { start: 7, end: 9 });
  assert.deepEqual(rangeOf("bytes=-30", 10), { start: 0, end: 9 });
  assert.deepEqual(rangeOf("bytes=8-100", 10), { start: 8, end: 9 });
  assert.deepEqual(rangeOf("Bytes = 1-2", 10), { start: 1, end: 2 });
});

Deno.test("rangeOf() knows unsatisfiable from ignorable", () => {
  assert.equal(rangeOf("bytes=10-", 10), "unsatisfiable");
  assert.equal(rangeOf("bytes=-0", 10), "unsatisfiable");
  assert.equal(rangeOf("bytes=0-", 0), "unsatisfiable");
  for (
    const ignored of [
      undefined,
      "bytes=0-1,4-5",
      "items=0-1",
      "bytes=5-1",
      "bytes=a-b",
      "bytes=1",
      "bytes=-",
    ]
  ) {
    assert.equal(rangeOf(ignored, 10), undefined, String(ignored));
  }
});

Deno.test("noneMatch() compares weakly and understands *", () => {
  assert.ok(noneMatch('"a", "b"', '"b"'));
  assert.ok(noneMatch('W/"b"', '"b"'));
  assert.ok(noneMatch("*", '"b"'));
  assert.ok(!noneMatch('"c"', '"b"'));
});

const MTIME = Date.UTC(2024, 0, 2, 3, 4, 5);

/** A FileSource over a map of path → content; directories are implied. */
function memoryRoot(files: Record<string, string>): FileSource {
  const encoder = new TextEncoder();
  return {
    lookup(segments) {
      const path = segments.join("/");
      const content = files[path];
      if (content !== undefined) {
        const bytes = encoder.encode(content);
        const entry: FileEntry = {
          kind: "file",
          size: bytes.length,
          mtimeMs: MTIME,
          open: () =>
            Promise.resolve({
              read: (into, position) => {
                const n = Math.min(into.length, bytes.length - position);
                into.set(bytes.subarray(position, position + n));
                return Promise.resolve(n > 0 ? n : null);
              },
              close() {},
            }),
        };
        return Promise.resolve(entry);
      }
      const isDir = Object.keys(files).some((f) =>
        path === "" || f.startsWith(`${path}/`)
      );
      return Promise.resolve(
        isDir
          ? {
            kind: "directory",
            size: 0,
            mtimeMs: MTIME,
            open: () => Promise.resolve(null),
          }
          : null,
      );
    },
  };
}

const ROOT = memoryRoot({
  "index.html": "<h1>home</h1>",
  "docs/guide.txt": "0123456789",
  "docs/index.html": "<p>docs</p>",
  "img/x.png": "PNG",
  "empty/.keep": "",
});

function get(path: string, fields: Partial<HttpRequest> = {}): HttpRequest {
  const request = new HttpRequest();
  const mark = path.indexOf("?");
  request.target = path;
  request.path = mark < 0 ? path : path.slice(0, mark);
  request.query = mark < 0 ? "" : path.slice(mark + 1);
  return Object.assign(request, fields);
}

Deno.test("serveStatic() serves files with type, validators and ranges", async () => {
  const reply = await serveStatic(get("/docs/guide.txt"), ROOT);
  assert.equal(reply.status, 200);
  assert.equal(
    new TextDecoder().decode(reply.fixed),
    "Content-Type: text/plain; charset=utf-8\r\n",
  );
  assert.match(reply.extra!, /^ETag: "[0-9a-f]+-a"\r\n/);
  assert.match(
    reply.extra!,
    /Last-Modified: Tue, 02 Jan 2024 03:04:05 GMT\r\n/,
  );
  assert.match(reply.extra!, /Accept-Ranges: bytes\r\n/);
  assert.equal(reply.file?.length, 10);
  const png = await serveStatic(get("/img/x.png"), ROOT);
  assert.equal(
    new TextDecoder().decode(png.fixed),
    "Content-Type: image/png\r\n",
  );
});

Deno.test("serveStatic() answers index.html for directories and redirects bare ones", async () => {
  const home = await serveStatic(get("/"), ROOT);
  assert.equal(home.status, 200);
  assert.equal(home.file?.length, "<h1>home</h1>".length);
  const bare = await serveStatic(get("/docs?x=1"), ROOT);
  assert.equal(bare.status, 301);
  assert.equal(bare.extra, "Location: /docs/?x=1\r\n");
  assert.equal(await replyStatus(serveStatic(get("/empty/"), ROOT)), 404);
  assert.equal(
    await replyStatus(serveStatic(get("/docs/guide.txt/"), ROOT)),
    404,
  );
  assert.equal(await replyStatus(serveStatic(get("/missing"), ROOT)), 404);
  assert.equal(await replyStatus(serveStatic(get("/%2e%2e/x"), ROOT)), 400);
});

/** A `Location` that stays on this host: one leading `/`, then only URI characters. */
const SAME_HOST =
  /^Location: \/(?![/\\])[A-Za-z0-9\-._~!$&'()*+,;=:@%/?]*\r\n$/;

Deno.test("serveStatic() redirects a bare directory to a path that cannot leave the host", async () => {
  const root = memoryRoot({
    "example.com/index.html": "x",
    'a b"<c>/index.html': "y",
    "caf\u00e9/index.html": "z",
  });
  for (
    const [target, location] of [
      ["//example.com", "/example.com/"],
      ["///example.com", "/example.com/"],
      ["/./example.com", "/example.com/"],
      ["/.", "/"],
      ["//.", "/"],
      ["//example.com?next=//evil.test", "/example.com/?next=//evil.test"],
      ['/example.com?a="<>', "/example.com/?a=%22%3C%3E"],
      [
        "/example.com?a\r\nSet-Cookie: x=1",
        "/example.com/?a%0D%0ASet-Cookie:%20x=1",
      ],
      ["/example.com?q=%41%zz%", "/example.com/?q=%41%25zz%25"],
      ["/example.com?\u00e9", "/example.com/?%C3%A9"],
      ["/a%20b%22%3Cc%3E", "/a%20b%22%3Cc%3E/"],
      ["/caf%C3%A9", "/caf%C3%A9/"],
    ]
  ) {
    const reply = await serveStatic(get(target!), root);
    assert.equal(reply.status, 301, target);
    assert.equal(reply.extra, `Location: ${location}\r\n`, target);
    assert.match(reply.extra!, SAME_HOST, target);
  }
  // Backslashes, which browsers read as slashes, never reach a Location.
  for (
    const target of ["/\\example.com", "/%5Cexample.com", "/%2F/example.com"]
  ) {
    assert.equal(
      await replyStatus(serveStatic(get(target), root)),
      400,
      target,
    );
  }
});

Deno.test("serveStatic() answers 304 to matching validators", async () => {
  const first = await serveStatic(get("/docs/guide.txt"), ROOT);
  const etag = /ETag: (\S+)\r\n/.exec(first.extra!)![1]!;
  const byEtag = await serveStatic(
    get("/docs/guide.txt", { ifNoneMatch: `"other", ${etag}` }),
    ROOT,
  );
  assert.equal(byEtag.status, 304);
  assert.match(byEtag.extra!, /ETag: /);
  assert.equal(byEtag.file, undefined);
  const byDate = await serveStatic(
    get("/docs/guide.txt", {
      ifModifiedSince: "Tue, 02 Jan 2024 03:04:05 GMT",
    }),
    ROOT,
  );
  assert.equal(byDate.status, 304);
  const older = await serveStatic(
    get("/docs/guide.txt", {
      ifModifiedSince: "Tue, 02 Jan 2024 03:04:04 GMT",
    }),
    ROOT,
  );
  assert.equal(older.status, 200);
  // If-None-Match wins over If-Modified-Since (RFC 9110 §13.2.2).
  const mismatch = await serveStatic(
    get("/docs/guide.txt", {
      ifNoneMatch: '"other"',
      ifModifiedSince: "Tue, 02 Jan 2024 03:04:05 GMT",
    }),
    ROOT,
  );
  assert.equal(mismatch.status, 200);
  const garbage = await serveStatic(
    get("/docs/guide.txt", { ifModifiedSince: "yesterday-ish" }),
    ROOT,
  );
  assert.equal(garbage.status, 200);
});

Deno.test("serveStatic() answers one range with 206 and a bad one with 416", async () => {
  const part = await serveStatic(
    get("/docs/guide.txt", { range: "bytes=2-4" }),
    ROOT,
  );
  assert.equal(part.status, 206);
  assert.deepEqual([part.file?.start, part.file?.length], [2, 3]);
  assert.match(part.extra!, /Content-Range: bytes 2-4\/10\r\n/);
  const several = await serveStatic(
    get("/docs/guide.txt", { range: "bytes=0-1,3-4" }),
    ROOT,
  );
  assert.equal(several.status, 200);
  let error: unknown;
  try {
    await serveStatic(get("/docs/guide.txt", { range: "bytes=10-" }), ROOT);
  } catch (caught) {
    error = caught;
  }
  assert.ok(error instanceof HttpError);
  assert.equal(error.status, 416);
  assert.equal(error.headers, "Content-Range: bytes */10\r\n");
  const head = await serveStatic(
    get("/docs/guide.txt", { method: "HEAD", range: "bytes=2-4" }),
    ROOT,
  );
  assert.equal(head.status, 200, "HEAD ignores Range");
});

Deno.test("serveStatic() honours If-Range", async () => {
  const first = await serveStatic(get("/docs/guide.txt"), ROOT);
  const etag = /ETag: (\S+)\r\n/.exec(first.extra!)![1]!;
  const same = await serveStatic(
    get("/docs/guide.txt", { range: "bytes=0-0", ifRange: etag }),
    ROOT,
  );
  assert.equal(same.status, 206);
  const changed = await serveStatic(
    get("/docs/guide.txt", { range: "bytes=0-0", ifRange: '"old"' }),
    ROOT,
  );
  assert.equal(changed.status, 200);
  const byDate = await serveStatic(
    get("/docs/guide.txt", {
      range: "bytes=0-0",
      ifRange: "Tue, 02 Jan 2024 03:04:05 GMT",
    }),
    ROOT,
  );
  assert.equal(byDate.status, 206);
});

Deno.test("etagOf() changes with size and time", () => {
  const base = { kind: "file" as const, open: () => Promise.resolve(null) };
  const a = etagOf({ ...base, size: 1, mtimeMs: 1000 });
  assert.notEqual(a, etagOf({ ...base, size: 2, mtimeMs: 1000 }));
  assert.notEqual(a, etagOf({ ...base, size: 1, mtimeMs: 2000 }));
  assert.equal(etagOf({ ...base, size: 1, mtimeMs: null }), undefined);
});
