/**
 * Unix-domain socket listeners on the real daemon, with the real tools:
 * `curl --unix-socket` under every model (peer `unix` in the access log,
 * the file with `socket_mode`, removed at a clean exit), the seeds' Zen
 * client through `socat`, nginx's `proxy_pass http://unix:…:`, a stale
 * file replaced and a live socket or a regular file refused (exit 2, the
 * file untouched), the file removed by a reload that drops the listener
 * and left by SIGKILL (stale at the next start), and systemd's socket
 * handed over by `systemd-socket-activate` (served, never unlinked).
 */
import assert from "node:assert/strict";
import {
  freePort,
  ROOT_DIR,
  runCli,
  startDaemon,
  type TestDaemon,
} from "../_helpers.ts";
import {
  delay,
  koanArgs,
  nginxConf,
  runTool,
  spawnService,
  tempDir,
  tool,
  type ToolRun,
} from "../service/_service.ts";
import type { ModelName } from "../../mod/config/settings.ts";

const MODELS: ModelName[] = [
  "iterative",
  "async",
  "threads",
  "processes",
  "thread-per-connection",
  "process-per-connection",
];

/** `curl --unix-socket path http://localhost{target}`: the body. */
async function curlUnix(path: string, target = "/"): Promise<string> {
  const result = await runTool(tool("curl"), [
    "-sS",
    "--max-time",
    "10",
    "--unix-socket",
    path,
    `http://localhost${target}`,
  ]);
  assert.equal(result.code, 0, `curl: ${result.stderr}`);
  return result.stdout;
}

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
}

function listenerToml(
  path: string,
  model: ModelName,
  more: Record<string, string | number> = {},
): string {
  const lines = [
    "[[listener]]",
    'protocol = "http"',
    `address = "unix:${path}"`,
    `model = "${model}"`,
    "workers = 2",
    'socket_mode = "0660"',
    ...Object.entries(more).map(([key, value]) =>
      `${key} = ${JSON.stringify(value)}`
    ),
  ];
  return lines.join("\n") + "\n";
}

/** koan serving `toml`; resolves once it listens on `path`. */
async function serveAt(
  path: string,
  toml: string,
  args: string[] = [],
): Promise<TestDaemon> {
  const daemon = await startDaemon(args, { config: toml });
  try {
    await daemon.waitForLog(
      new RegExp(`listening on unix:${escape(path)} \\(`),
    );
  } catch (error) {
    await daemon.abort();
    throw error;
  }
  return daemon;
}

function exists(path: string): boolean {
  try {
    Deno.lstatSync(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

/** Waits until `test` holds, for at most `timeoutMs`. */
async function until(
  test: () => boolean,
  what: string,
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!test()) {
    if (Date.now() > deadline) throw new Error(`never: ${what}`);
    await delay(50);
  }
}

function reloads(daemon: TestDaemon): number {
  return daemon.log.match(/\breloaded from /g)?.length ?? 0;
}

/** A socket file whose process died: bound, then closed without unlinking. */
async function staleSocket(path: string): Promise<void> {
  const result = await runTool("python3", [
    "-c",
    "import socket, sys\n" +
    "s = socket.socket(socket.AF_UNIX)\n" +
    "s.bind(sys.argv[1]); s.listen(1); s.close()",
    path,
  ]);
  assert.equal(result.code, 0, result.stderr);
  assert.ok(Deno.lstatSync(path).isSocket);
}

for (const model of MODELS) {
  Deno.test(`unix socket (${model}): curl gets Hello, world!, the access log says unix, the file has socket_mode and goes at exit`, async () => {
    await using dir = await tempDir();
    const path = `${dir.path}/http.sock`;
    const daemon = await serveAt(path, listenerToml(path, model));
    try {
      assert.equal(await curlUnix(path), "Hello, world!");
      const info = Deno.lstatSync(path);
      assert.ok(info.isSocket);
      assert.equal((info.mode! & 0o777).toString(8), "660");
      // Access lines are written within 50 ms; the combined format's
      // $remote_addr is the peer.
      await daemon.waitForLog(/^unix - - \[[^\]]+\] "GET \/ HTTP\/1\.1" 200 /m);
      assert.deepEqual(
        [...Deno.readDirSync(dir.path)].map((e) => e.name),
        ["http.sock"],
        "no temporary name left beside it",
      );
    } finally {
      assert.equal((await daemon.shutdown()).code, 0, daemon.log);
    }
    assert.equal(exists(path), false, "removed at the clean exit");
  });
}

Deno.test("unix socket: /status.json lists the listener as unix:/path", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/http.sock`;
  const daemon = await serveAt(
    path,
    listenerToml(path, "async") + '\n[http]\nadmin = "on"\n',
  );
  try {
    const status = JSON.parse(await curlUnix(path, "/status.json"));
    const listeners = status.listeners as { address: string }[];
    assert.deepEqual(listeners.map((l) => l.address), [`unix:${path}`]);
  } finally {
    assert.equal((await daemon.shutdown()).code, 0, daemon.log);
  }
});

Deno.test("unix socket: processes with concurrency = 1 (the master hands clients over) answers every client", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/http.sock`;
  const daemon = await serveAt(
    path,
    listenerToml(path, "processes", { concurrency: 1 }),
  );
  try {
    const bodies = await Promise.all(
      Array.from({ length: 4 }, () => curlUnix(path)),
    );
    assert.deepEqual(bodies, Array(4).fill("Hello, world!"));
  } finally {
    assert.equal((await daemon.shutdown()).code, 0, daemon.log);
  }
});

