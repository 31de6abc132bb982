/**
 * TLS on any listener (`tls_cert`, `tls_key`, `tls_alpn`): a per-connection
 * wrap the {@linkcode Acceptor} applies after admission, turning an
 * accepted connection into one that reads and writes plaintext, in the
 * isolate that accepted it (a pool's worker, or the master of the
 * in-isolate and per-connection models, which relay plaintext).
 *
 * Certificates are read at start and at every reload, by
 * {@linkcode loadTlsContext}, which refuses a bad file with a
 * {@linkcode ConfigError} naming the key. A pair whose files did not change
 * keeps its context; a changed pair gets a new one, and once
 * {@linkcode useTlsContext} installs it every new handshake uses it while
 * connections already open go on with theirs. {@linkcode tlsWrapFor}, asked
 * per connection, costs a lookup.
 *
 * `node:tls` and `node:crypto` load only when a listener serves TLS
 * (`_tls_conn.ts`).
 *
 * @module
 */
import type { AcceptedConn } from "./acceptor.ts";
import { ConfigError } from "../config/error.ts";
import { log } from "../log/log.ts";
import type {
  CertificateInfo,
  HandshakeResult,
  SecureContext,
} from "./_tls_conn.ts";

export type { CertificateInfo };

/** The listener settings TLS reads. */
export interface TlsSettings {
  /** PEM certificate chain; "" = plain TCP. */
  tls_cert: string;
  /** PEM private key of its first certificate. */
  tls_key: string;
  /** Offer ALPN `http/1.1` (HTTP listeners only). */
  tls_alpn: boolean;
  /** Protocol served. */
  protocol: string;
}

/** Turns an accepted connection into a plaintext one; null = handshake failed (closed). */
export type TlsWrap = (conn: AcceptedConn) => Promise<AcceptedConn | null>;

/**
 * How long a client may take over its handshake: fixed, like nginx's
 * `ssl_handshake_timeout` (60 s there), shorter because a TLS client
 * that has connected completes it in round trips, not think time.
 */
export const TLS_HANDSHAKE_MS = 10_000;

type Machinery = typeof import("./_tls_conn.ts");
let machinery: Machinery | undefined;

function loadMachinery(): Promise<Machinery> {
  return machinery
    ? Promise.resolve(machinery)
    : import("./_tls_conn.ts").then((module) => machinery = module);
}

/** Options for {@linkcode loadTlsContext}. */
export interface LoadTlsOptions {
  /** Key path in messages: `listener[1]`. @default {"listener"} */
  name?: string;
}

/** A certificate and key, read, checked and ready to serve. */
export class TlsContext {
  /** The `tls_cert` path. */
  readonly certPath: string;
  /** The `tls_key` path. */
  readonly keyPath: string;
  /** What the certificate says about itself. */
  readonly info: CertificateInfo;
  readonly #cert: string;
  readonly #key: string;
  readonly #context: SecureContext;
  #wraps: [TlsWrap | undefined, TlsWrap | undefined] = [undefined, undefined];

  constructor(
    paths: { cert: string; key: string },
    pem: { cert: string; key: string },
    info: CertificateInfo,
    context: SecureContext,
  ) {
    this.certPath = paths.cert;
    this.keyPath = paths.key;
    this.#cert = pem.cert;
    this.#key = pem.key;
    this.info = info;
    this.#context = context;
  }

  /** Whether `cert` and `key` are the text this context was made from. */
  holds(cert: string, key: string): boolean {
    return cert === this.#cert && key === this.#key;
  }

  /** The wrap that serves this context (made once per ALPN choice). */
  wrap(alpn: boolean): TlsWrap {
    const index = alpn ? 1 : 0;
    return this.#wraps[index] ??= makeWrap(this.#context, alpn);
  }
}

const logger = log("net", "tls");

function makeWrap(context: SecureContext, alpn: boolean): TlsWrap {
  const options = { alpn, timeoutMs: TLS_HANDSHAKE_MS };
  const { secureConn } = machinery!;
  return (conn) =>
    secureConn(conn, context, options).then((result) =>
      handshakeEnd(conn, result)
    );
}

function handshakeEnd(
  conn: AcceptedConn,
  result: HandshakeResult,
): AcceptedConn | null {
  if (!(result instanceof Error)) return result;
  logger.debug("TLS handshake with {peer} failed: {error}", {
    peer: conn.peer,
    error: result.message,
  });
  return null;
}

function pairKey(settings: { tls_cert: string; tls_key: string }): string {
  return `${settings.tls_cert}\n${settings.tls_key}`;
}

/** The contexts installed, by certificate and key path. */
const installed = new Map<string, TlsContext>();
/** Bumped at every install, so each listener's cached wrap is looked up again. */
let epoch = 0;
/** Per settings object: the wrap found at `epoch`. */
const wraps = new WeakMap<TlsSettings, { epoch: number; wrap: TlsWrap }>();

