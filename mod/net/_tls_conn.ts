/**
 * The machinery behind `tls.ts`, loaded only once a listener serves TLS
 * (`node:tls` costs about 40 ms to load): checking a certificate and key,
 * building a secure context, and terminating TLS on an accepted
 * connection with `node:tls`'s `TLSSocket` over a `node:stream` Duplex
 * that reads and writes the connection, so whatever accepted it
 * (`Deno.listen`, `node:net`, a descriptor shared with workers) it is
 * served the same way.
 *
 * `Deno.listenTls` would be faster to set up but cannot change its
 * certificate; a `TLSSocket` takes its context per connection, so a
 * reload reaches the next handshake (Deno 2.9.6, whose `node:tls` is
 * rustls: TLS 1.2 and 1.3 only, modern cipher suites).
 *
 * @module
 */
import tls from "node:tls";
import { createPrivateKey, X509Certificate } from "node:crypto";
import { Duplex } from "node:stream";
import { Buffer } from "node:buffer";
import type { AcceptedConn } from "./acceptor.ts";
import { type Deadline, deadlines } from "../util/deadline.ts";

/** A secure context, made once per certificate and key. */
export type SecureContext = tls.SecureContext;

/** What a certificate says about itself, for the log. */
export interface CertificateInfo {
  /** Serial number, hex, as `openssl x509 -serial` prints it. */
  serial: string;
  /** Subject, one attribute a line joined with ", ". */
  subject: string;
  /** Last day of validity, as the certificate gives it. */
  validTo: string;
  /** True when that day has passed. */
  expired: boolean;
}

/** Which of the two files a problem is in, and what it is. */
export class TlsFileError extends Error {
  /** `"cert"` or `"key"`: which setting to name. */
  readonly which: "cert" | "key";

  /** Creates the error; `message` says what is wrong with the file. */
  constructor(which: "cert" | "key", message: string) {
    super(message);
    this.name = "TlsFileError";
    this.which = which;
  }
}

const CERT_PEM = /-----BEGIN CERTIFICATE-----/;
const KEY_PEM = /-----BEGIN (?:RSA |EC |ENCRYPTED )?PRIVATE KEY-----/;

/**
 * Checks that `cert` holds a PEM certificate (its chain after it) and
 * `key` the private key that matches it. `node:tls` checks neither when
 * it builds a context (Deno 2.9.6 accepts any text and fails at each
 * handshake), so this is the only check before clients see it.
 *
 * @throws {TlsFileError} naming the file at fault.
 */
export function checkPair(cert: string, key: string): CertificateInfo {
  if (!CERT_PEM.test(cert)) {
    throw new TlsFileError(
      "cert",
      'holds no PEM certificate ("-----BEGIN CERTIFICATE-----")',
    );
  }
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(cert);
  } catch (error) {
    throw new TlsFileError(
      "cert",
      `holds a certificate that cannot be parsed (${(error as Error).message})`,
    );
  }
  if (!KEY_PEM.test(key)) {
    throw new TlsFileError(
      "key",
      'holds no PEM private key ("-----BEGIN PRIVATE KEY-----")',
    );
  }
  let privateKey: ReturnType<typeof createPrivateKey>;
  try {
    privateKey = createPrivateKey(key);
  } catch (error) {
    throw new TlsFileError(
      "key",
      `holds a private key that cannot be read (${
        (error as Error).message
      }); an encrypted key is not supported`,
    );
  }
  if (!x509.checkPrivateKey(privateKey)) {
    throw new TlsFileError(
      "key",
      "is not the private key of the certificate (the first one in tls_cert)",
    );
  }
  const validTo = x509.validTo;
  return {
    serial: x509.serialNumber,
    subject: x509.subject.split("\n").join(", "),
    validTo,
    expired: Date.parse(validTo) < Date.now(),
  };
}

/** Builds the context for a pair {@linkcode checkPair} accepted. */
export function makeContext(cert: string, key: string): SecureContext {
  return tls.createSecureContext({ cert, key, minVersion: "TLSv1.2" });
}