Deno.test("unix socket: the seeds' Zen client gets its answers through socat", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/zen.sock`;
  const daemon = await serveAt(path, "", ["--zen", `unix:${path}`]);
  const port = freePort();
  const socat = spawnService(tool("socat"), [
    `TCP-LISTEN:${port},bind=127.0.0.1,reuseaddr,fork`,
    `UNIX-CONNECT:${path}`,
  ]);
  try {
    let result: ToolRun | undefined;
    for (let i = 0; i < 100; i++) {
      result = await runTool("python3", [
        `${ROOT_DIR}tests/fixtures/seed_client.py`,
        "127.0.0.1",
        "-p",
        String(port),
      ]);
      // Refused until socat listens; the client then prints a traceback.
      if (result.code === 0 || !/ConnectionRefused/.test(result.stderr)) break;
      await delay(50);
    }
    assert.equal(result!.code, 0, result!.stderr);
    for (
      const line of [
        "b'Beautiful is better than?' b'ugly.'",
        "b'Explicit is better than?' b'implicit.'",
        "b'Simple is better than?' b'complex.'",
      ]
    ) {
      assert.ok(result!.stdout.includes(line), result!.stdout);
    }
    await daemon.waitForLog(/\bunix zen in=\d+ out=\d+ requests=3 /);
  } finally {
    await socat[Symbol.asyncDispose]();
    assert.equal((await daemon.shutdown()).code, 0, daemon.log);
  }
});

Deno.test("unix socket: nginx's proxy_pass http://unix:…: answers through koan", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/http.sock`;
  const daemon = await serveAt(path, listenerToml(path, "async"));
  const port = freePort();
  const conf = `${dir.path}/nginx.conf`;
  await Deno.writeTextFile(
    conf,
    nginxConf(dir.path, {
      http: [
        `upstream koan { server unix:${path}; }`,
        "server {",
        `  listen 127.0.0.1:${port};`,
        "  location / { proxy_pass http://koan; }",
        `  location /direct { proxy_pass http://unix:${path}:/; }`,
        "}",
      ],
    }),
  );
  const nginx = spawnService(tool("nginx"), ["-c", conf, "-p", dir.path]);
  try {
    let body = "";
    for (let i = 0; i < 100; i++) {
      const result = await runTool(tool("curl"), [
        "-sS",
        "--max-time",
        "5",
        `http://127.0.0.1:${port}/direct`,
      ]);
      body = result.stdout;
      if (result.code === 0) break;
      await delay(50); // nginx not listening yet
    }
    assert.equal(body, "Hello, world!");
    const upstream = await runTool(tool("curl"), [
      "-sS",
      "--max-time",
      "5",
      `http://127.0.0.1:${port}/zen?q=Flat%20is%20better%20than%3F`,
    ]);
    assert.equal(upstream.stdout.trim(), "nested.");
    await daemon.waitForLog(/^unix - - .*"GET \/zen\?q=/m);
  } finally {
    await nginx[Symbol.asyncDispose]();
    assert.equal((await daemon.shutdown()).code, 0, daemon.log);
  }
});