async function readPem(path: string, key: string): Promise<string> {
  try {
    return await Deno.readTextFile(path);
  } catch (error) {
    throw new ConfigError(
      key,
      `cannot read "${path}": ${(error as Error).message}`,
    );
  }
}

/**
 * Reads and checks a listener's certificate and key. The context made
 * for the same files with the same text is returned again; anything
 * else gets a new one, which serves once passed to
 * {@linkcode useTlsContext}.
 *
 * @example Usage
 * ```ts ignore
 * import { loadTlsContext, useTlsContext } from "./tls.ts";
 * const context = await loadTlsContext({
 *   tls_cert: "/etc/koan/cert.pem",
 *   tls_key: "/etc/koan/key.pem",
 *   tls_alpn: true,
 *   protocol: "http",
 * }, { name: "listener[0]" });
 * useTlsContext(context);
 * ```
 *
 * @throws {ConfigError} naming `tls_cert` or `tls_key` when a file cannot
 * be read, holds no PEM certificate or key, or the key does not match.
 */
export async function loadTlsContext(
  settings: TlsSettings,
  options: LoadTlsOptions = {},
): Promise<TlsContext> {
  const name = options.name ?? "listener";
  const [tls, cert, key] = await Promise.all([
    loadMachinery(),
    readPem(settings.tls_cert, `${name}.tls_cert`),
    readPem(settings.tls_key, `${name}.tls_key`),
  ]);
  const same = installed.get(pairKey(settings));
  if (same?.holds(cert, key)) return same;
  let info: CertificateInfo;
  try {
    info = tls.checkPair(cert, key);
  } catch (error) {
    if (!(error instanceof tls.TlsFileError)) throw error;
    const path = error.which === "cert" ? settings.tls_cert : settings.tls_key;
    throw new ConfigError(
      `${name}.tls_${error.which}`,
      `"${path}" ${error.message}`,
    );
  }
  return new TlsContext(
    { cert: settings.tls_cert, key: settings.tls_key },
    { cert, key },
    info,
    tls.makeContext(cert, key),
  );
}

/**
 * Installs `context` for its certificate and key paths: every handshake
 * from now on uses it. Returns false when it was installed already.
 */
export function useTlsContext(context: TlsContext): boolean {
  const key = pairKey({ tls_cert: context.certPath, tls_key: context.keyPath });
  if (installed.get(key) === context) return false;
  installed.set(key, context);
  epoch++;
  return true;
}

/** Describes a context's certificate for the log. */
export function describeCertificate(context: TlsContext): string {
  const { serial, subject, validTo, expired } = context.info;
  return `serial ${serial} (${subject}), ${
    expired ? "EXPIRED on" : "valid until"
  } ${validTo}`;
}

/**
 * The wrap for a listener's TLS, or undefined when it serves plain TCP.
 * Asked per connection: it costs a lookup, and finds the context
 * installed last for the listener's files. Where none is installed yet
 * (an isolate that did not load it first), the first connections wait
 * for it to load; if it cannot be, they are closed, and the reason
 * logged once.
 *
 * @example Usage
 * ```ts
 * import { tlsWrapFor } from "./tls.ts";
 * const plain = { tls_cert: "", tls_key: "", tls_alpn: false, protocol: "zen" };
 * if (tlsWrapFor(plain) !== undefined) throw new Error("plain TCP has no wrap");
 * ```
 */
export function tlsWrapFor(listener: TlsSettings): TlsWrap | undefined {
  if (!listener.tls_cert) return undefined;
  const cached = wraps.get(listener);
  if (cached !== undefined && cached.epoch === epoch) return cached.wrap;
  const alpn = listener.tls_alpn && listener.protocol === "http";
  const context = installed.get(pairKey(listener));
  const wrap = context ? context.wrap(alpn) : lateWrap(listener, alpn);
  wraps.set(listener, { epoch, wrap });
  return wrap;
}

/** A wrap that loads and installs the context at its first connection. */
function lateWrap(listener: TlsSettings, alpn: boolean): TlsWrap {
  const ready = loadTlsContext(listener).then(
    (context) => {
      if (!installed.has(pairKey(listener))) useTlsContext(context);
      return installed.get(pairKey(listener))!.wrap(alpn);
    },
    (error) => {
      if (!(error instanceof ConfigError)) throw error;
      logger.error("TLS unavailable, closing its connections: {error}", {
        error: error.message,
      });
      return undefined;
    },
  );
  return async (conn) => {
    const wrap = await ready;
    if (wrap) return wrap(conn);
    conn.close();
    return null;
  };
}
