/**
 * koan's closed-loop load generator: N connections, each sends a request,
 * waits for the whole response, records the latency and goes again, for a
 * duration or a request count. Speaks Zen, echo and HTTP/1.1 keep-alive,
 * optionally pipelined. Used by `koan bench` and `deno task bench`.
 *
 * @module
 */

/** Protocols the generator speaks. */
export type LoadProtocol = "zen" | "echo" | "http";

/** Options for {@linkcode runLoad}. */
export interface LoadOptions {
  hostname?: string;
  port: number;
  protocol: LoadProtocol;
  /** Concurrent connections. @default {50} */
  connections?: number;
  /** Stop after this long (ms), unless `requests` is given. @default {5000} */
  durationMs?: number;
  /** Stop after exactly this many requests in total. */
  requests?: number;
  /** Requests in flight per connection (pipelining). @default {1} */
  pipeline?: number;
  /** Run this long (ms) first without recording. @default {0} */
  warmupMs?: number;
  /** Zen question. @default {"Beautiful is better than?"} */
  question?: string;
  /** HTTP path. @default {"/"} */
  path?: string;
  /** Echo payload size in bytes. @default {64} */
  echoBytes?: number;
  /** Called about every 250 ms with requests done so far. */
  onProgress?: (done: number, elapsedMs: number) => void;
}

/** What a run measured. */
export interface LoadResult {
  /** Requests answered while recording. */
  requests: number;
  /** Connections that failed (refused, reset, closed early, wrong answer). */
  errors: number;
  /** Recording time in ms. */
  durationMs: number;
  /** Requests per second. */
  qps: number;
  /** Latency percentiles in ms. */
  p50: number;
  p90: number;
  p99: number;
  /** First error messages, for the report. */
  errorSamples: string[];
}

const encoder = new TextEncoder();

/** Returns the `q` quantile of sorted `values`. */
export function quantile(values: Float64Array, q: number): number {
  if (values.length === 0) return 0;
  const index = Math.min(values.length - 1, Math.floor(q * values.length));
  return values[index]!;
}

/** Knows when a response is complete, per protocol. */
interface ResponseReader {
  /** Feeds bytes; returns how many whole responses they complete. */
  feed(bytes: Uint8Array): number;
}

function zenReader(): ResponseReader {
  return {
    feed(bytes) {
      let count = 0;
      for (let i = 0; i < bytes.length; i++) if (bytes[i] === 0x2e) count++;
      return count;
    },
  };
}

function echoReader(size: number): ResponseReader {
  let pending = 0;
  return {
    feed(bytes) {
      pending += bytes.length;
      const whole = Math.floor(pending / size);
      pending -= whole * size;
      return whole;
    },
  };
}

/** Minimal HTTP/1.1 response framing: status line, headers, Content-Length body. */
function httpReader(): ResponseReader {
  let buffer = "";
  const decoder = new TextDecoder("latin1");
  return {
    feed(bytes) {
      buffer += decoder.decode(bytes);
      let count = 0;
      for (;;) {
        const end = buffer.indexOf("\r\n\r\n");
        if (end < 0) break;
        const head = buffer.slice(0, end);
        const match = /\r\ncontent-length:\s*(\d+)/i.exec(head);
        const length = match ? Number(match[1]) : 0;
        if (buffer.length < end + 4 + length) break;
        if (!/^HTTP\/1\.[01] [23]\d\d/.test(head)) {
          throw new Error(`unexpected response: ${head.split("\r\n")[0]}`);
        }
        buffer = buffer.slice(end + 4 + length);
        count++;
      }
      return count;
    },
  };
}

function requestBytes(options: LoadOptions): Uint8Array {
  switch (options.protocol) {
    case "zen":
      return encoder.encode(options.question ?? "Beautiful is better than?");
    case "echo":
      return new Uint8Array(options.echoBytes ?? 64).fill(0x78);
    case "http":
      return encoder.encode(
        `GET ${options.path ?? "/"} HTTP/1.1\r\nHost: ${
          options.hostname ?? "127.0.0.1"
        }\r\n\r\n`,
      );
  }
}

