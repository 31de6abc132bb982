import assert from "node:assert/strict";
import { ConfigError } from "../config/load.ts";
import { configOf } from "../config/_testing.ts";
import { parseAddress } from "../config/address.ts";
import { leaseSocket } from "../net/fd_shared.ts";
import {
  bindListeningFd,
  bindListeningPipe,
  rawTcp,
  SERVER,
} from "../net/fd_tcp.ts";
import { freePort } from "../net/free_port.ts";
import {
  activationListeners,
  adoptListenFds,
  inheritedInUse,
  type InheritedSocket,
  inheritedSocket,
  listenFdsFromEnv,
  releaseInherited,
} from "./activation.ts";
import { planConfig } from "./plan.ts";

const env = (vars: Record<string, string>) => (name: string) => vars[name];

Deno.test("listenFdsFromEnv() reads the descriptors and their names", () => {
  const passed = listenFdsFromEnv(
    env({ LISTEN_FDS: "3", LISTEN_PID: "42", LISTEN_FDNAMES: "zen:http:echo" }),
    42,
  );
  assert.deepEqual(passed, {
    fds: [3, 4, 5],
    names: ["zen", "http", "echo"],
  });
});

Deno.test("listenFdsFromEnv() ignores variables meant for another process", () => {
  assert.equal(
    listenFdsFromEnv(env({ LISTEN_FDS: "1", LISTEN_PID: "41" }), 42),
    undefined,
  );
  assert.equal(listenFdsFromEnv(env({}), 42), undefined);
  assert.equal(listenFdsFromEnv(env({ LISTEN_FDS: "0" }), 42), undefined);
});

Deno.test("listenFdsFromEnv() gives unnamed descriptors an empty name", () => {
  assert.deepEqual(listenFdsFromEnv(env({ LISTEN_FDS: "2" }), 42), {
    fds: [3, 4],
    names: ["", ""],
  });
});

Deno.test("listenFdsFromEnv() rejects malformed variables naming them", () => {
  assert.throws(
    () => listenFdsFromEnv(env({ LISTEN_FDS: "two" }), 42),
    (e: unknown) => e instanceof ConfigError && /LISTEN_FDS/.test(e.message),
  );
  assert.throws(
    () => listenFdsFromEnv(env({ LISTEN_FDS: "2", LISTEN_FDNAMES: "zen" }), 42),
    (e: unknown) =>
      e instanceof ConfigError && /LISTEN_FDNAMES/.test(e.message),
  );
});

const socket = (
  fd: number,
  address: string,
  protocol?: "zen" | "http" | "echo",
  name = protocol ?? "",
): InheritedSocket => ({
  fd,
  address,
  name,
  ...(protocol ? { protocol } : {}),
});

Deno.test("activationListeners() serves exactly the passed sockets with the config's settings", async () => {
  const loaded = configOf({
    listener: [
      { protocol: "zen", address: "127.0.0.1:1060", model: "iterative" },
      { protocol: "http", address: "127.0.0.1:8080", model: "async" },
      { protocol: "zen", address: "127.0.0.1:2000", model: "threads" },
    ],
  });
  loaded.path = "/etc/koan/koan.toml";
  const plan = await activationListeners(loaded, [
    socket(3, "127.0.0.1:2000", "zen"),
    socket(4, "[::]:1060", "zen"),
  ], {});
  assert.deepEqual(
    plan.listeners.map((l) => [l.protocol, l.address, l.model]),
    [["zen", "127.0.0.1:2000", "threads"], ["zen", "[::]:1060", "iterative"]],
  );
  assert.equal(plan.notes.length, 1);
  assert.match(
    plan.notes[0]!,
    /listener\[1\] \(http 127\.0\.0\.1:8080\) is not served/,
  );
});

Deno.test("activationListeners() takes the protocol from a listener at the address when the name is not one", async () => {
  const loaded = configOf({
    listener: [{ protocol: "echo", address: "127.0.0.1:7007" }],
  });
  const plan = await activationListeners(loaded, [
    socket(3, "127.0.0.1:7007", undefined, "koan.socket"),
  ], {});
  assert.equal(plan.listeners[0]!.protocol, "echo");
  await assert.rejects(
    () =>
      activationListeners(loaded, [
        socket(3, "127.0.0.1:9", undefined, "koan.socket"),
      ], {}),
    (e: unknown) =>
      e instanceof ConfigError && /named "koan\.socket"/.test(e.message),
  );
});

