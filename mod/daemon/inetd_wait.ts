/**
 * `koan inetd --wait`: inetd's `wait` mode (FPNP's in_zen2.py). inetd hands
 * over the *listening* socket as fd 0 and stops watching it until we exit;
 * we accept and serve clients like the async model does, and exit once no
 * client has been around for `limits.idle_exit` seconds, giving the socket
 * back to inetd (clients arriving meanwhile wait in the kernel's queue).
 *
 * @module
 */
import type { Protocol } from "../protocols/contract.ts";
import { Acceptor } from "../net/acceptor.ts";
import { LocalLimiter } from "../net/limiter.ts";
import { adoptListener } from "../net/node_source.ts";
import { log } from "../log/log.ts";
import type { Generation } from "../models/contract.ts";
import { createHandler } from "../models/in_isolate/env.ts";
import { UsageError } from "../util/usage.ts";
import { writeAccess } from "../log/access_log.ts";
import { SignalQueue } from "./signals.ts";

/** Options for {@linkcode serveInheritedListener}. */
export interface WaitOptions {
  protocol: Protocol;
  generation: Generation;
  /** Descriptor of the listening socket. @default {0} */
  fd?: number;
}

/**
 * Serves the listening socket on fd 0 until idle for `idle_exit` seconds
 * or told to stop (TERM/INT/QUIT drain as the daemon does). Resolves with
 * the exit code.
 *
 * @throws {UsageError} when fd 0 is not a listening TCP socket (run by
 *   hand, or `wait` configured for a service that is not `stream`).
 */
export async function serveInheritedListener(
  options: WaitOptions,
): Promise<number> {
  const logger = log("inetd");
  const fd = options.fd ?? 0;
  let adopted;
  try {
    adopted = await adoptListener(fd);
  } catch (error) {
    throw new UsageError(
      `koan inetd --wait needs a listening TCP socket on fd ${fd} (inetd "wait"): ${
        (error as Error).message
      }`,
    );
  }
  const { config } = options.generation;
  const state = { draining: false };
  const handler = createHandler(options.protocol, options.generation, state);
  let lastActive = performance.now();
  const acceptor = new Acceptor(adopted.source, {
    protocol: options.protocol,
    handler: () => handler,
    limiter: new LocalLimiter({
      maxConnections: config.limits.max_connections,
      maxPerSource: config.limits.max_per_source,
    }),
    concurrency: 0,
    sendTimeoutMs: () => config.limits.send_timeout * 1000,
    access: writeAccess,
    onConnection: () => lastActive = performance.now(),
  });
  logger.info("serving {address} handed over by inetd (wait)", {
    address: adopted.address,
  });
  const running = acceptor.run();
  const idleMs = config.limits.idle_exit * 1000;
  const signals = new SignalQueue();
  signals.listen(["SIGTERM", "SIGINT", "SIGQUIT"]);
  let timer: ReturnType<typeof setInterval> | undefined;
  const idle = new Promise<"idle">((resolve) => {
    timer = setInterval(() => {
      const now = performance.now();
      if (acceptor.connections > 0) lastActive = now;
      else if (now - lastActive >= idleMs) resolve("idle");
    }, Math.min(1000, Math.max(50, idleMs / 4)));
  });
  try {
    const why = await Promise.race([idle, signals.next()]);
    state.draining = true;
    if (why === "idle") {
      logger.info("no client for {seconds} s: exiting", {
        seconds: config.limits.idle_exit,
      });
    } else {
      logger.info("{signal}: draining", { signal: why });
    }
    const drained = acceptor.drain(config.limits.shutdown_timeout * 1000);
    const result = await Promise.race([drained, signals.next()]);
    if (typeof result !== "number") {
      logger.warn("second signal ({signal}): stopping now", { signal: result });
      acceptor.closeAll();
      return 0;
    }
    await running;
    if (result > 0) {
      logger.warn("closed {forced} connections", { forced: result });
    }
    return 0;
  } finally {
    clearInterval(timer);
    signals.close();
  }
}
