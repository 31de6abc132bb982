import assert from "node:assert/strict";
import net from "node:net";
import { nodeServerSource } from "./node_source.ts";

async function listening(): Promise<{ server: net.Server; port: number }> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { server, port: (server.address() as net.AddressInfo).port };
}

Deno.test("nodeServerSource() accepts node:net connections as AcceptedConn", async () => {
  const { server, port } = await listening();
  const source = nodeServerSource(server);
  try {
    const client = await Deno.connect({ hostname: "127.0.0.1", port });
    const conn = await source.accept();
    assert.match(conn.peer, /^127\.0\.0\.1:\d+$/);
    assert.equal(conn.local, `127.0.0.1:${port}`);
    assert.equal(conn.source, "127.0.0.1");
    await client.write(new TextEncoder().encode("ping"));
    const buffer = new Uint8Array(2);
    assert.equal(await conn.read(buffer), 2); // a small buffer reads in parts
    assert.equal(new TextDecoder().decode(buffer), "pi");
    assert.equal(await conn.read(buffer), 2);
    assert.equal(await conn.write(new TextEncoder().encode("pong")), 4);
    const reply = new Uint8Array(4);
    assert.equal(await client.read(reply), 4);
    client.close();
    assert.equal(await conn.read(buffer), null, "end of stream");
    conn.close();
    await assert.rejects(conn.write(new Uint8Array(1)));
  } finally {
    source.close();
  }
});

Deno.test("nodeServerSource() queues connections that arrive before accept()", async () => {
  const { server, port } = await listening();
  const source = nodeServerSource(server);
  const clients = [
    await Deno.connect({ hostname: "127.0.0.1", port }),
    await Deno.connect({ hostname: "127.0.0.1", port }),
  ];
  await new Promise((resolve) => setTimeout(resolve, 50));
  const a = await source.accept();
  const b = await source.accept();
  assert.notEqual(a.peer, b.peer);
  a.close();
  b.close();
  for (const client of clients) client.close();
  source.close();
  await assert.rejects(source.accept(), Deno.errors.BadResource);
});

Deno.test("nodeServerSource() close() ends a pending accept with BadResource", async () => {
  const { server } = await listening();
  const source = nodeServerSource(server);
  const pending = source.accept();
  source.close();
  await assert.rejects(pending, Deno.errors.BadResource);
});
