/**
 * `deno task bench`: koan measured as users run it, each figure side by
 * side with a peer in the same run (ratios, not absolute times, over three
 * rounds with min and median: these machines are noisy). Every section
 * prints its table; at the end one summary gives every target with PASS or
 * MISS. Results go to dist/bench/ (kept out of git): `bench-<time>.json`
 * and the charts `bench-<time>-summary.svg`, `-rss.svg` and `-http.svg`.
 *
 * Usage: deno task bench [--seconds N] [--only zen,many,http,tls,inetd,models]
 *
 * @module
 */
import { parseArgs } from "node:util";
import { renderChart, renderLineChart, renderRatioChart } from "../svg.ts";
import { benchZen } from "./zen.ts";
import { benchMany } from "./many.ts";
import { benchHttp } from "./http.ts";
import { benchTls } from "./tls.ts";
import { benchInetd } from "./inetd.ts";
import { benchModels, formatRows } from "./models.ts";
import { aside, type Check, check, formatSummary, stats } from "./summary.ts";

const SECTIONS = ["zen", "many", "http", "tls", "inetd", "models"] as const;

const USAGE = `Usage: deno task bench [--seconds N] [--only ${
  SECTIONS.join(",")
}]`;

function parseFlags() {
  try {
    return parseArgs({
      args: Deno.args,
      options: {
        seconds: { type: "string", default: "5" },
        only: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    }).values;
  } catch (error) {
    // parseArgs throws a TypeError for an unknown option or a missing value.
    if (!(error instanceof TypeError)) throw error;
    // One line (DESIGN §2); --help has the usage.
    const message = error.message.replace(
      /\. To specify a positional argument starting with.*$/,
      "",
    );
    console.error(
      `deno task bench: ${message} (see "deno task bench --help")`,
    );
    Deno.exit(2);
  }
}

const values = parseFlags();
if (values.help) {
  console.log(USAGE);
  Deno.exit(0);
}
const seconds = Number(values.seconds);
if (!Number.isFinite(seconds) || seconds < 1) {
  console.error(
    `--seconds must be a number of at least 1, got "${values.seconds}"`,
  );
  Deno.exit(2);
}
const only = values.only ? new Set(values.only.split(",")) : undefined;
for (const name of only ?? []) {
  if (!(SECTIONS as readonly string[]).includes(name)) {
    console.error(
      `--only: no section "${name}"; there are ${SECTIONS.join(", ")}`,
    );
    Deno.exit(2);
  }
}
const wanted = (name: (typeof SECTIONS)[number]) => !only || only.has(name);
const failures: { section: string; error: string }[] = [];

/**
 * Runs one section when it is wanted. A section that fails is reported and
 * the run goes on to the others (a long run is not lost to its last
 * section); the exit status then says so.
 */
async function section(
  name: (typeof SECTIONS)[number],
  run: () => Promise<void>,
): Promise<void> {
  if (!wanted(name)) return;
  try {
    await run();
  } catch (error) {
    // Any error ends only this section: it is printed in full, kept in the
    // JSON and turns the exit status to 1.
    const text = error instanceof Error
      ? error.stack ?? error.message
      : String(error);
    console.log(`\n${name}: FAILED\n${text}`);
    failures.push({ section: name, error: text });
  }
}
const report: Record<string, unknown> = {
  date: new Date().toISOString(),
  seconds,
  cpus: navigator.hardwareConcurrency,
};
const checks: Check[] = [];

/** The HTTP comparisons: each at least `target`. */
const HTTP_TARGETS = [
  {
    key: "koanDefaultVsNginx",
    name: "keep-alive: koan default config / nginx",
    target: 0.9,
    note: ", aim 1.0x",
  },
  {
    key: "koanOffVsDenoServe",
    name: "keep-alive: koan access log off / Deno.serve",
    target: 1,
    note: "",
  },
  {
    key: "accessOnVsOff",
    name: "keep-alive: koan access log on / off",
    target: 0.9,
    note: ": at most 10% overhead",
  },
  {
    key: "pipelinedKoanOffVsDenoServe",
    name: "pipelined x16: koan access log off / Deno.serve",
    target: 0.9,
    note: "",
  },
] as const;
const charts: Record<string, string> = {};
const MIB = 2 ** 20;

function table(rows: object[]): void {
  console.table(rows.map((row) =>
    Object.fromEntries(
      Object.entries(row).map((
        [k, v],
      ) => [k, typeof v === "number" ? Number(v.toFixed(2)) : v]),
    )
  ));
}

/** A check's name, with the median of its ceiling when it has one. */
function withCeiling(c: Check): string {
  const ceiling = c.asides?.find((a) => a.kind === "ceiling");
  return ceiling ? `${c.name} (ceiling ${ceiling.median.toFixed(2)}x)` : c.name;
}

/** "min 0.91x, median 0.97x" for per-round ratios. */
function minMedian(ratios: number[]): string {
  const { min, median } = stats(ratios);
  return `min ${min.toFixed(2)}x, median ${
    median.toFixed(2)
  }x over ${ratios.length} rounds`;
}

await section("zen", async () => {
  console.log(
    `\n== Zen QPS, 50 closed-loop clients, ${seconds} s x 3 rounds ==`,
  );
  const zen = await benchZen({ seconds });
  table(zen.rows);
  console.log(
    `koan async / raw Deno.listen loop: ${
      minMedian(zen.ratios)
    } (target >= 0.95x)`,
  );
  checks.push(
    check("Zen QPS: koan async / raw Deno.listen loop", zen.ratios, {
      op: ">=",
      value: 0.95,
    }),
  );
  report.zen = zen;
});

await section("many", async () => {
  console.log(
    "\n== Idle Zen connections vs the daemon's RSS (koan async); 10,000 asking at once ==",
  );
  const many = await benchMany({
    onProgress: (message) => console.error(`  ${message}`),
  });
  table(many.curve);
  for (const note of many.notes) console.log(`note: ${note}`);
  const a = many.answers;
  const n = a.connections.toLocaleString("en-US");
  console.log(
    `${n} connections open, daemon RSS ${
      a.idleRssMiB.toFixed(1)
    } MiB; then all ask at once, ${a.rounds.length} rounds on the same connections:`,
  );
  table(a.rounds);
  console.log(
    "targets: all answered in every round, RSS <= 150 MiB after every round, p99 <= 1000 ms (median round)",
  );
  const rounds = (key: "answered" | "rssMiB" | "p99Ms") =>
    a.rounds.map((round) => round[key]);
  checks.push(
    check(
      `10k Zen connections asking at once: answered of ${n}`,
      rounds("answered"),
      { op: ">=", value: 10_000 },
      "answered",
      "worst",
    ),
    check(
      `10k Zen connections: daemon RSS after the answers`,
      rounds("rssMiB"),
      { op: "<=", value: 150 },
      "MiB",
      "worst",
    ),
    check(
      `10k Zen connections: p99 latency, all asking at once`,
      rounds("p99Ms"),
      { op: "<=", value: 1000 },
      "ms",
    ),
  );
  charts.rss = renderLineChart({
    title: "koan async: idle Zen connections and the daemon's memory",
    xLabel: many.notes.length
      ? `idle connections held (the top step capped at ${
        many.cap.toLocaleString("en-US")
      } by the open-file limit)`
      : "idle connections held",
    yLabel: "resident memory of the daemon (VmRSS), MiB",
    yUnit: "MiB",
    points: many.curve.map((p) => ({ x: p.accepted, y: p.rssMiB })),
    limit: { y: 150, label: "target at 10,000: 150 MiB" },
  });
  report.many = many;
});

await section("http", async () => {
  console.log(
    `\n== HTTP GET /, wrk -t2 -c50, ${seconds} s x 3 rounds; servers on CPU 0, wrk on CPU 1 ==`,
  );
  const http = await benchHttp({
    seconds,
    onProgress: (message) => console.error(`  ${message}`),
  });
  table(http.rows.map((row) => ({ ...row, rps: Math.round(row.rps) })));
  const byCpu = (key: keyof typeof http.ratios) => {
    const cpu = http.cpuRatios[key];
    return cpu.length
      ? `; by CPU per response ${stats(cpu).median.toFixed(2)}x`
      : "";
  };
  // koan parses HTTP in TypeScript over Deno.listen, Deno.serve in Rust:
  // the raw loop is the most any Deno.listen server can do against it.
  const { rawLoopVsDenoServe, koanOffVsRawLoop } = http.ratios;
  const ceiling = [
    aside(
      "ceiling on Deno.listen: raw loop / Deno.serve",
      rawLoopVsDenoServe,
      "ceiling",
    ),
    aside("koan access log off / raw Deno.listen loop", koanOffVsRawLoop),
  ];
  for (const { key, name, target, note } of HTTP_TARGETS) {
    console.log(
      `${name}: ${minMedian(http.ratios[key])} (target >= ${
        target.toFixed(2)
      }x${note})${byCpu(key)}`,
    );
    checks.push({
      ...check(`HTTP ${name}`, http.ratios[key], { op: ">=", value: target }),
      ...(key === "koanOffVsDenoServe" ? { asides: ceiling } : {}),
    });
  }
  console.log(
    `keep-alive: raw Deno.listen loop / Deno.serve, the ceiling of koan / Deno.serve: ${
      minMedian(rawLoopVsDenoServe)
    } (no target)${byCpu("rawLoopVsDenoServe")}`,
  );
  console.log(
    `keep-alive: koan access log off / raw Deno.listen loop, how close koan comes to it: ${
      minMedian(koanOffVsRawLoop)
    } (no target)${byCpu("koanOffVsRawLoop")}`,
  );
  console.log(
    "(by CPU per response: the second server's CPU time per response over the first's, steadier than requests per second on a shared machine)",
  );
  const logs = http.accessLogBytes;
  console.log(
    `access logs written: nginx ${(logs.nginx / MIB).toFixed(1)} MiB, koan ${
      (logs.koan / MIB).toFixed(1)
    } MiB (${
      http.accessFile
        ? "koan's [log] access_file"
        : "koan's [log] file: this koan has no access_file"
    })`,
  );
  charts.http = renderChart(
    `HTTP GET /, wrk -t2 -c50, ${seconds} s, medians of 3 rounds`,
    // Keep-alive only: pipelining's far larger rates would flatten the rest.
    http.rows.filter((row) => row.name.endsWith("keep-alive")).map((row) => ({
      label: row.name,
      qps: row.rps,
      p99: row.p99Ms ?? 0,
      errors: row.errors,
    })),
  );
  report.http = http;
});

await section("tls", async () => {
  console.log(
    `\n== HTTPS GET /, wrk -t2 -c50 keep-alive, ${seconds} s x 3 rounds; koan async and nginx, same certificate; plain HTTP beside ==`,
  );
  const tls = await benchTls({
    seconds,
    onProgress: (message) => console.error(`  ${message}`),
  });
  table(tls.rows.map((row) => ({ ...row, rps: Math.round(row.rps) })));
  const cpu = tls.cpuKoanVsNginxHttps;
  console.log(
    `HTTPS keep-alive: koan / nginx: ${minMedian(tls.ratios.koanVsNginxHttps)}${
      cpu.length ? `; by CPU per response ${stats(cpu).median.toFixed(2)}x` : ""
    } (no target)`,
  );
  console.log(
    `HTTP keep-alive, same rounds: koan / nginx: ${
      minMedian(tls.ratios.koanVsNginxHttp)
    }`,
  );
  console.log(
    `TLS kept of plain HTTP: koan ${
      minMedian(tls.ratios.koanHttpsVsHttp)
    }; nginx ${minMedian(tls.ratios.nginxHttpsVsHttp)}`,
  );
  report.tls = tls;
});

await section("inetd", async () => {
  console.log("\n== koan inetd: connect to first byte, 3 rounds ==");
  const inetd = await benchInetd({
    rounds: 3,
    onProgress: (message) => console.error(`  ${message}`),
  });
  table(inetd.rows);
  console.log(
    `koan inetd / trivial Deno program, connect to first byte: ${
      minMedian(inetd.ratios)
    } (target <= 2x)`,
  );
  checks.push(
    check(
      "inetd connect to first byte: koan / trivial Deno program",
      inetd.ratios,
      { op: "<=", value: 2 },
    ),
  );
  report.inetd = inetd;
});

await section("models", async () => {
  console.log(
    `\n== Every model x (Zen fast, Zen 50 ms blocking work, HTTP keep-alive), ${seconds} s each ==`,
  );
  const rows = await benchModels({
    seconds,
    onProgress: (workload, model) => console.error(`  ${workload} / ${model}`),
  });
  console.log(formatRows(rows));
  report.models = rows;
});

if (checks.length > 0) {
  console.log(
    '\n== Summary: every target (the median round decides; "every round": the worst) ==',
  );
  console.log(formatSummary(checks));
  const ratios = checks.filter((c) => c.unit === "x");
  if (ratios.length > 0) {
    charts.summary = renderRatioChart(
      "deno task bench: koan against its peers",
      ratios.map((c) => ({
        label: withCeiling(c),
        min: c.min,
        median: c.median,
        target: c.target.value,
        op: c.target.op,
        pass: c.verdict === "PASS",
      })),
    );
  }
}
report.summary = checks;
report.failures = failures;
if (failures.length > 0) {
  console.log(
    `\nsections that failed: ${failures.map((f) => f.section).join(", ")}`,
  );
  Deno.exitCode = 1;
}

const dist = new URL("../../../dist/bench/", import.meta.url);
await Deno.mkdir(dist, { recursive: true });
const stem = `bench-${Date.now()}`;
const out = new URL(`${stem}.json`, dist);
await Deno.writeTextFile(out, JSON.stringify(report, null, 2));
console.log(`\nresults written to ${out.pathname}`);
for (const [name, svg] of Object.entries(charts)) {
  const file = new URL(`${stem}-${name}.svg`, dist);
  await Deno.writeTextFile(file, svg);
  console.log(`chart written to ${file.pathname}`);
}