Deno.test("activationListeners() applies --model to sockets without a config listener", async () => {
  const overrides = { model: "iterative" };
  const loaded = configOf({}, overrides);
  const plan = await activationListeners(
    loaded,
    [socket(3, "[::]:7", "echo")],
    {
      overrides,
    },
  );
  assert.equal(plan.listeners[0]!.model, "iterative");
  assert.equal(plan.listeners[0]!.address, "[::]:7");
});

Deno.test("activationListeners() leaves listener flags alone and notes unused sockets", async () => {
  const overrides = {
    listeners: [{ protocol: "zen" as const, address: "127.0.0.1:5" }],
  };
  const loaded = configOf({}, overrides);
  const plan = await activationListeners(loaded, [
    socket(3, "127.0.0.1:6", "zen"),
  ], {
    overrides,
  });
  assert.deepEqual(plan.listeners.map((l) => l.address), ["127.0.0.1:5"]);
  assert.match(plan.notes[0]!, /fd 3 \(127\.0\.0\.1:6\) is not used/);
});

/** A listening socket as systemd passes one: `parent` is systemd's copy. */
function passedSocket(port: number) {
  const TCP = rawTcp()!;
  const parent = new TCP(SERVER);
  assert.equal(parent.open(bindListeningFd("127.0.0.1", port)), 0);
  return { parent, fd: parent.fdForIpc() };
}

Deno.test("adoptListenFds() holds passed sockets for any model, and releaseInherited() lets go of this process's copy only", async () => {
  const port = freePort();
  const { parent, fd } = passedSocket(port);
  const address = `127.0.0.1:${port}`;
  const [socket] = await adoptListenFds({ fds: [fd], names: ["zen"] });
  assert.deepEqual(socket, { fd, name: "zen", address, protocol: "zen" });
  assert.equal(inheritedSocket(address), fd);
  assert.equal(inheritedInUse(address), false, "no listener yet");
  // A pooled model's lease is a use: pools serve inherited sockets.
  const lease = leaseSocket(parseAddress(address));
  assert.equal(inheritedInUse(address), true);
  const loaded = configOf({
    listener: [{ protocol: "zen", address, model: "processes" }],
  });
  const config = await planConfig(loaded, [socket!], {});
  assert.equal(config.listener[0]!.model, "processes");
  lease.release();
  releaseInherited();
  assert.equal(inheritedSocket(address), undefined);
  // systemd's copy still listens: a client waits in its queue.
  (await Deno.connect({ hostname: "127.0.0.1", port })).close();
  parent.close();
});

/**
 * A unix socket as systemd passes one (`ListenStream=/path`, bound at the
 * path itself, which getsockname(2) reports): `parent` is systemd's copy
 * (it would take clients once the loop polls it: none connect here).
 */
function passedUnixSocket(path: string) {
  const { fd, binder } = bindListeningPipe(path);
  return { parent: binder, fd };
}

Deno.test("adoptListenFds() adopts a passed unix socket under unix:/path, served by the listener at that address, and leaves its file", async () => {
  const dir = Deno.makeTempDirSync({ prefix: "koan-activation-" });
  const path = `${dir}/koan.sock`;
  const address = `unix:${path}`;
  const { parent, fd } = passedUnixSocket(path);
  try {
    const [socket] = await adoptListenFds({ fds: [fd], names: ["http"] });
    assert.deepEqual(socket, { fd, name: "http", address, protocol: "http" });
    assert.equal(inheritedSocket(address), fd);
    const loaded = configOf({
      listener: [
        { protocol: "http", address: "127.0.0.1:8080", model: "async" },
        { protocol: "http", address, model: "threads" },
      ],
    });
    const config = await planConfig(loaded, [socket!], {});
    assert.deepEqual(
      config.listener.map((l) => [l.address, l.model]),
      [[address, "threads"]],
    );
    const lease = leaseSocket(parseAddress(address));
    assert.equal(inheritedInUse(address), true);
    lease.release();
    releaseInherited();
    assert.equal(inheritedSocket(address), undefined);
    assert.ok(Deno.lstatSync(path).isSocket, "systemd's file stays");
  } finally {
    parent.close();
    Deno.removeSync(dir, { recursive: true });
  }
});
