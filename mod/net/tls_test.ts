import assert from "node:assert/strict";
import tls from "node:tls";
import { ConfigError } from "../config/error.ts";
import { type AcceptedConn, denoSource } from "./acceptor.ts";
import { makeTestPki, type TestPki } from "./_tls_testing.ts";
import {
  loadTlsContext,
  type TlsSettings,
  tlsWrapFor,
  useTlsContext,
} from "./tls.ts";
import { secureConn } from "./_tls_conn.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function settings(
  cert: string,
  key: string,
  alpn = false,
): TlsSettings {
  return { tls_cert: cert, tls_key: key, tls_alpn: alpn, protocol: "http" };
}

/** A CA with two server certificates, for one test. */
async function withPki(
  body: (pki: TestPki, dir: string) => Promise<void>,
): Promise<void> {
  const pki = await makeTestPki();
  try {
    await body(pki, pki.dir);
  } finally {
    await pki.remove();
  }
}

/** A loopback listener whose connections `serve` gets, accepted as the acceptor does. */
function listen(serve: (conn: AcceptedConn) => Promise<void>) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const source = denoSource(listener);
  const served: Promise<void>[] = [];
  const loop = (async () => {
    for (;;) {
      let conn: AcceptedConn;
      try {
        conn = await source.accept();
      } catch (error) {
        if (error instanceof Deno.errors.BadResource) return;
        throw error;
      }
      served.push(serve(conn));
    }
  })();
  return {
    port: listener.addr.port,
    async close() {
      source.close();
      await loop;
      await Promise.all(served);
    },
  };
}

/** Serves one line per connection: echoes it upper-cased, then closes. */
async function shout(conn: AcceptedConn | null): Promise<void> {
  if (!conn) return;
  const buffer = new Uint8Array(1024);
  let text = "";
  while (!text.includes("\n")) {
    const n = await conn.read(buffer);
    if (n === null) break;
    text += decoder.decode(buffer.subarray(0, n));
  }
  await conn.write(encoder.encode(text.toUpperCase()));
  conn.close();
}

/** Connects with node:tls trusting `ca`; resolves to the server's serial, ALPN and answer. */
function ask(
  port: number,
  ca: string,
  line: string,
): Promise<{ serial: string; alpn: string | false; answer: string }> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({
      host: "127.0.0.1",
      port,
      servername: "localhost",
      ca: Deno.readTextFileSync(ca),
      ALPNProtocols: ["http/1.1"],
    });
    let answer = "";
    let serial = "";
    let alpn: string | false = false;
    socket.on("secureConnect", () => {
      serial = socket.getPeerCertificate().serialNumber;
      alpn = socket.alpnProtocol ?? false;
      socket.write(line);
    });
    socket.on("data", (chunk: Uint8Array) => answer += decoder.decode(chunk));
    socket.on("end", () => resolve({ serial, alpn, answer }));
    socket.on("error", reject);
  });
}

Deno.test("tlsWrapFor() has no wrap for a plain listener", () => {
  assert.equal(tlsWrapFor(settings("", "")), undefined);
});

Deno.test("loadTlsContext() names the key whose file cannot be used", async () => {
  await withPki(async (pki, dir) => {
    const one = await pki.issue("one", "a1");
    const other = await pki.issue("other", "a2");
    await Deno.writeTextFile(`${dir}/junk.pem`, "not a certificate\n");
    const cases: [TlsSettings, RegExp][] = [
      [
        settings(`${dir}/missing.pem`, one.key),
        /^listener\[1\]\.tls_cert: cannot read ".*missing\.pem"/,
      ],
      [
        settings(one.cert, `${dir}/missing.key`),
        /^listener\[1\]\.tls_key: cannot read ".*missing\.key"/,
      ],
      [
        settings(`${dir}/junk.pem`, one.key),
        /^listener\[1\]\.tls_cert: ".*junk\.pem" holds no PEM certificate/,
      ],
      [
        settings(one.cert, `${dir}/junk.pem`),
        /^listener\[1\]\.tls_key: ".*junk\.pem" holds no PEM private key/,
      ],
      [
        settings(one.key, one.cert),
        /^listener\[1\]\.tls_cert: ".*one\.key" holds no PEM certificate/,
      ],
      [
        settings(one.cert, other.key),
        /^listener\[1\]\.tls_key: ".*other\.key" is not the private key of the certificate/,
      ],
    ];
    for (const [bad, message] of cases) {
      await assert.rejects(
        () => loadTlsContext(bad, { name: "listener[1]" }),
        (error) => error instanceof ConfigError && message.test(error.message),
      );
    }
  });
});