/** Bytes a read asks for first, and after any read that did not fill it. */
const SMALL_READ = 2048;
/** Bytes a read asks for after one that filled its buffer (a TLS record is up to 16 KiB). */
const LARGE_READ = 16 * 1024 + 512;
/** Plaintext queued for the handler before the TLS socket is paused. */
const HIGH_WATER = 64 * 1024;
/** How long a close waits for its close_notify to be written. */
const CLOSE_MS = 1000;

/**
 * The ciphertext side: a Duplex over the accepted connection. Each
 * connection reads into a buffer of its own, small at first (a request
 * or a question is a few hundred bytes, and an idle connection's pending
 * read holds it) and large while reads fill it, and pushes a copy of the
 * bytes read: a few hundred bytes from `Buffer`'s shared pool, rather
 * than a new read buffer per read.
 */
class CipherStream extends Duplex {
  #conn: AcceptedConn;
  #buffer: Uint8Array = new Uint8Array(SMALL_READ);
  #closed = false;
  /** Writes handed to the connection and not yet done. */
  writing = 0;

  constructor(conn: AcceptedConn) {
    super({ allowHalfOpen: true });
    this.#conn = conn;
  }

  override _read(): void {
    this.#conn.read(this.#buffer).then(this.#onRead, this.#onError);
  }

  #onRead = (n: number | null): void => {
    if (n === null) {
      this.push(null);
      return;
    }
    const buffer = this.#buffer;
    const chunk = Buffer.from(buffer.subarray(0, n));
    if (n === buffer.length) {
      if (n < LARGE_READ) this.#buffer = new Uint8Array(LARGE_READ);
    } else if (n < SMALL_READ && buffer.length > SMALL_READ) {
      this.#buffer = new Uint8Array(SMALL_READ);
    }
    this.push(chunk);
  };

  #onError = (error: unknown): void => {
    this.destroy(error as Error);
  };

  override _write(
    chunk: Uint8Array,
    _encoding: string,
    callback: (error?: Error | null) => void,
  ): void {
    this.writing++;
    writeAll(this.#conn, chunk).then(
      () => {
        this.writing--;
        callback();
      },
      (error) => {
        this.writing--;
        callback(error as Error);
      },
    );
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.closeConn();
    callback();
  }

  override _destroy(
    error: Error | null,
    callback: (error?: Error | null) => void,
  ): void {
    this.closeConn();
    callback(error);
  }

  /** Closes the connection once, whoever asks first. */
  closeConn(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#conn.close();
    } catch (error) {
      // Closed already (a Deno.Conn closed twice throws BadResource).
      if (!(error instanceof Deno.errors.BadResource)) throw error;
    }
  }
}

async function writeAll(conn: AcceptedConn, bytes: Uint8Array): Promise<void> {
  let written = await conn.write(bytes);
  while (written < bytes.length) {
    written += await conn.write(bytes.subarray(written));
  }
}

/**
 * The plaintext side, as the acceptor's handler sees it: the addresses
 * of the connection underneath, and reads served from what the TLS
 * socket decrypted (paused while {@linkcode HIGH_WATER} bytes wait).
 */
class TlsConn implements AcceptedConn {
  #raw: AcceptedConn;
  #cipher: CipherStream;
  #socket: tls.TLSSocket;
  #chunks: Uint8Array[] = [];
  #queued = 0;
  #ended = false;
  #closed = false;
  #failure: Error | undefined;
  #wake: (() => void) | undefined;
  #closing: Deadline | undefined;

