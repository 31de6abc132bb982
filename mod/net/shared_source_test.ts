import assert from "node:assert/strict";
import type { AcceptedConn, AcceptSource } from "./acceptor.ts";
import { SharedSource } from "./shared_source.ts";

/** A source whose connections the test releases one by one. */
class FakeSource implements AcceptSource {
  closed = false;
  accepts = 0;
  #pending: ((conn: AcceptedConn) => void)[] = [];
  #rejects: ((error: Error) => void)[] = [];

  accept(): Promise<AcceptedConn> {
    this.accepts++;
    if (this.closed) {
      return Promise.reject(new Deno.errors.BadResource("closed"));
    }
    return new Promise((resolve, reject) => {
      this.#pending.push(resolve);
      this.#rejects.push(reject);
    });
  }

  /** Completes the pending accept with a connection named `peer`. */
  arrive(peer: string): FakeConn {
    const conn = new FakeConn(peer);
    this.#rejects.shift();
    this.#pending.shift()!(conn);
    return conn;
  }

  get waiting(): number {
    return this.#pending.length;
  }

  close(): void {
    this.closed = true;
    for (const reject of this.#rejects.splice(0)) {
      reject(new Deno.errors.BadResource("closed"));
    }
    this.#pending = [];
  }
}

class FakeConn implements AcceptedConn {
  closed = false;
  constructor(readonly peer: string) {}
  readonly local = "127.0.0.1:1";
  readonly source = "127.0.0.1";
  read = () => Promise.resolve(null);
  write = (b: Uint8Array) => Promise.resolve(b.length);
  close() {
    this.closed = true;
  }
}

const tick = () => new Promise((resolve) => setTimeout(resolve, 0));

Deno.test("SharedSource keeps one accept outstanding on the socket, whatever the leases", async () => {
  const raw = new FakeSource();
  const shared = new SharedSource(raw);
  const a = shared.lease();
  const b = shared.lease();
  const first = a.accept();
  const second = b.accept();
  await tick();
  assert.equal(raw.waiting, 1);
  raw.arrive("one");
  assert.equal((await first).peer, "one");
  await tick();
  raw.arrive("two");
  assert.equal((await second).peer, "two");
});

Deno.test("SharedSource hands a connection accepted for a returned lease to the next lease", async () => {
  const raw = new FakeSource();
  const shared = new SharedSource(raw);
  const old = shared.lease();
  const next = shared.lease();
  const pending = old.accept();
  await tick();
  old.close(); // the old acceptor stops while the kernel accept is in flight
  await assert.rejects(pending, Deno.errors.BadResource);
  assert.equal(raw.closed, false, "the new lease keeps the socket open");
  const conn = raw.arrive("in-flight");
  assert.equal(await next.accept(), conn);
  assert.equal(conn.closed, false);
});

Deno.test("SharedSource closes the socket with its last lease, unless keepOpen", () => {
  const raw = new FakeSource();
  let closed = 0;
  const shared = new SharedSource(raw, { onClose: () => closed++ });
  const a = shared.lease();
  const b = shared.lease();
  a.close();
  assert.equal(raw.closed, false);
  b.close();
  b.close(); // idempotent
  assert.equal(raw.closed, true);
  assert.equal(closed, 1);
  assert.throws(() => shared.lease(), Deno.errors.BadResource);

  const kept = new FakeSource();
  const inherited = new SharedSource(kept, { keepOpen: true });
  inherited.lease().close();
  assert.equal(kept.closed, false);
  assert.equal(inherited.leases, 0);
  inherited.lease(); // a reload's successor takes it again
  assert.equal(inherited.leases, 1);
});

Deno.test("SharedSource passes accept errors (EMFILE) to one waiter and goes on", async () => {
  let fail = true;
  const raw: AcceptSource = {
    accept: () =>
      fail
        ? (fail = false, Promise.reject(new Error("Too many open files")))
        : Promise.resolve(new FakeConn("after")),
    close: () => {},
  };
  const lease = new SharedSource(raw).lease();
  await assert.rejects(lease.accept(), /Too many open files/);
  assert.equal((await lease.accept()).peer, "after");
});

Deno.test("SharedSource gives a client accepted as the socket closed to the acceptor that asked", async () => {
  let deliver: (conn: AcceptedConn) => void = () => {};
  let closed = false;
  const raw: AcceptSource = {
    accept: () => new Promise((resolve) => deliver = resolve),
    close: () => closed = true, // the in-flight accept still completes
  };
  const lease = new SharedSource(raw).lease();
  const pending = lease.accept();
  await tick();
  lease.close(); // the last lease: the socket closes
  assert.equal(closed, true);
  const conn = new FakeConn("just in time");
  deliver(conn);
  assert.equal(await pending, conn);
  assert.equal(conn.closed, false);
  await assert.rejects(lease.accept(), Deno.errors.BadResource);
});

Deno.test("SharedSource: the last lease takes what the socket accepted and nobody took; an earlier one leaves it to the others", async () => {
  const pending: FakeConn[] = [];
  const raw = Object.assign(new FakeSource(), {
    takePending: () => pending.splice(0),
  });
  const shared = new SharedSource(raw);
  const old = shared.lease();
  const successor = shared.lease();
  pending.push(new FakeConn("queued"));
  assert.deepEqual(old.takePending!(), [], "a successor serves it");
  old.close();
  const taken = successor.takePending!();
  assert.deepEqual(taken.map((conn) => conn.peer), ["queued"]);
  successor.close();
  assert.equal(shared.closed, true);
  await tick();
});

Deno.test("SharedSource: with keepOpen (an inherited socket) the last lease takes nothing", () => {
  const raw = Object.assign(new FakeSource(), {
    takePending: () => [new FakeConn("queued")],
  });
  const shared = new SharedSource(raw, { keepOpen: true });
  const lease = shared.lease();
  assert.deepEqual(lease.takePending!(), []);
  lease.close();
  assert.equal(shared.closed, false);
});
