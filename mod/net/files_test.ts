import assert from "node:assert/strict";
import { HttpRequest } from "../protocols/http/request.ts";
import { serveStatic } from "../protocols/http/static.ts";
import { HttpError } from "../protocols/http/status.ts";
import { DenoFileSource } from "./files.ts";

/** A docroot with a secret beside it and symlinks in and out. */
async function fixture() {
  const base = await Deno.makeTempDir({ prefix: "koan-files-" });
  const root = `${base}/root`;
  await Deno.mkdir(`${root}/sub`, { recursive: true });
  await Deno.writeTextFile(`${root}/index.html`, "<h1>hi</h1>");
  await Deno.writeTextFile(`${root}/sub/a.txt`, "abcdefghij");
  await Deno.writeTextFile(`${base}/secret.txt`, "top secret");
  await Deno.mkdir(`${base}/outside`);
  await Deno.writeTextFile(`${base}/outside/b.txt`, "outside");
  await Deno.symlink(`${base}/secret.txt`, `${root}/leak.txt`);
  await Deno.symlink(`${base}/outside`, `${root}/leakdir`);
  await Deno.symlink("sub/a.txt", `${root}/alias.txt`);
  await Deno.symlink("../secret.txt", `${root}/sub/up.txt`);
  const fifo = new Deno.Command("mkfifo", { args: [`${root}/pipe`] });
  const hasFifo = (await fifo.output().catch(() => null))?.success ?? false;
  return {
    base,
    root,
    hasFifo,
    async [Symbol.asyncDispose]() {
      await Deno.remove(base, { recursive: true });
    },
  };
}

function get(path: string): HttpRequest {
  const request = new HttpRequest();
  request.target = request.path = path;
  return request;
}

async function statusOf(files: DenoFileSource, path: string): Promise<number> {
  try {
    return (await serveStatic(get(path), files)).status;
  } catch (error) {
    if (error instanceof HttpError) return error.status;
    throw error;
  }
}

Deno.test("DenoFileSource finds files and directories under the root", async () => {
  await using dir = await fixture();
  const files = new DenoFileSource(dir.root);
  const file = await files.lookup(["sub", "a.txt"]);
  assert.equal(file?.kind, "file");
  assert.equal(file?.size, 10);
  assert.equal(typeof file?.mtimeMs, "number");
  assert.equal((await files.lookup(["sub"]))?.kind, "directory");
  assert.equal((await files.lookup([]))?.kind, "directory");
  assert.equal(await files.lookup(["missing"]), null);
  assert.equal(await files.lookup(["sub", "a.txt", "x"]), null);
});

Deno.test("DenoFileSource reads ranges", async () => {
  await using dir = await fixture();
  const entry = await new DenoFileSource(dir.root).lookup(["sub", "a.txt"]);
  const reader = (await entry!.open())!;
  const buf = new Uint8Array(3);
  assert.equal(await reader.read(buf, 4), 3);
  assert.equal(new TextDecoder().decode(buf), "efg");
  assert.equal(await reader.read(buf, 7), 3);
  assert.equal(new TextDecoder().decode(buf), "hij");
  assert.equal(await reader.read(buf, 10), null);
  assert.equal(await reader.read(buf, 0), 3, "seeks back");
  reader.close();
  reader.close();
});

Deno.test("DenoFileSource refuses symlinks that leave the root", async () => {
  await using dir = await fixture();
  const files = new DenoFileSource(dir.root);
  assert.equal(await files.lookup(["leak.txt"]), null);
  assert.equal(await files.lookup(["leakdir"]), null);
  assert.equal(await files.lookup(["leakdir", "b.txt"]), null);
  assert.equal(await files.lookup(["sub", "up.txt"]), null);
  assert.equal((await files.lookup(["alias.txt"]))?.size, 10, "inside is fine");
});

Deno.test("DenoFileSource refuses names that are not plain", async () => {
  await using dir = await fixture();
  const files = new DenoFileSource(`${dir.root}/sub`);
  for (const name of ["..", ".", "", "a/../../secret.txt", "a\0b"]) {
    assert.equal(await files.lookup([name]), null, name);
  }
});

Deno.test("DenoFileSource skips FIFOs and other special files", async () => {
  await using dir = await fixture();
  if (!dir.hasFifo) return; // mkfifo missing: nothing to check
  assert.equal(await new DenoFileSource(dir.root).lookup(["pipe"]), null);
});

Deno.test("DenoFileSource answers nothing while the root is missing", async () => {
  await using dir = await fixture();
  const files = new DenoFileSource(`${dir.base}/nope`);
  assert.equal(await files.lookup([]), null);
  assert.equal(await files.lookup(["index.html"]), null);
});

Deno.test("DenoFileSource follows a docroot symlink switched by a deploy", async () => {
  await using dir = await fixture();
  const current = `${dir.base}/current`;
  await Deno.symlink(dir.root, current);
  const files = new DenoFileSource(current);
  assert.equal((await files.lookup(["index.html"]))?.size, 11);
  await Deno.remove(current);
  await Deno.symlink(`${dir.base}/outside`, current);
  assert.equal((await files.lookup(["b.txt"]))?.size, 7);
  assert.equal(await files.lookup(["index.html"]), null);
});

Deno.test("static files through DenoFileSource: no way out of the root", async () => {
  await using dir = await fixture();
  const files = new DenoFileSource(dir.root);
  for (
    const [path, status] of [
      ["/", 200],
      ["/sub/a.txt", 200],
      ["/alias.txt", 200],
      ["/sub", 301],
      ["/../secret.txt", 400],
      ["/sub/../../secret.txt", 400],
      ["/%2e%2e/secret.txt", 400],
      ["/sub/%2e%2e/%2e%2e/secret.txt", 400],
      ["/%252e%252e/secret.txt", 404],
      ["/..%2fsecret.txt", 400],
      ["/..%5csecret.txt", 400],
      ["/..\\secret.txt", 400],
      ["/leak.txt", 404],
      ["/leakdir/b.txt", 404],
      ["/sub/up.txt", 404],
      ["/index.html%00.txt", 400],
    ] as const
  ) {
    assert.equal(await statusOf(files, path), status, path);
  }
});

Deno.test("DenoFileSource needs read access to the docroot's name only", async () => {
  await using dir = await fixture();
  const current = `${dir.base}/current`;
  await Deno.symlink(dir.root, current);
  const script = `${dir.base}/probe.ts`;
  await Deno.writeTextFile(
    script,
    `import { DenoFileSource } from ${
      JSON.stringify(new URL("./files.ts", import.meta.url).href)
    };
const files = new DenoFileSource(${JSON.stringify(current)});
const entry = await files.lookup(["sub", "a.txt"]);
const reader = await entry?.open();
const buf = new Uint8Array(4);
console.log(entry?.size, await reader?.read(buf, 0), await files.lookup(["leak.txt"]));`,
  );
  const output = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--quiet",
      "--config",
      new URL("../../deno.json", import.meta.url).pathname,
      `--allow-read=${current},${script}`,
      script,
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  assert.equal(output.code, 0, decoder.decode(output.stderr));
  assert.equal(decoder.decode(output.stdout).trim(), "10 4 null");
});