  constructor(raw: AcceptedConn, cipher: CipherStream, socket: tls.TLSSocket) {
    this.#raw = raw;
    this.#cipher = cipher;
    this.#socket = socket;
    socket.on("data", (chunk: Uint8Array) => {
      this.#chunks.push(chunk);
      this.#queued += chunk.length;
      if (this.#queued >= HIGH_WATER) socket.pause();
      this.#notify();
    });
    socket.on("end", () => this.#end());
    socket.on("close", () => this.#end());
    socket.on("error", (error: Error) => {
      this.#failure ??= error;
      this.#notify();
    });
  }

  get peer(): string {
    return this.#raw.peer;
  }

  get local(): string {
    return this.#raw.local;
  }

  get source(): string {
    return this.#raw.source;
  }

  /** The ALPN protocol agreed, or false. */
  get alpnProtocol(): string | false {
    return this.#socket.alpnProtocol ?? false;
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  #end(): void {
    this.#ended = true;
    this.#notify();
  }

  read(buffer: Uint8Array): Promise<number | null> {
    if (this.#chunks.length > 0) return Promise.resolve(this.#take(buffer));
    return this.#wait(buffer);
  }

  async #wait(buffer: Uint8Array): Promise<number | null> {
    while (this.#chunks.length === 0) {
      if (this.#failure) throw this.#failure;
      if (this.#ended || this.#closed) return null;
      await new Promise<void>((resolve) => this.#wake = resolve);
    }
    return this.#take(buffer);
  }

  #take(buffer: Uint8Array): number {
    const head = this.#chunks[0]!;
    const n = Math.min(head.length, buffer.length);
    buffer.set(n === head.length ? head : head.subarray(0, n));
    if (n === head.length) this.#chunks.shift();
    else this.#chunks[0] = head.subarray(n);
    this.#queued -= n;
    if (this.#queued < HIGH_WATER / 2 && this.#socket.isPaused()) {
      this.#socket.resume();
    }
    return n;
  }

  write(bytes: Uint8Array): Promise<number> {
    if (this.#closed || this.#socket.destroyed) {
      return Promise.reject(
        this.#failure ?? new Deno.errors.BrokenPipe("Connection is closed"),
      );
    }
    return new Promise((resolve, reject) => {
      this.#socket.write(bytes, (error?: Error | null) => {
        if (error) reject(error);
        else resolve(bytes.length);
      });
    });
  }

  /**
   * Sends close_notify, then closes the connection; at once when a write
   * is stuck (a peer that stopped reading: the send timeout's close) or
   * after {@linkcode CLOSE_MS} at the latest.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#chunks.length = 0;
    this.#notify();
    if (this.#socket.destroyed || this.#cipher.writing > 0) {
      this.destroy();
      return;
    }
    this.#closing = deadlines.create(() => this.destroy());
    this.#closing.arm(CLOSE_MS);
    this.#socket.end(() => this.destroy());
  }

  /** Closes the TLS socket and the connection now. */
  destroy(): void {
    this.#closing?.dispose();
    this.#closing = undefined;
    this.#closed = true;
    this.#socket.destroy();
    this.#cipher.closeConn();
    this.#notify();
  }
}

/** Options for {@linkcode secureConn}. */
export interface SecureOptions {
  /** Offer ALPN `http/1.1`. */
  alpn: boolean;
  /** Close a client that has not finished its handshake after this long. */
  timeoutMs: number;
}

/** Why the last handshake failed, for the caller's log. */
export type HandshakeResult = AcceptedConn | Error;

const ALPN = ["http/1.1"];

/**
 * Runs the server's side of a TLS handshake on `raw` with `context`.
 * Resolves to the plaintext connection, or to the error that ended the
 * handshake (the connection is closed then).
 */
export function secureConn(
  raw: AcceptedConn,
  context: SecureContext,
  options: SecureOptions,
): Promise<HandshakeResult> {
  const cipher = new CipherStream(raw);
  const socket = new tls.TLSSocket(cipher, {
    isServer: true,
    secureContext: context,
    ...(options.alpn ? { ALPNProtocols: ALPN } : {}),
  });
  const conn = new TlsConn(raw, cipher, socket);
  return new Promise((resolve) => {
    let settled = false;
    const done = (result: HandshakeResult) => {
      if (settled) return;
      settled = true;
      deadline.dispose();
      socket.off("secure", onSecure);
      socket.off("error", onError);
      socket.off("close", onClose);
      if (result instanceof Error) conn.destroy();
      resolve(result);
    };
    const onSecure = () => done(conn);
    const onError = (error: Error) => done(error);
    const onClose = () =>
      done(new Deno.errors.UnexpectedEof("closed during the TLS handshake"));
    const deadline = deadlines.create(() =>
      done(
        new Deno.errors.TimedOut(
          `no TLS handshake within ${options.timeoutMs / 1000} s`,
        ),
      )
    );
    deadline.arm(options.timeoutMs);
    socket.once("secure", onSecure);
    socket.once("error", onError);
    socket.once("close", onClose);
  });
}