function readerFor(options: LoadOptions): ResponseReader {
  switch (options.protocol) {
    case "zen":
      return zenReader();
    case "echo":
      return echoReader(options.echoBytes ?? 64);
    case "http":
      return httpReader();
  }
}

/**
 * Runs a closed-loop load and returns what it measured.
 *
 * @example Usage
 * ```ts ignore
 * import { runLoad } from "./load.ts";
 * const result = await runLoad({ port: 1060, protocol: "zen", requests: 100 });
 * console.log(result.qps);
 * ```
 */
export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  const connections = options.connections ?? 50;
  const pipeline = Math.max(1, options.pipeline ?? 1);
  const single = requestBytes(options);
  const batch = new Uint8Array(single.length * pipeline);
  for (let i = 0; i < pipeline; i++) batch.set(single, i * single.length);
  const latencies: number[] = [];
  const errorSamples: string[] = [];
  let errors = 0;
  let issued = 0;
  let done = 0;
  let recording = (options.warmupMs ?? 0) <= 0;
  const budget = options.requests;
  const durationMs = options.durationMs ?? 5000;
  let stop = false;
  let recordStart = performance.now();

  const warmup = options.warmupMs ?? 0;
  const timers: ReturnType<typeof setTimeout>[] = [];
  if (warmup > 0) {
    timers.push(setTimeout(() => {
      recording = true;
      recordStart = performance.now();
    }, warmup));
  }
  if (budget === undefined) {
    timers.push(setTimeout(() => stop = true, warmup + durationMs));
  }
  let progress: ReturnType<typeof setInterval> | undefined;
  if (options.onProgress) {
    progress = setInterval(
      () => options.onProgress!(done, performance.now() - recordStart),
      250,
    );
  }

  async function worker(): Promise<void> {
    let conn: Deno.TcpConn;
    try {
      conn = await Deno.connect({
        hostname: options.hostname ?? "127.0.0.1",
        port: options.port,
      });
      conn.setNoDelay(true);
    } catch (error) {
      errors++;
      if (errorSamples.length < 5) errorSamples.push((error as Error).message);
      return;
    }
    const reader = readerFor(options);
    const buffer = new Uint8Array(64 * 1024);
    try {
      while (!stop) {
        let count = pipeline;
        if (budget !== undefined) {
          count = Math.min(pipeline, budget - issued);
          if (count <= 0) break;
        }
        issued += count;
        const started = performance.now();
        await conn.write(
          count === pipeline ? batch : batch.subarray(0, single.length * count),
        );
        let answered = 0;
        while (answered < count) {
          const n = await conn.read(buffer);
          if (n === null) throw new Error("server closed the connection");
          answered += reader.feed(buffer.subarray(0, n));
        }
        const latency = (performance.now() - started) / count;
        if (recording) {
          for (let i = 0; i < count; i++) latencies.push(latency);
          done += count;
        }
      }
    } catch (error) {
      errors++;
      if (errorSamples.length < 5) errorSamples.push((error as Error).message);
    } finally {
      // Only this closes it, and close() does not throw for a connection
      // the server closed or reset (checked on Deno 2.9.6).
      conn.close();
    }
  }

  await Promise.all(Array.from({ length: connections }, worker));
  const elapsed = performance.now() - recordStart;
  for (const timer of timers) clearTimeout(timer);
  if (progress !== undefined) clearInterval(progress);
  const sorted = Float64Array.from(latencies).sort();
  return {
    requests: done,
    errors,
    durationMs: elapsed,
    qps: done / (elapsed / 1000),
    p50: quantile(sorted, 0.5),
    p90: quantile(sorted, 0.9),
    p99: quantile(sorted, 0.99),
    errorSamples,
  };
}
