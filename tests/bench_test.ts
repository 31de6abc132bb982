/**
 * `koan bench` against real daemons: exact request counts, errors counted
 * when the server dies, the model comparison's table, chart and JSON, and
 * the drill's verdict.
 */
import assert from "node:assert/strict";
import { freePort, MAIN, RUN_FLAGS, runCli, startDaemon } from "./_helpers.ts";

Deno.test("koan bench -n sends exactly N requests and the server answers them all", async () => {
  const port = freePort();
  await using daemon = await startDaemon(["--zen", `127.0.0.1:${port}`], {
    ports: [port],
  });
  const result = await runCli([
    "bench",
    `127.0.0.1:${port}`,
    "-n",
    "1000",
    "-c",
    "10",
    "--pipeline",
    "3",
  ]);
  assert.equal(result.code, 0, result.stderr);
  assert.match(
    result.stdout,
    /^1000 requests in [\d.]+ s: \d+\/s, .* 0 errors\n$/,
  );
  await daemon.stop();
  const answered = [...daemon.log.matchAll(/requests=(\d+)/g)]
    .reduce((sum, m) => sum + Number(m[1]), 0);
  assert.equal(answered, 1000);
});

Deno.test("koan bench counts errors when the server is killed mid-run", async () => {
  const port = freePort();
  const daemon = await startDaemon(["--zen", `127.0.0.1:${port}`], {
    ports: [port],
  });
  const bench = new Deno.Command(Deno.execPath(), {
    args: [
      ...RUN_FLAGS,
      MAIN,
      "bench",
      `127.0.0.1:${port}`,
      "-d",
      "10",
      "-c",
      "8",
    ],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  await new Promise((resolve) => setTimeout(resolve, 1500));
  daemon.kill("SIGKILL");
  await daemon.exited;
  const output = await bench.output();
  const text = new TextDecoder().decode(output.stdout);
  assert.equal(output.code, 1, text);
  assert.match(text, / 8 errors/);
});

Deno.test("koan bench --model compares models with a table, an SVG chart and JSON", async () => {
  const dir = await Deno.makeTempDir();
  const result = await runCli([
    "bench",
    "--model",
    "iterative,async",
    "-d",
    "1",
    "-c",
    "4",
    "--out",
    `${dir}/report.svg`,
    "--json",
    `${dir}/report.json`,
  ]);
  assert.equal(result.code, 0, result.stdout + result.stderr);
  assert.match(
    result.stdout,
    /model\s+qps\s+p50 ms\s+p90 ms\s+p99 ms\s+errors\s+peak RSS MiB/,
  );
  assert.match(result.stdout, /\niterative\s+\d+\s/);
  assert.match(result.stdout, /\nasync\s+\d+\s/);
  const svg = await Deno.readTextFile(`${dir}/report.svg`);
  assert.match(svg, /^<svg [^>]*xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
  assert.match(svg, />iterative</);
  const json = JSON.parse(await Deno.readTextFile(`${dir}/report.json`));
  assert.equal(json.rows.length, 2);
  for (const row of json.rows) {
    assert.ok(
      row.qps > 0 && row.requests > 0 && row.peakRss > 10 * 2 ** 20,
      JSON.stringify(row),
    );
  }
  await Deno.remove(dir, { recursive: true });
});

Deno.test("koan bench --drill reports no lost answers for async", async () => {
  const result = await runCli(["bench", "--drill", "--model", "async"]);
  assert.equal(result.code, 0, result.stdout + result.stderr);
  assert.match(
    result.stdout,
    /drill zen\/async: sent (\d+), answered \1, lost 0, resets 0, in flight at TERM \d+, new connections after TERM refused, exit 0/,
  );
  // The daemon's ledger, read back, beside what the clients saw.
  assert.match(result.stdout, /ledger reload: 0 lost of \d+/);
  assert.match(result.stdout, /ledger stop: 0 lost of [1-9]\d*/);
  assert.match(result.stdout, /ledger 0 lost, clients 0 lost: agree/);
});

Deno.test("koan bench rejects bad options with exit 2", async () => {
  for (
    const args of [
      ["bench"],
      ["bench", "--model", "fibers"],
      ["bench", "127.0.0.1:1", "-c", "0"],
      ["bench", "127.0.0.1:1", "--protocol", "gopher"],
    ]
  ) {
    const result = await runCli(args);
    assert.equal(result.code, 2, `${args.join(" ")}: ${result.stderr}`);
    assert.match(result.stderr, /^koan: /);
  }
});

Deno.test("deno task bench answers --help and refuses a bad option with its usage, no stack trace", async () => {
  const suite = new URL("../mod/bench/suite/main.ts", import.meta.url);
  const run = async (...args: string[]) => {
    const output = await new Deno.Command(Deno.execPath(), {
      args: [...RUN_FLAGS, suite.pathname, ...args],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
    return {
      code: output.code,
      stdout: decode(output.stdout),
      stderr: decode(output.stderr),
    };
  };
  const help = await run("--help");
  assert.equal(help.code, 0);
  assert.match(help.stdout, /^Usage: deno task bench /);
  for (
    const [args, message] of [
      [
        ["--bogus"],
        /^deno task bench: Unknown option '--bogus' \(see "deno task bench --help"\)\n$/,
      ],
      [
        ["--seconds"],
        /^deno task bench: Option '--seconds <value>' argument missing \(see/,
      ],
      [["--only", "nope"], /^--only: no section "nope"/],
      [["--seconds", "0"], /^--seconds must be a number of at least 1/],
    ] as const
  ) {
    const result = await run(...args);
    assert.equal(result.code, 2, `${args.join(" ")}: ${result.stderr}`);
    assert.match(result.stderr, message);
    assert.doesNotMatch(result.stderr, /\bat \S+:\d+:\d+/, "a stack trace");
  }
});
