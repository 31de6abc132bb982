import assert from "node:assert/strict";
import {
  adoptInheritedSocket,
  inheritedSocketFd,
  leaseSocket,
  socketLeases,
} from "./fd_shared.ts";
import {
  bindListeningFd,
  bindListeningPipe,
  rawPipe,
  rawTcp,
  SERVER,
} from "./fd_tcp.ts";
import { FdAcceptSource } from "./fd_accept.ts";
import { freePort } from "./free_port.ts";

/**
 * A listening socket as systemd passes one: `parent` plays systemd's copy
 * (closed by the test), `fd` is the descriptor this process inherits.
 */
function passedSocket(port: number) {
  const TCP = rawTcp()!;
  const parent = new TCP(SERVER);
  assert.equal(parent.open(bindListeningFd("127.0.0.1", port)), 0);
  return { parent, fd: parent.fdForIpc() };
}

async function refused(port: number): Promise<boolean> {
  try {
    (await Deno.connect({ hostname: "127.0.0.1", port })).close();
    return false;
  } catch (error) {
    if (error instanceof Deno.errors.ConnectionRefused) return true;
    throw error;
  }
}

Deno.test("adoptInheritedSocket() holds a passed socket under its address for every model to lease", async () => {
  const port = freePort();
  const { parent, fd } = passedSocket(port);
  const adopted = adoptInheritedSocket(fd);
  assert.equal(adopted.address, `127.0.0.1:${port}`);
  assert.equal(inheritedSocketFd(adopted.address), fd);
  assert.equal(socketLeases(adopted.address), 1, "the adopter's hold");
  // A pool (or a listener in the master) leases the very same socket.
  const lease = leaseSocket({ hostname: "127.0.0.1", port });
  assert.equal(lease.fd, adopted.lease.fd);
  assert.equal(socketLeases(adopted.address), 2);
  const source = new FdAcceptSource({ fd: lease.dup(), concurrency: 0 });
  const client = await Deno.connect({ hostname: "127.0.0.1", port });
  const served = await source.accept();
  await client.write(new TextEncoder().encode("hi"));
  const buffer = new Uint8Array(2);
  assert.equal(await served.read(buffer), 2);
  served.close();
  client.close();
  source.close();
  lease.release();
  adopted.lease.release();
  assert.equal(socketLeases(adopted.address), 0);
  assert.equal(inheritedSocketFd(adopted.address), undefined);
  // This process's copies are closed; the parent's keeps the socket
  // listening, and a client connecting now waits in its queue.
  const waiting = await Deno.connect({ hostname: "127.0.0.1", port });
  waiting.close();
  parent.close();
  assert.ok(await refused(port), "closed with the parent's copy");
});

Deno.test("adoptInheritedSocket() refuses a descriptor that is no TCP socket", () => {
  assert.throws(() => adoptInheritedSocket(987_654));
});

Deno.test("leaseSocket() binds a unix socket with socket_mode, shares it, and removes its file with the last lease", async () => {
  const dir = Deno.makeTempDirSync({ prefix: "koan-fd-shared-" });
  const path = `${dir}/koan.sock`;
  const address = { hostname: "", port: 0, path };
  try {
    const lease = leaseSocket(address, { socketMode: "0600" });
    assert.equal(Deno.lstatSync(path).mode! & 0o777, 0o600);
    const again = leaseSocket(address);
    assert.equal(again.fd, lease.fd, "one socket for the address");
    assert.equal(socketLeases(`unix:${path}`), 2);
    const source = new FdAcceptSource({ fd: lease.dup(), concurrency: 0 });
    const client = await Deno.connect({ transport: "unix", path });
    const served = await source.accept();
    assert.equal(served.peer, "unix");
    served.close();
    client.close();
    source.close();
    again.release();
    assert.ok(Deno.lstatSync(path).isSocket, "kept while leased");
    lease.release();
    assert.deepEqual([...Deno.readDirSync(dir)], [], "removed with the last");
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

/** A unix socket as systemd passes one: `parent` is systemd's copy. */
function passedUnixSocket(path: string) {
  const { fd, binder } = bindListeningPipe(`${path}.bound`);
  Deno.renameSync(`${path}.bound`, path);
  binder.close(); // unlinks the name it bound, renamed away already
  const parent = new (rawPipe()!)(SERVER);
  assert.equal(parent.open(fd), 0);
  return { parent, fd: parent.fdForIpc() };
}

Deno.test("adoptInheritedSocket() adopts a passed unix socket under unix:/path and never removes its file", async () => {
  const dir = Deno.makeTempDirSync({ prefix: "koan-fd-shared-" });
  const path = `${dir}/passed.sock`;
  const { parent, fd } = passedUnixSocket(path);
  try {
    assert.throws(
      () => adoptInheritedSocket(parent.fdForIpc()),
      TypeError,
      "without unixPath only TCP is adopted",
    );
    const adopted = adoptInheritedSocket(fd, { unixPath: () => path });
    assert.equal(adopted.address, `unix:${path}`);
    assert.equal(inheritedSocketFd(adopted.address), fd);
    const lease = leaseSocket({ hostname: "", port: 0, path });
    assert.equal(socketLeases(adopted.address), 2, "no second socket bound");
    const source = new FdAcceptSource({ fd: lease.dup(), concurrency: 0 });
    const client = await Deno.connect({ transport: "unix", path });
    assert.equal((await source.accept()).peer, "unix");
    client.close();
    source.close();
    lease.release();
    adopted.lease.release();
    assert.ok(Deno.lstatSync(path).isSocket, "systemd's file stays");
    // systemd's copy still listens: a client waits in its queue.
    (await Deno.connect({ transport: "unix", path })).close();
  } finally {
    parent.close();
    Deno.removeSync(dir, { recursive: true });
  }
});
