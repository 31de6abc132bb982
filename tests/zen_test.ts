/**
 * Zen over real sockets against the real daemon, for the in-isolate models
 * (every model runs the shared conformance suite in tests/conformance/).
 * Covers the seeds' client.py byte for byte and the bad-input cases.
 */
import assert from "node:assert/strict";
import {
  ask,
  connect,
  freePort,
  readAll,
  readUntil,
  ROOT_DIR,
  send,
  startDaemon,
} from "./_helpers.ts";

const MODELS = ["iterative", "async"] as const;

/** Runs the seeds' client.py against `port`; resolves with its output. */
function seedClient(
  port: number,
  ...extra: string[]
): Promise<Deno.CommandOutput> {
  return new Deno.Command("python3", {
    args: [
      `${ROOT_DIR}tests/fixtures/seed_client.py`,
      "127.0.0.1",
      "-p",
      String(port),
      ...extra,
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
}

for (const model of MODELS) {
  Deno.test(`zen (${model}): the seeds' client.py gets its three answers`, async () => {
    const port = freePort();
    await using daemon = await startDaemon([
      "--zen",
      `127.0.0.1:${port}`,
      "--model",
      model,
    ], {
      ports: [port],
    });
    const output = await seedClient(port);
    const text = new TextDecoder().decode(output.stdout);
    assert.equal(output.code, 0, new TextDecoder().decode(output.stderr));
    assert.match(text, /b'Beautiful is better than\?' b'ugly\.'/);
    assert.match(text, /b'Explicit is better than\?' b'implicit\.'/);
    assert.match(text, /b'Simple is better than\?' b'complex\.'/);
    await daemon.waitForLog(
      /zen in=\d+ out=\d+ requests=3 ms=[\d.]+ closed normally/,
    );
  });

  Deno.test(`zen (${model}): cause_error is logged as a partial question`, async () => {
    const port = freePort();
    await using daemon = await startDaemon([
      "--zen",
      `127.0.0.1:${port}`,
      "--model",
      model,
    ], {
      ports: [port],
    });
    const output = await seedClient(port, "--cause-error");
    assert.equal(output.code, 0);
    await daemon.waitForLog(
      /in=24 out=0 requests=0 .*sent a partial question then closed/,
    );
    assert.deepEqual(await ask(port, ["Readability?"]), ["counts."]);
  });

  Deno.test(`zen (${model}): pipelined, split, whitespace and unknown questions`, async () => {
    const port = freePort();
    await using _daemon = await startDaemon([
      "--zen",
      `127.0.0.1:${port}`,
      "--model",
      model,
    ], {
      ports: [port],
    });
    using conn = await connect(port);
    await send(
      conn,
      "  Beautiful is better than?\r\nFlat is better than?\nWho?",
    );
    const expected = "ugly.nested.Error: unknown aphorism.";
    assert.equal(
      (await readUntil(conn, (t) => t.length >= expected.length)).text,
      expected,
    );
    await send(conn, "Sparse is ");
    await new Promise((resolve) => setTimeout(resolve, 50));
    await send(conn, "better than?");
    assert.equal((await readUntil(conn, ".")).text, "dense.");
  });

  Deno.test(`zen (${model}): a flood of questions in one write is answered in order`, async () => {
    const port = freePort();
    await using daemon = await startDaemon([
      "--zen",
      `127.0.0.1:${port}`,
      "--model",
      model,
    ], {
      ports: [port],
    });
    const count = 5000;
    const questions = ["Beautiful is better than?", "Readability?", "Nope?"];
    const answers = ["ugly.", "counts.", "Error: unknown aphorism."];
    let flood = "";
    let expected = "";
    for (let i = 0; i < count; i++) {
      flood += questions[i % 3];
      expected += answers[i % 3];
    }
    using conn = await connect(port);
    const reading = readUntil(conn, (t) => t.length >= expected.length, 20_000);
    await send(conn, flood);
    assert.equal((await reading).text, expected);
    conn.closeWrite();
    await daemon.waitForLog(new RegExp(`requests=${count} .*closed normally`));
  });
}

Deno.test("zen: a question that never ends is cut at max_question", async () => {
  const port = freePort();
  await using daemon = await startDaemon(["--zen", `127.0.0.1:${port}`], {
    ports: [port],
    config: "[zen]\nmax_question = 64\n",
  });
  using conn = await connect(port);
  const reading = readAll(conn);
  // Keep writing without a "?"; the server must answer and close, not buffer forever.
  for (let i = 0; i < 20; i++) {
    try {
      await send(conn, "la".repeat(16));
    } catch {
      break; // reset by the server after its answer: expected
    }
  }
  assert.equal(await reading, "Error: question too long.");
  await daemon.waitForLog(/question too long/);
  assert.deepEqual(await ask(port, ["Readability?"]), ["counts."]);
});

Deno.test("zen: garbage bytes get unknown-aphorism answers or a clean close, never a crash", async () => {
  const port = freePort();
  await using daemon = await startDaemon(["--zen", `127.0.0.1:${port}`], {
    ports: [port],
  });
  const garbage = new Uint8Array(4096);
  for (let i = 0; i < garbage.length; i++) garbage[i] = (i * 7919) % 256;
  using conn = await connect(port);
  await send(conn, garbage);
  conn.closeWrite();
  const text = await readAll(conn);
  const unknowns = text.split("Error: unknown aphorism.").length - 1;
  const marks = garbage.filter((b) => b === 0x3f).length;
  assert.ok(
    unknowns <= marks && (unknowns > 0 || text === "Error: question too long."),
    text,
  );
  assert.deepEqual(await ask(port, ["Readability?"]), ["counts."]);
  assert.doesNotMatch(daemon.log, /error|Error:? .*at /i);
});

Deno.test("zen: a client that leaves before its answer is logged once and service goes on", async () => {
  const port = freePort();
  await using daemon = await startDaemon(["--zen", `127.0.0.1:${port}`], {
    ports: [port],
    config: '[zen]\nwork = "sleep"\nwork_ms = 200\n',
  });
  for (let i = 0; i < 3; i++) {
    const conn = await connect(port);
    await send(conn, "Readability?");
    conn.close();
  }
  await new Promise((resolve) => setTimeout(resolve, 400));
  assert.deepEqual(await ask(port, ["Readability?"]), ["counts."]);
  await daemon.waitForLog(
    /requests=1 .*\n(.|\n)*requests=1 (.|\n)*requests=1 (.|\n)*requests=1 /,
  );
  const lines = daemon.log.split("\n").filter((line) =>
    line.includes("koan.access")
  );
  assert.equal(lines.length, 4, daemon.log);
});

Deno.test("zen: an idle client is closed after idle_timeout", async () => {
  const port = freePort();
  await using daemon = await startDaemon(["--zen", `127.0.0.1:${port}`], {
    ports: [port],
    config: "[zen]\nidle_timeout = 1\n",
  });
  using conn = await connect(port);
  const started = Date.now();
  const result = await readUntil(conn, () => false, 5000);
  assert.equal(result.closed, true);
  assert.ok(Date.now() - started >= 900);
  await daemon.waitForLog(/idle timeout/);
});

Deno.test("zen: max_connections answers 'Error: server busy.' and closes", async () => {
  const port = freePort();
  await using daemon = await startDaemon(["--zen", `127.0.0.1:${port}`], {
    ports: [port],
    config: "[limits]\nmax_connections = 2\n",
  });
  using a = await connect(port);
  using b = await connect(port);
  await send(a, "Readability?");
  await send(b, "Readability?");
  await readUntil(a, ".");
  await readUntil(b, ".");
  using c = await connect(port);
  assert.equal(await readAll(c), "Error: server busy.");
  await daemon.waitForLog(/refused 127\.0\.0\.1:\d+: max_connections/);
});

Deno.test("zen: max_per_source refuses the second connection from one address", async () => {
  const port = freePort();
  await using _daemon = await startDaemon(["--zen", `127.0.0.1:${port}`], {
    ports: [port],
    config: "[limits]\nmax_per_source = 1\n",
  });
  using a = await connect(port);
  await send(a, "Readability?");
  await readUntil(a, ".");
  using b = await connect(port);
  assert.equal(await readAll(b), "Error: server busy.");
});

Deno.test("zen: the aphorism table file replaces the built-in one", async () => {
  const port = freePort();
  await using _daemon = await startDaemon(["--zen", `127.0.0.1:${port}`], {
    ports: [port],
    config: `[zen]\naphorisms = "${ROOT_DIR}config/aphorisms.toml"\n`,
  });
  assert.deepEqual(
    await ask(port, ["Beautiful is better than?", "Errors should never pass?"]),
    [
      "ugly.",
      "silently.",
    ],
  );
});

Deno.test("echo: bytes come back unchanged", async () => {
  const port = freePort();
  await using _daemon = await startDaemon(["--echo", `127.0.0.1:${port}`], {
    ports: [port],
  });
  using conn = await connect(port);
  const payload = "x".repeat(100_000) + "end";
  const reading = readUntil(conn, (t) => t.length >= payload.length);
  await send(conn, payload);
  assert.equal((await reading).text, payload);
});

Deno.test("zen: a custom table replaces the built-in one entirely", async () => {
  const port = freePort();
  const table = await Deno.makeTempFile({ suffix: ".toml" });
  await Deno.writeTextFile(table, '[aphorisms]\n"Why?" = "Because."\n');
  await using _daemon = await startDaemon(["--zen", `127.0.0.1:${port}`], {
    ports: [port],
    config: `[zen]\naphorisms = "${table}"\n`,
  });
  assert.deepEqual(await ask(port, ["Why?", "Beautiful is better than?"]), [
    "Because.",
    "Error: unknown aphorism.",
  ]);
  await Deno.remove(table);
});
