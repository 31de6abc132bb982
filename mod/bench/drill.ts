/**
 * `koan bench --drill`: the reload/shutdown self-test. Holds connections
 * with requests in flight, fires SIGHUP and then SIGTERM at a daemon it
 * started, and reports every reset connection and lost answer — the bug
 * class behind gunicorn #2529 and keep-alive resets on reload.
 *
 * Rules: during and after SIGHUP every request must be answered. At
 * SIGTERM clients stop sending; every request already in flight must be
 * answered, then the daemon must exit 0 and refuse new connections.
 *
 * The daemon's own ledger of lost connections (its `ledger:` log lines for
 * the reload and the stop) is read back and set beside what the clients
 * saw: the two must agree. They cannot where the kernel, not koan, drops
 * a client — a connection queued in the backlog when the listening socket
 * closes is reset without koan ever accepting it; the drill's clients stop
 * connecting at SIGTERM, so in the drill that does not happen.
 *
 * @module
 */
import { type LoggedEvent, parseLedgerLines } from "../metrics/ledger.ts";
import { ignoring, isOneOf } from "../util/errors.ts";
import { startBenchDaemon } from "./spawn_daemon.ts";

/** Options for {@linkcode runDrill}. */
export interface DrillOptions {
  protocol: "zen" | "http";
  model: string;
  workers?: number;
  /** Connections held open. @default {20} */
  connections?: number;
  /** Simulated work per Zen answer so answers are in flight at the signals. @default {100} */
  workMs?: number;
  /** When to send SIGHUP (ms after load starts). @default {1000} */
  hupAfterMs?: number;
  /** When to send SIGTERM. @default {2500} */
  termAfterMs?: number;
}

/** What the drill saw. */
export interface DrillResult {
  model: string;
  protocol: string;
  /** Requests written. */
  sent: number;
  /** Complete answers received. */
  answered: number;
  /** Requests written but never answered. */
  lost: number;
  /** Connections reset or closed with a request outstanding. */
  resets: number;
  /** Requests in flight when SIGTERM was sent. */
  inFlightAtTerm: number;
  /** Whether a new connection after SIGTERM was refused. */
  refusedAfterTerm: boolean;
  /** Daemon exit code. */
  exitCode: number;
  /** ms from SIGTERM to exit. */
  stopMs: number;
  /** First few failure messages. */
  samples: string[];
  /** The daemon's ledger events for the reload and the stop, as it logged them. */
  ledger: LoggedEvent[];
  /** Connections the ledger counts lost (refused or cut). */
  ledgerLost: number;
  /** Whether the ledger's losses equal the connections the clients lost. */
  agrees: boolean;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Runs the drill once. */
export async function runDrill(options: DrillOptions): Promise<DrillResult> {
  const workMs = options.workMs ?? 100;
  const daemon = await startBenchDaemon({
    protocol: options.protocol,
    model: options.model,
    ...(options.workers ? { workers: options.workers } : {}),
    sections: {
      zen: { work: "sleep", work_ms: workMs },
      limits: { shutdown_timeout: 20 },
    },
  });
  const request = encoder.encode(
    options.protocol === "zen"
      ? "Beautiful is better than?"
      : "GET /zen?q=Beautiful%20is%20better%20than%3F HTTP/1.1\r\nHost: drill\r\n\r\n",
  );
  let sent = 0;
  let answered = 0;
  let lost = 0;
  let resets = 0;
  let inFlight = 0;
  let stopping = false;
  const samples: string[] = [];

  const complete = (text: string): { done: boolean; close: boolean } => {
    if (options.protocol === "zen") {
      return { done: text.endsWith("."), close: false };
    }
    const end = text.indexOf("\r\n\r\n");
    if (end < 0) return { done: false, close: false };
    const head = text.slice(0, end).toLowerCase();
    const length = Number(/content-length:\s*(\d+)/.exec(head)?.[1] ?? 0);
    return {
      done: text.length >= end + 4 + length,
      close: /\r\nconnection:\s*close/.test(head),
    };
  };

  async function client(): Promise<void> {
    while (!stopping) {
      let conn: Deno.TcpConn;
      try {
        conn = await Deno.connect({ hostname: "127.0.0.1", port: daemon.port });
      } catch (error) {
        if (!stopping) {
          resets++;
          if (samples.length < 5) {
            samples.push(`connect: ${(error as Error).message}`);
          }
        }
        return;
      }
      const buffer = new Uint8Array(4096);
      try {
        while (!stopping) {
          await conn.write(request);
          sent++;
          inFlight++;
          let text = "";
          let state = { done: false, close: false };
          while (!state.done) {
            const n = await conn.read(buffer);
            if (n === null) {
              throw new Error("closed with a request outstanding");
            }
            text += decoder.decode(buffer.subarray(0, n));
            state = complete(text);
          }
          inFlight--;
          answered++;
          if (state.close) break; // the server asked to close: reconnect
        }
      } catch (error) {
        inFlight--;
        lost++;
        resets++;
        if (samples.length < 5) samples.push((error as Error).message);
      } finally {
        // Only this closes it, and close() does not throw for a connection
        // the peer closed or reset (checked on Deno 2.9.6).
        conn.close();
      }
    }
  }

  const clients = Array.from({ length: options.connections ?? 20 }, client);
  await new Promise((resolve) =>
    setTimeout(resolve, options.hupAfterMs ?? 1000)
  );
  daemon.kill("SIGHUP");
  await new Promise((resolve) =>
    setTimeout(
      resolve,
      (options.termAfterMs ?? 2500) - (options.hupAfterMs ?? 1000),
    )
  );
  stopping = true;
  const inFlightAtTerm = inFlight;
  const termAt = performance.now();
  daemon.kill("SIGTERM");
  // New connections must now be refused (or closed without service).
  await new Promise((resolve) => setTimeout(resolve, Math.min(200, workMs)));
  let refusedAfterTerm = false;
  try {
    const probe = await Deno.connect({
      hostname: "127.0.0.1",
      port: daemon.port,
    });
    const timer = setTimeout(() => probe.close(), 1000);
    // After TERM the probe is expected to fail in any way (refused, reset,
    // closed by the timer): only an answer counts.
    await probe.write(request).catch(() => 0);
    const n = await probe.read(new Uint8Array(64)).catch(() => null);
    clearTimeout(timer);
    refusedAfterTerm = n === null;
    // Closed by the timer already: a second close() throws BadResource.
    ignoring(Deno.errors.BadResource, () => probe.close());
  } catch (error) {
    // Refused outright, or reset as the listening socket closed.
    if (
      !isOneOf(error, [
        Deno.errors.ConnectionRefused,
        Deno.errors.ConnectionReset,
      ])
    ) throw error;
    refusedAfterTerm = true;
  }
  await Promise.all(clients);
  const exitCode = await daemon.exited;
  const stopMs = performance.now() - termAt;
  await daemon.stop();
  const ledger = parseLedgerLines(daemon.log()).filter((event) =>
    event.kind === "reload" || event.kind === "stop"
  );
  const ledgerLost = ledger.reduce((n, event) => n + event.lost, 0);
  return {
    model: options.model,
    protocol: options.protocol,
    sent,
    answered,
    lost,
    resets,
    inFlightAtTerm,
    refusedAfterTerm,
    exitCode,
    stopMs,
    samples,
    ledger,
    ledgerLost,
    // A client counts a lost request once, on the connection it lost.
    agrees: ledgerLost === resets &&
      ledger.some((e) => e.kind === "reload") &&
      ledger.some((e) => e.kind === "stop"),
  };
}
