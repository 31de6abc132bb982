/**
 * `node:net` adapters for the {@linkcode AcceptSource} and
 * {@linkcode AcceptedConn} interfaces. Deno cannot wrap an inherited
 * file descriptor in a `Deno.Listener`, but `node:net` can
 * (`server.listen({ fd })`): this is how koan adopts the sockets systemd
 * passes (`LISTEN_FDS`, fd 3 and up) and the listening socket inetd passes
 * on fd 0 (`koan inetd --wait`).
 *
 * `node:net` pushes data and connections at us; the acceptor pulls. The
 * adapters queue in between and apply backpressure to reads (a paused
 * socket stops reading, so the kernel's window closes as with `Deno.Conn`).
 *
 * @module
 */
import net from "node:net";
import type { AcceptedConn, AcceptSource } from "./acceptor.ts";

/** Bytes queued from a socket before it is paused. */
const HIGH_WATER = 64 * 1024;

/** Formats a `node:net` address as `host:port` / `[v6]:port`. */
export function formatNodeAddress(
  address: string | undefined,
  port: number | undefined,
): string {
  const host = address ?? "unknown";
  return host.includes(":") ? `[${host}]:${port ?? 0}` : `${host}:${port ?? 0}`;
}

/** Strips the IPv4-mapped prefix so `max_per_source` counts one client once. */
function sourceAddress(address: string | undefined): string {
  if (!address) return "local";
  return address.startsWith("::ffff:") ? address.slice(7) : address;
}

/**
 * Adapts a connected `node:net` socket to an {@linkcode AcceptedConn}:
 * `read` resolves `null` at end of stream (or once closed) and rejects on a
 * socket error, like `Deno.Conn`; `write` resolves when the bytes are handed
 * to the kernel, so a client that stops reading stalls it (and the
 * transport's send timeout sees that).
 */
export function nodeConn(socket: net.Socket): AcceptedConn {
  const chunks: Uint8Array[] = [];
  let queued = 0;
  let ended = false;
  let failure: Error | undefined;
  let wake: (() => void) | undefined;
  const notify = () => {
    const resume = wake;
    wake = undefined;
    resume?.();
  };
  socket.setNoDelay(true);
  socket.on("data", (chunk: Uint8Array) => {
    chunks.push(chunk);
    queued += chunk.length;
    if (queued >= HIGH_WATER) socket.pause();
    notify();
  });
  socket.on("end", () => {
    ended = true;
    notify();
  });
  socket.on("error", (error: Error) => {
    failure ??= error;
    notify();
  });
  socket.on("close", () => {
    ended = true;
    notify();
  });
  return {
    peer: formatNodeAddress(socket.remoteAddress, socket.remotePort),
    local: formatNodeAddress(socket.localAddress, socket.localPort),
    source: sourceAddress(socket.remoteAddress),
    async read(buffer: Uint8Array): Promise<number | null> {
      while (chunks.length === 0) {
        if (failure) throw failure;
        if (ended || socket.destroyed) return null;
        await new Promise<void>((resolve) => wake = resolve);
      }
      const head = chunks[0]!;
      const n = Math.min(head.length, buffer.length);
      buffer.set(head.subarray(0, n));
      if (n === head.length) chunks.shift();
      else chunks[0] = head.subarray(n);
      queued -= n;
      if (queued < HIGH_WATER / 2 && socket.isPaused()) socket.resume();
      return n;
    },
    write(bytes: Uint8Array): Promise<number> {
      if (socket.destroyed) {
        return Promise.reject(
          failure ?? new Deno.errors.BrokenPipe("Connection is closed"),
        );
      }
      return new Promise((resolve, reject) => {
        socket.write(bytes, (error?: Error | null) => {
          if (error) reject(error);
          else resolve(bytes.length);
        });
      });
    },
    close(): void {
      // Like Deno.Conn.close(): writes already resolved are in the kernel.
      socket.destroy();
      ended = true;
      notify();
    },
  };
}

/**
 * Adapts a `node:net` server to an {@linkcode AcceptSource}. Create the
 * server, wrap it, then call `listen`: connections that arrive before the
 * first `accept()` are queued, not lost. After {@linkcode AcceptSource.close}
 * pending and later `accept()` calls reject with `Deno.errors.BadResource`,
 * which ends an acceptor's loop.
 */
export function nodeServerSource(server: net.Server): AcceptSource {
  const ready: net.Socket[] = [];
  const waiters: {
    resolve: (conn: AcceptedConn) => void;
    reject: (error: Error) => void;
  }[] = [];
  let closed = false;
  server.on("connection", (socket: net.Socket) => {
    // An error event without a listener would be thrown; nodeConn attaches
    // its own once taken, this one covers the time in the queue.
    socket.on("error", () => {});
    if (closed) {
      socket.destroy();
      return;
    }
    const waiter = waiters.shift();
    if (waiter) waiter.resolve(nodeConn(socket));
    else ready.push(socket);
  });
  // A listening error after adoption (rare) must not crash the process;
  // the acceptor only needs to stop getting connections.
  server.on("error", () => {});
  return {
    accept(): Promise<AcceptedConn> {
      if (closed) {
        return Promise.reject(
          new Deno.errors.BadResource("Listener has been closed"),
        );
      }
      const socket = ready.shift();
      if (socket) return Promise.resolve(nodeConn(socket));
      return new Promise((resolve, reject) =>
        waiters.push({ resolve, reject })
      );
    },
    close(): void {
      if (closed) return;
      closed = true;
      server.close();
      for (const socket of ready.splice(0)) socket.destroy();
      for (const waiter of waiters.splice(0)) {
        waiter.reject(new Deno.errors.BadResource("Listener has been closed"));
      }
    },
  };
}

/** A listening socket adopted from a file descriptor. */
export interface AdoptedListener {
  /** The source to accept from. */
  source: AcceptSource;
  /** Its local address as `host:port` / `[v6]:port`. */
  address: string;
}

/**
 * Adopts the listening socket on `fd` (inherited from systemd or inetd).
 *
 * @throws {Error} when `fd` is not an open listening stream socket.
 */
export async function adoptListener(fd: number): Promise<AdoptedListener> {
  const server = net.createServer({ noDelay: true });
  const source = nodeServerSource(server);
  await new Promise<void>((resolve, reject) => {
    const fail = (error: Error) => reject(error);
    server.once("error", fail);
    try {
      server.listen({ fd }, () => {
        server.off("error", fail);
        resolve();
      });
    } catch (error) {
      reject(error);
    }
  });
  const address = server.address();
  if (address === null || typeof address === "string") {
    source.close();
    throw new TypeError(`fd ${fd} is not a TCP listening socket`);
  }
  return { source, address: formatNodeAddress(address.address, address.port) };
}
