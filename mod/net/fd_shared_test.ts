import assert from "node:assert/strict";
import {
  adoptInheritedSocket,
  inheritedSocketFd,
  leaseSocket,
  socketLeases,
} from "./fd_shared.ts";
import { bindListeningFd, rawTcp, SERVER } from "./fd_tcp.ts";
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