Deno.test("loadTlsContext() keeps the installed context while the files are the same", async () => {
  await withPki(async (pki, dir) => {
    const one = await pki.issue("one", "b1");
    const pair = settings(`${dir}/live.pem`, `${dir}/live.key`);
    await Deno.copyFile(one.cert, pair.tls_cert);
    await Deno.copyFile(one.key, pair.tls_key);
    const first = await loadTlsContext(pair);
    assert.equal(first.info.serial, "B1");
    assert.equal(useTlsContext(first), true);
    assert.equal(useTlsContext(first), false);
    assert.equal(await loadTlsContext(pair), first);
    const two = await pki.issue("two", "b2");
    await Deno.copyFile(two.cert, pair.tls_cert);
    await Deno.copyFile(two.key, pair.tls_key);
    const second = await loadTlsContext(pair);
    assert.notEqual(second, first);
    assert.equal(second.info.serial, "B2");
  });
});

Deno.test("tlsWrapFor() serves TLS with ALPN, and a new certificate from the next handshake", async () => {
  await withPki(async (pki, dir) => {
    const one = await pki.issue("one", "c1");
    const two = await pki.issue("two", "c2");
    const pair = settings(`${dir}/rot.pem`, `${dir}/rot.key`, true);
    await Deno.copyFile(one.cert, pair.tls_cert);
    await Deno.copyFile(one.key, pair.tls_key);
    useTlsContext(await loadTlsContext(pair));
    // A connection opened before the swap, answered after it.
    let release: () => void = () => {};
    const held = new Promise<void>((resolve) => release = resolve);
    let count = 0;
    const server = listen(async (raw) => {
      const conn = await tlsWrapFor(pair)!(raw);
      if (count++ === 0) await held;
      await shout(conn);
    });
    try {
      const before = ask(server.port, pki.ca, "old\n");
      while (count === 0) await new Promise((r) => setTimeout(r, 10));
      await Deno.copyFile(two.cert, pair.tls_cert);
      await Deno.copyFile(two.key, pair.tls_key);
      useTlsContext(await loadTlsContext(pair));
      const after = await ask(server.port, pki.ca, "new\n");
      release();
      assert.deepEqual(await before, {
        serial: "C1",
        alpn: "http/1.1",
        answer: "OLD\n",
      });
      assert.deepEqual(after, {
        serial: "C2",
        alpn: "http/1.1",
        answer: "NEW\n",
      });
    } finally {
      release();
      await server.close();
    }
  });
});

Deno.test("tlsWrapFor() offers ALPN only to HTTP listeners that ask for it", async () => {
  await withPki(async (pki) => {
    const one = await pki.issue("one", "d1");
    const zen = { ...settings(one.cert, one.key, true), protocol: "zen" };
    useTlsContext(await loadTlsContext(zen));
    const server = listen(async (raw) =>
      await shout(await tlsWrapFor(zen)!(raw))
    );
    try {
      const { alpn, answer } = await ask(server.port, pki.ca, "zen\n");
      assert.equal(alpn, false);
      assert.equal(answer, "ZEN\n");
    } finally {
      await server.close();
    }
  });
});

