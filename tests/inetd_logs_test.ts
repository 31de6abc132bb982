/**
 * Where `koan inetd` logs when the config names no log file: inetd and
 * xinetd give it the client's socket as stdin, stdout and stderr, so logs
 * must stay off stderr; systemd's `StandardError=journal` gives it a
 * socket of journald's own, which is where logs belong. Python arranges
 * the descriptors (a Deno.Command cannot pass a socket as stdio).
 */
import assert from "node:assert/strict";
import { MAIN, RUN_FLAGS } from "./_helpers.ts";

/** Starts argv with the connection on fds 0 and 1 and fd 2 as asked. */
const SCRIPT = `
import json, socket, subprocess, sys
stderr_kind, argv = sys.argv[1], sys.argv[2:]
server = socket.socket(); server.bind(("127.0.0.1", 0)); server.listen(1)
client = socket.create_connection(server.getsockname())
conn, _ = server.accept()
journal, journal_peer = socket.socketpair()
err = conn.fileno() if stderr_kind == "client" else journal.fileno()
child = subprocess.Popen(argv, stdin=conn.fileno(), stdout=conn.fileno(), stderr=err)
conn.close(); journal.close(); server.close()
client.settimeout(30); journal_peer.settimeout(30)
client.sendall(b"Beautiful is better than?")
client.shutdown(socket.SHUT_WR)
received = b""
while True:
    data = client.recv(4096)
    if not data: break
    received += data
code = child.wait()
logged = b""
while True:
    data = journal_peer.recv(4096)
    if not data: break
    logged += data
print(json.dumps({"code": code, "client": received.decode(), "journal": logged.decode()}))
`;

async function inetdWithStderr(
  kind: "client" | "journal",
): Promise<{ code: number; client: string; journal: string }> {
  const config = await Deno.makeTempFile({ suffix: ".toml" });
  try {
    const output = await new Deno.Command("python3", {
      args: [
        "-c",
        SCRIPT,
        kind,
        Deno.execPath(),
        ...RUN_FLAGS,
        MAIN,
        "inetd",
        "--protocol",
        "zen",
        "--config",
        config,
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(output.stderr);
    assert.equal(output.code, 0, stderr);
    return JSON.parse(new TextDecoder().decode(output.stdout));
  } finally {
    await Deno.remove(config);
  }
}

Deno.test("koan inetd keeps its logs off a stderr that is the client's socket", async () => {
  const result = await inetdWithStderr("client");
  assert.equal(result.code, 0);
  assert.equal(result.client, "ugly.");
});

Deno.test("koan inetd logs to a stderr socket of its own (StandardError=journal)", async () => {
  const result = await inetdWithStderr("journal");
  assert.equal(result.code, 0);
  assert.equal(result.client, "ugly.");
  assert.match(result.journal, /\[inetd \d+\] koan\.access: .* zen /);
});
