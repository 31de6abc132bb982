/**
 * Builds a {@linkcode Generation} from a loaded config: the part of a start
 * or reload that reads files besides the config itself (the aphorism
 * table, TLS certificates and keys). A reload reads them all again, so a
 * certificate replaced on disk takes effect at SIGHUP even when the
 * config file did not change.
 *
 * @module
 */
import type { Config } from "../config/settings.ts";
import { ConfigError, readNamedFile } from "../config/load.ts";
import {
  type AphorismTable,
  BUILT_IN_TABLE,
  parseAphorisms,
} from "../protocols/zen/aphorisms.ts";
import type { Generation } from "../models/contract.ts";
import {
  describeCertificate,
  loadTlsContext,
  type TlsContext,
  useTlsContext,
} from "../net/tls.ts";
import { log } from "../log/log.ts";

/**
 * Reads the aphorism table named by `zen.aphorisms`, or the built-in one.
 *
 * @throws {ConfigError} when the file cannot be read or is invalid.
 */
export async function loadAphorisms(config: Config): Promise<AphorismTable> {
  const path = config.zen.aphorisms;
  if (!path) return BUILT_IN_TABLE;
  const text = await readNamedFile(path, "zen.aphorisms");
  try {
    return await parseAphorisms(text, path);
  } catch (error) {
    if (!(error instanceof SyntaxError)) throw error;
    throw new ConfigError("zen.aphorisms", error.message);
  }
}

/**
 * Reads and checks every TLS listener's certificate and key, and only when
 * all are good installs them for new connections (a certificate that did
 * not change keeps its context). Each change is logged.
 *
 * @throws {ConfigError} naming the first listener's `tls_cert` or `tls_key`
 * that cannot be used; nothing is installed then.
 */
export async function loadCertificates(config: Config): Promise<void> {
  const loaded: [number, TlsContext][] = [];
  for (const [index, listener] of config.listener.entries()) {
    if (!listener.tls_cert) continue;
    loaded.push([
      index,
      await loadTlsContext(listener, { name: `listener[${index}]` }),
    ]);
  }
  for (const [index, context] of loaded) {
    if (!useTlsContext(context)) continue;
    const line = "listener[{index}] TLS certificate {certificate}";
    const properties = { index, certificate: describeCertificate(context) };
    if (context.info.expired) log("daemon").warn(line, properties);
    else log("daemon").info(line, properties);
  }
}

/** Builds the generation for `config`. */
export async function makeGeneration(config: Config): Promise<Generation> {
  const aphorisms = await loadAphorisms(config);
  await loadCertificates(config);
  return { config, aphorisms };
}
