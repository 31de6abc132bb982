/**
 * One model switch by SIGHUP under steady Zen load, shared by the reload
 * tests. Run as a script (`deno run -A _switch.ts FROM TO`) it prints the
 * result as JSON: that is how a test runs it inside a network namespace of
 * its own (`unshare --net`), where it may set per-namespace sysctls such as
 * `net.ipv4.tcp_migrate_req` without touching the machine's.
 *
 * @module
 */
import { freePort, startDaemon } from "../_helpers.ts";
import { type LoadResult, tempDir, tool, ZenLoad } from "./_service.ts";

/** A `[[listener]]` table for a Zen listener on `port` with `model`. */
export function listenerToml(port: number, model: string): string {
  return [
    "[[listener]]",
    `protocol = "zen"`,
    `address = "127.0.0.1:${port}"`,
    `model = "${model}"`,
    ...(model === "threads" || model === "processes") ? ["workers = 2"] : [],
  ].join("\n");
}

/**
 * Starts koan on `from`, puts 4 clients of load on it, switches the config
 * to `to` and sends SIGHUP, waits for the new model to serve 300 more
 * requests, and returns the counts.
 */
export async function switchUnderLoad(
  from: string,
  to: string,
): Promise<LoadResult> {
  await using dir = await tempDir();
  const port = freePort();
  const config = `${dir.path}/koan.toml`;
  const write = (model: string) =>
    Deno.writeTextFile(
      config,
      `${listenerToml(port, model)}\n[log]\naccess = false\n`,
    );
  await write(from);
  await using daemon = await startDaemon(["--config", config], {
    ports: [port],
  });
  const load = new ZenLoad(port, { clients: 4 });
  try {
    await load.reach(100);
    await write(to);
    daemon.kill("SIGHUP");
    await daemon.waitForLog(
      new RegExp(`listening on 127\\.0\\.0\\.1:${port} \\(zen, ${to}\\)`),
    );
    await daemon.waitForLog(/reloaded/);
    const base = load.result.ok;
    // A worker per connection is slow to start: ask less of those models.
    await load.reach(base + (to.endsWith("per-connection") ? 100 : 300));
  } finally {
    await load.stop();
  }
  return load.result;
}

/** Options for {@linkcode switchInNamespace}. */
export interface NamespaceOptions {
  /** Set net.ipv4.tcp_migrate_req=1 in the namespace. */
  migrate: boolean;
}

/**
 * Runs {@linkcode switchUnderLoad} in a fresh network namespace (root only:
 * CI runs as root) with loopback up and, if asked, tcp_migrate_req on.
 */
export async function switchInNamespace(
  from: string,
  to: string,
  options: NamespaceOptions,
): Promise<LoadResult> {
  const script = new URL(import.meta.url).pathname;
  const setup = [
    `${tool("ip")} link set lo up`,
    options.migrate ? "echo 1 > /proc/sys/net/ipv4/tcp_migrate_req" : "true",
    `exec '${Deno.execPath()}' run -A --quiet '${script}' '${from}' '${to}'`,
  ].join(" && ");
  const output = await new Deno.Command(tool("unshare"), {
    args: ["--net", "--", "sh", "-c", setup],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stdout = new TextDecoder().decode(output.stdout);
  if (!output.success) {
    throw new Error(
      `switch in a network namespace failed (exit ${output.code}):\n${stdout}\n${
        new TextDecoder().decode(output.stderr)
      }`,
    );
  }
  return JSON.parse(stdout.trim().split("\n").at(-1)!) as LoadResult;
}

if (import.meta.main) {
  const [from, to] = Deno.args;
  if (!from || !to) throw new Error("usage: _switch.ts FROM TO");
  console.log(JSON.stringify(await switchUnderLoad(from, to)));
}
