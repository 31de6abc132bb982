import assert from "node:assert/strict";
import { FdAcceptSource } from "./fd_accept.ts";
import { leaseSocket } from "./fd_shared.ts";
import type { RawTcp } from "./fd_tcp.ts";
import { freePort } from "./free_port.ts";

async function roundTrip(
  conn: Deno.Conn,
  served: {
    read(b: Uint8Array): Promise<number | null>;
    write(b: Uint8Array): Promise<number>;
  },
): Promise<string> {
  await conn.write(new TextEncoder().encode("hi"));
  const buffer = new Uint8Array(16);
  const n = await served.read(buffer);
  await served.write(buffer.subarray(0, n ?? 0));
  const back = new Uint8Array(16);
  const m = await conn.read(back);
  return new TextDecoder().decode(back.subarray(0, m ?? 0));
}

Deno.test("FdAcceptSource: a full worker stops accepting; a sibling on the same socket takes the next client", async () => {
  const address = { hostname: "127.0.0.1", port: freePort() };
  const lease = leaseSocket(address);
  const full = new FdAcceptSource({ fd: lease.dup(), concurrency: 1 });
  const first = await Deno.connect(address);
  const servedFirst = await full.accept();
  assert.equal(await roundTrip(first, servedFirst), "hi");
  assert.equal(full.free, 0);
  assert.equal(full.listening, false, "a full worker does not poll");
  // The next client waits in the kernel queue, not in the full worker.
  const second = await Deno.connect(address);
  const idle = new FdAcceptSource({ fd: lease.dup(), concurrency: 1 });
  const servedSecond = await idle.accept();
  assert.equal(await roundTrip(second, servedSecond), "hi");
  // A slot frees: the first worker polls again.
  servedFirst.close();
  assert.equal(full.listening, true);
  for (const conn of [first, second]) conn.close();
  servedSecond.close();
  full.close();
  idle.close();
  lease.release();
});

Deno.test("FdAcceptSource: what one poll took beyond the free slots is handed back", async () => {
  const address = { hostname: "127.0.0.1", port: freePort() };
  const lease = leaseSocket(address);
  // Three clients queue before anyone polls: one poll takes them all.
  const clients = await Promise.all([1, 2, 3].map(() => Deno.connect(address)));
  const handed: RawTcp[] = [];
  const slots: number[] = [];
  const source = new FdAcceptSource({
    fd: lease.dup(),
    concurrency: 1,
    handBack: (conn) => {
      handed.push(conn);
      return true;
    },
    onSlots: (free) => slots.push(free),
  });
  const served = await source.accept();
  for (let i = 0; i < 50 && handed.length < 2; i++) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  assert.equal(handed.length, 2, "two handed back");
  // Another worker adopts one and serves it.
  const other = new FdAcceptSource({ concurrency: 1 });
  other.adopt(handed[0]!);
  const adopted = await other.accept();
  const answers = await Promise.all(
    clients.map(async (client, i) => {
      await client.write(new TextEncoder().encode(`c${i}`));
    }),
  );
  assert.equal(answers.length, 3);
  const buffer = new Uint8Array(8);
  for (const conn of [served, adopted]) {
    const n = await conn.read(buffer);
    assert.match(new TextDecoder().decode(buffer.subarray(0, n ?? 0)), /^c\d$/);
  }
  assert.deepEqual(slots, [1, 0]);
  handed[1]!.close();
  served.close();
  adopted.close();
  for (const client of clients) client.close();
  source.close();
  other.close();
  lease.release();
});

Deno.test("FdAcceptSource: a forced hand-over is kept even when full, and handed over at the stop", async () => {
  const address = { hostname: "127.0.0.1", port: freePort() };
  const lease = leaseSocket(address);
  const clients = await Promise.all([1, 2, 3].map(() => Deno.connect(address)));
  const polled: RawTcp[] = [];
  const poller = new FdAcceptSource({
    fd: lease.dup(),
    concurrency: 1,
    handBack: (conn) => {
      polled.push(conn);
      return true;
    },
  });
  const first = await poller.accept();
  for (let i = 0; i < 50 && polled.length < 2; i++) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  assert.equal(polled.length, 2);
  // A full worker of the blocking pool (one slot, taken).
  const givenBack: RawTcp[] = [];
  const full = new FdAcceptSource({
    concurrency: 1,
    handBack: (conn) => {
      givenBack.push(conn);
      return true;
    },
  });
  const busy = (full.adopt(polled[0]!), await full.accept());
  full.adopt(polled[1]!);
  assert.equal(givenBack.length, 1, "not forced: given back");
  full.adopt(givenBack.pop()!, true);
  assert.equal(givenBack.length, 0, "forced: kept");
  assert.equal(full.free, -1);
  const pending = full.takePending();
  assert.equal(pending.length, 1, "served at the stop");
  for (const conn of [first, busy, ...pending]) conn.close();
  for (const client of clients) client.close();
  poller.close();
  full.close();
  lease.release();
});

Deno.test("FdAcceptSource: a unix socket is served in pipe handles, clients say unix, and a descriptor handed back is adopted by a sibling", async () => {
  const dir = Deno.makeTempDirSync({ prefix: "koan-fd-accept-" });
  const path = `${dir}/koan.sock`;
  const lease = leaseSocket({ hostname: "", port: 0, path });
  try {
    const clients = await Promise.all(
      [1, 2].map(() => Deno.connect({ transport: "unix", path })),
    );
    const handed: number[] = [];
    const source = new FdAcceptSource({
      fd: lease.dup(),
      concurrency: 1,
      // As a threads worker does: the descriptor goes to the master.
      handBack: (conn) => {
        handed.push(conn.fdForIpc());
        conn.close();
        return true;
      },
    });
    const served = await source.accept();
    assert.deepEqual(
      { peer: served.peer, local: served.local, source: served.source },
      { peer: "unix", local: "unix", source: "unix" },
    );
    for (let i = 0; i < 50 && handed.length < 1; i++) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    assert.equal(handed.length, 1, "the second client handed back");
    const sibling = new FdAcceptSource({ fd: lease.dup(), concurrency: 1 });
    sibling.adopt(handed[0]!);
    const adopted = await sibling.accept();
    assert.equal(adopted.peer, "unix");
    for (const [i, client] of clients.entries()) {
      await client.write(new TextEncoder().encode(`c${i}`));
    }
    const got: string[] = [];
    for (const conn of [served, adopted]) {
      const buffer = new Uint8Array(8);
      const n = await conn.read(buffer);
      got.push(new TextDecoder().decode(buffer.subarray(0, n ?? 0)));
      assert.equal(await conn.write(new TextEncoder().encode("ok")), 2);
    }
    assert.deepEqual(got.sort(), ["c0", "c1"]);
    for (const client of clients) {
      const buffer = new Uint8Array(2);
      assert.equal(await client.read(buffer), 2);
      client.close();
    }
    for (const closable of [served, adopted, source, sibling]) {
      closable.close();
    }
  } finally {
    lease.release();
    Deno.removeSync(dir, { recursive: true });
  }
});
