import assert from "node:assert/strict";
import {
  bindListeningFd,
  bindListeningPipe,
  closeFd,
  probeSocketFd,
  SERVER,
  uvError,
} from "./fd_tcp.ts";
import { freePort } from "./free_port.ts";

Deno.test("uvError() maps a known uv status to its Deno error", () => {
  const error = uvError(-98, "cannot bind 127.0.0.1:1060");
  assert.ok(error instanceof Deno.errors.AddrInUse);
  assert.equal(
    error.message,
    "cannot bind 127.0.0.1:1060: EADDRINUSE (os error 98)",
  );
});

Deno.test("uvError() names a status that is no known errno by its number", () => {
  // getSystemErrorName() returns undefined for an unknown negative errno
  // and throws RangeError for anything else (Deno 2.9.6).
  assert.equal(
    uvError(-9999, "cannot listen").message,
    "cannot listen: error -9999 (os error 9999)",
  );
  assert.equal(uvError(5, "odd").message, "odd: error 5 (os error -5)");
});

Deno.test("probeSocketFd() tells a unix socket from a TCP one, and hands back a descriptor of it", async () => {
  const dir = Deno.makeTempDirSync({ prefix: "koan-fd-tcp-" });
  try {
    const tcp = probeSocketFd(bindListeningFd("127.0.0.1", freePort()));
    assert.equal(tcp.unix, false);
    closeFd(tcp.fd, SERVER);
    const path = `${dir}/koan.sock`;
    const { fd, binder } = bindListeningPipe(path);
    const unix = probeSocketFd(fd);
    assert.equal(unix.unix, true);
    // Still the listening socket: a client connects.
    (await Deno.connect({ transport: "unix", path })).close();
    closeFd(unix.fd, SERVER);
    binder.close();
    assert.deepEqual([...Deno.readDirSync(dir)], [], "the binder unlinks");
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("bindListeningPipe() names the path it cannot bind", () => {
  assert.throws(
    () => bindListeningPipe("/nonexistent-koan-dir/koan.sock"),
    /cannot bind unix:\/nonexistent-koan-dir\/koan\.sock: ENOENT/,
  );
});