Deno.test("tlsWrapFor() loads the context at the first connection where none is installed", async () => {
  await withPki(async (pki, dir) => {
    const one = await pki.issue("first", "e1");
    const pair = settings(`${dir}/late.pem`, `${dir}/late.key`);
    await Deno.copyFile(one.cert, pair.tls_cert);
    await Deno.copyFile(one.key, pair.tls_key);
    const server = listen(async (raw) =>
      await shout(await tlsWrapFor(pair)!(raw))
    );
    try {
      const { serial, answer } = await ask(server.port, pki.ca, "late\n");
      assert.equal(serial, "E1");
      assert.equal(answer, "LATE\n");
    } finally {
      await server.close();
    }
  });
});

Deno.test("tlsWrapFor() drops a client that does not speak TLS", async () => {
  await withPki(async (pki) => {
    const one = await pki.issue("one", "f1");
    const pair = settings(one.cert, one.key);
    useTlsContext(await loadTlsContext(pair));
    let result: AcceptedConn | null | undefined;
    const server = listen(async (raw) => {
      result = await tlsWrapFor(pair)!(raw);
    });
    try {
      const client = await Deno.connect({
        hostname: "127.0.0.1",
        port: server.port,
      });
      await client.write(encoder.encode("GET / HTTP/1.1\r\n\r\n"));
      // The server closes: end of stream, or a reset after its alert.
      try {
        while ((await client.read(new Uint8Array(512))) !== null) {
          /* alert */
        }
      } catch (error) {
        if (!(error instanceof Deno.errors.ConnectionReset)) throw error;
      }
      client.close();
    } finally {
      await server.close();
    }
    assert.equal(result, null);
  });
});

Deno.test("secureConn() gives up on a client that never finishes its handshake", async () => {
  await withPki(async (pki) => {
    const one = await pki.issue("one", "9a");
    const context = tls.createSecureContext({
      cert: await Deno.readTextFile(one.cert),
      key: await Deno.readTextFile(one.key),
    });
    let result: unknown;
    const server = listen(async (raw) => {
      result = await secureConn(raw, context, { alpn: false, timeoutMs: 200 });
    });
    const client = await Deno.connect({
      hostname: "127.0.0.1",
      port: server.port,
    });
    try {
      // Silent: the server must close after its deadline.
      assert.equal(await client.read(new Uint8Array(64)), null);
    } finally {
      client.close();
      await server.close();
    }
    assert.ok(result instanceof Deno.errors.TimedOut);
  });
});

Deno.test("tlsWrapFor() carries a megabyte each way intact", async () => {
  await withPki(async (pki) => {
    const one = await pki.issue("one", "ab");
    const pair = settings(one.cert, one.key);
    useTlsContext(await loadTlsContext(pair));
    const size = 1 << 20;
    const server = listen(async (raw) => {
      const conn = await tlsWrapFor(pair)!(raw);
      if (!conn) return;
      // Reads all of it in pieces, then sends it back in one write.
      const all = new Uint8Array(size);
      let got = 0;
      while (got < size) {
        const n = await conn.read(all.subarray(got, got + 5000));
        if (n === null) break;
        got += n;
      }
      await conn.write(all.subarray(0, got));
      conn.close();
    });
    try {
      const sent = new Uint8Array(size).map((_, i) => (i * 7) % 251);
      const client = await Deno.connectTls({
        hostname: "127.0.0.1",
        port: server.port,
        caCerts: [await Deno.readTextFile(pki.ca)],
      });
      const writing = (async () => {
        for (let at = 0; at < size;) {
          at += await client.write(sent.subarray(at));
        }
      })();
      const back = new Uint8Array(size);
      let got = 0;
      for (;;) {
        const n = await client.read(back.subarray(got));
        if (n === null || got + n === size) {
          got += n ?? 0;
          break;
        }
        got += n;
      }
      await writing;
      client.close();
      assert.equal(got, size);
      assert.deepEqual(back, sent);
    } finally {
      await server.close();
    }
  });
});