Deno.test("unix socket: a stale file is replaced; a live socket and a regular file are refused with exit 2, untouched", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/http.sock`;
  await staleSocket(path);
  const stale = Deno.lstatSync(path).ino;
  const daemon = await serveAt(path, listenerToml(path, "async"));
  try {
    assert.equal(await curlUnix(path), "Hello, world!");
    assert.notEqual(Deno.lstatSync(path).ino, stale);
    // Now live: a second koan must not take it over.
    const second = await runCli(["serve", "--http", `unix:${path}`]);
    assert.equal(second.code, 2, second.stderr);
    assert.match(
      second.stderr,
      new RegExp(
        `^koan: address unix:${
          escape(path)
        }: another process is listening on it$`,
        "m",
      ),
    );
    assert.equal(await curlUnix(path), "Hello, world!", "the first serves on");
  } finally {
    assert.equal((await daemon.shutdown()).code, 0, daemon.log);
  }
  const file = `${dir.path}/file`;
  await Deno.writeTextFile(file, "not a socket");
  const refused = await runCli(["serve", "--http", `unix:${file}`]);
  assert.equal(refused.code, 2, refused.stderr);
  assert.match(
    refused.stderr,
    new RegExp(`^koan: address unix:${escape(file)}: is a regular file`, "m"),
  );
  assert.equal(await Deno.readTextFile(file), "not a socket");
});

Deno.test("unix socket: a reload that drops the listener removes the file; one that moves it to threads keeps serving", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/zen.sock`;
  const port = freePort();
  const tcp =
    `[[listener]]\nprotocol = "http"\naddress = "127.0.0.1:${port}"\n`;
  const daemon = await serveAt(path, tcp + listenerToml(path, "async"));
  try {
    const config = daemon.configPath!;
    await Deno.writeTextFile(config, tcp + listenerToml(path, "threads"));
    daemon.kill("SIGHUP");
    await until(() => reloads(daemon) === 1, "reloaded");
    await daemon.waitForLog(
      new RegExp(`listening on unix:${escape(path)} \\(http, threads`),
    );
    assert.equal(await curlUnix(path), "Hello, world!");
    await until(
      () => /draining the old http listener on unix:/.test(daemon.log),
      "the async listener retired",
    );
    assert.ok(exists(path), "the old listener's exit leaves the new file");
    assert.equal(await curlUnix(path), "Hello, world!");
    await Deno.writeTextFile(config, tcp);
    daemon.kill("SIGHUP");
    await until(() => reloads(daemon) === 2, "reloaded again");
    await until(() => !exists(path), "the dropped listener's file removed");
  } finally {
    assert.equal((await daemon.shutdown()).code, 0, daemon.log);
  }
});

Deno.test("unix socket: SIGKILL leaves the file, and the next start finds it stale", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/http.sock`;
  const first = await serveAt(path, listenerToml(path, "async"));
  first.kill("SIGKILL");
  await first.exited;
  await first.shutdown(); // removes the temp config
  assert.ok(Deno.lstatSync(path).isSocket, "left behind");
  const second = await serveAt(path, listenerToml(path, "async"));
  try {
    assert.equal(await curlUnix(path), "Hello, world!");
  } finally {
    assert.equal((await second.shutdown()).code, 0, second.log);
  }
  assert.equal(exists(path), false);
});

for (const model of ["async", "processes"] as const) {
  Deno.test(`unix socket (${model}): systemd's socket is served, and left in place at exit`, async () => {
    await using dir = await tempDir();
    const path = `${dir.path}/koan.sock`;
    const service = spawnService(tool("systemd-socket-activate"), [
      "-l",
      path,
      "--fdname=http",
      ...koanArgs(["serve", "--model", model, "--workers", "2"]),
    ]);
    try {
      await service.waitForLog(
        new RegExp(`Listening on ${escape(path)} as 3`),
      );
      // koan starts at the first connection, which waits in the queue.
      assert.equal(await curlUnix(path), "Hello, world!");
      await service.waitForLog(
        new RegExp(
          `listening on unix:${
            escape(path)
          } \\(http, ${model}, socket-activated fd 3\\)`,
        ),
      );
      assert.equal(await curlUnix(path), "Hello, world!");
    } finally {
      assert.equal((await service.shutdown()).code, 0, service.log);
    }
    assert.ok(Deno.lstatSync(path).isSocket, "systemd's file is not unlinked");
  });
}
