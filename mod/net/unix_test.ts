import assert from "node:assert/strict";
import { ConfigError } from "../config/error.ts";
import { bindListeningPipe, closeFd, SERVER } from "./fd_tcp.ts";
import {
  checkSocketPath,
  placeSocket,
  removeSocketFile,
  unixSocketPath,
  unixSource,
} from "./unix.ts";

/** A temp directory, removed at the end of the test. */
function tempDir(): { path: string } & Disposable {
  const path = Deno.makeTempDirSync({ prefix: "koan-unix-" });
  return {
    path,
    [Symbol.dispose]: () => Deno.removeSync(path, { recursive: true }),
  };
}

/**
 * A socket file left by a process that died: bound, then closed without
 * unlinking. (A `Deno.listen` socket unlinks the name it bound at close,
 * so it is bound under another name and renamed.)
 */
function staleSocket(path: string): void {
  const listener = Deno.listen({ transport: "unix", path: `${path}.bound` });
  Deno.renameSync(`${path}.bound`, path);
  listener.close();
  assert.ok(Deno.lstatSync(path).isSocket);
}

function listenAt(path: string): Deno.Listener<Deno.UnixConn> {
  return Deno.listen({ transport: "unix", path });
}

function entries(dir: string): string[] {
  return [...Deno.readDirSync(dir)].map((entry) => entry.name).sort();
}

Deno.test("checkSocketPath() passes a free path and a stale socket file", async () => {
  using dir = tempDir();
  const path = `${dir.path}/koan.sock`;
  await checkSocketPath(path);
  staleSocket(path);
  await checkSocketPath(path);
  assert.ok(Deno.lstatSync(path).isSocket, "checking removes nothing");
});

Deno.test("checkSocketPath() refuses a socket another process listens on, naming the path", async () => {
  using dir = tempDir();
  const path = `${dir.path}/koan.sock`;
  using _live = listenAt(path);
  await assert.rejects(
    () => checkSocketPath(path),
    (error: unknown) => {
      assert.ok(error instanceof ConfigError);
      assert.equal(
        error.message,
        `address unix:${path}: another process is listening on it`,
      );
      return true;
    },
  );
});

Deno.test("checkSocketPath() refuses a file, a directory and a symlink, and leaves them", async () => {
  using dir = tempDir();
  const file = `${dir.path}/file`;
  Deno.writeTextFileSync(file, "keep me");
  const directory = `${dir.path}/dir`;
  Deno.mkdirSync(directory);
  const link = `${dir.path}/link`;
  staleSocket(`${dir.path}/target.sock`);
  Deno.symlinkSync(`${dir.path}/target.sock`, link);
  for (
    const [path, kind] of [
      [file, "a regular file"],
      [directory, "a directory"],
      [link, "a symbolic link"],
    ]
  ) {
    await assert.rejects(
      () => checkSocketPath(path!),
      new RegExp(
        `^ConfigError: address unix:${path}: is ${kind}, not a socket`,
      ),
    );
  }
  assert.equal(Deno.readTextFileSync(file), "keep me");
  assert.ok(Deno.lstatSync(link).isSymlink);
});

Deno.test("placeSocket() replaces a socket checked stale, with socket_mode, leaving no temporary name", async () => {
  using dir = tempDir();
  const path = `${dir.path}/koan.sock`;
  staleSocket(path);
  const before = Deno.lstatSync(path).ino;
  await checkSocketPath(path);
  const { bound, file } = placeSocket(path, {
    mode: "0660",
    bind: listenAt,
    discard: (listener) => listener.close(),
  });
  const info = Deno.lstatSync(path);
  assert.ok(info.isSocket);
  assert.notEqual(info.ino, before);
  assert.equal(info.ino, file.ino);
  assert.equal(info.mode! & 0o777, 0o660);
  assert.deepEqual(entries(dir.path), ["koan.sock"]);
  // Served at the path, though bound under another name.
  const client = await Deno.connect({ transport: "unix", path });
  (await bound.accept()).close();
  client.close();
  bound.close();
  removeSocketFile(file);
  assert.deepEqual(entries(dir.path), []);
});

Deno.test("placeSocket() refuses a socket nobody checked, and anything that is not a socket", () => {
  using dir = tempDir();
  const path = `${dir.path}/koan.sock`;
  staleSocket(path);
  const options = {
    bind: listenAt,
    discard: (listener: Deno.Listener) => listener.close(),
  };
  assert.throws(
    () => placeSocket(path, options),
    /^ConfigError: address unix:.*: a socket is there that nobody checked/,
  );
  const file = `${dir.path}/file`;
  Deno.writeTextFileSync(file, "keep me");
  assert.throws(() => placeSocket(file, options), /is a regular file/);
  assert.equal(Deno.readTextFileSync(file), "keep me");
  assert.deepEqual(entries(dir.path), ["file", "koan.sock"]);
});

Deno.test("placeSocket() replaces a socket this process bound (a reload), which then stays", () => {
  using dir = tempDir();
  const path = `${dir.path}/koan.sock`;
  const options = {
    bind: listenAt,
    discard: (listener: Deno.Listener) => listener.close(),
  };
  const first = placeSocket(path, options);
  const second = placeSocket(path, options);
  assert.notEqual(first.file.ino, second.file.ino);
  // The old socket's removal leaves the new one's file alone.
  first.bound.close();
  removeSocketFile(first.file);
  assert.equal(Deno.lstatSync(path).ino, second.file.ino);
  second.bound.close();
  removeSocketFile(second.file);
  assert.deepEqual(entries(dir.path), []);
});

Deno.test("removeSocketFile() leaves a file that replaced the socket", () => {
  using dir = tempDir();
  const path = `${dir.path}/koan.sock`;
  const { bound, file } = placeSocket(path, {
    bind: listenAt,
    discard: (listener) => listener.close(),
  });
  bound.close();
  Deno.removeSync(path);
  Deno.writeTextFileSync(path, "someone else's");
  removeSocketFile(file);
  assert.equal(Deno.readTextFileSync(path), "someone else's");
});

Deno.test("unixSource() reports peer and source unix, and the path as local", async () => {
  using dir = tempDir();
  const path = `${dir.path}/koan.sock`;
  const source = unixSource(listenAt(path), path);
  const client = await Deno.connect({ transport: "unix", path });
  const conn = await source.accept();
  assert.deepEqual(
    { peer: conn.peer, local: conn.local, source: conn.source },
    { peer: "unix", local: `unix:${path}`, source: "unix" },
  );
  await client.write(new TextEncoder().encode("hi"));
  const buffer = new Uint8Array(2);
  assert.equal(await conn.read(buffer), 2);
  conn.close();
  client.close();
  source.close();
  source.close(); // idempotent
  await assert.rejects(() => source.accept(), Deno.errors.BadResource);
});

Deno.test("unixSocketPath() reads the path a passed unix socket is bound to", () => {
  using dir = tempDir();
  const path = `${dir.path}/passed.sock`;
  const { fd, binder } = bindListeningPipe(path);
  try {
    assert.equal(unixSocketPath(fd), path);
  } finally {
    closeFd(fd, SERVER);
    binder.close();
  }
});
