/**
 * HTTP/1.1 as a koan protocol: koan's own parser and writer over the
 * handler contract, so it runs under every concurrency model and under
 * `koan inetd --protocol http` alike (DESIGN §4). The pieces:
 * `parser.ts` (request heads), `chunked.ts` (bodies), `writer.ts`
 * (responses), `routes.ts` (what answers), `static.ts` (docroot files),
 * `connection.ts` (one connection's life).
 *
 * @module
 */
import type {
  ConnectionContext,
  Handler,
  Protocol,
  Transport,
} from "../contract.ts";
import type { HttpEnv, HttpSettings } from "./settings.ts";
import { type ConnectionSettings, HttpConnection } from "./connection.ts";
import { builtInRoutes } from "./routes.ts";
import { HttpError } from "./status.ts";
import { type Banner, bannerOf, errorBytes, PLAIN_BANNER } from "./writer.ts";
import { accessHeaderNamesOf } from "../../config/access_variables.ts";
import { requestLimit } from "../request_rate.ts";

/** The per-generation settings every connection shares. */
export function connectionSettings(
  env: HttpEnv,
): ConnectionSettings {
  const http = env.settings.http;
  const limit = requestLimit(http);
  return {
    ...(limit === undefined ? {} : { requestLimit: limit }),
    limits: {
      maxRequestLine: http.max_request_line,
      maxHeaderBytes: http.max_header_bytes,
      maxHeaders: http.max_headers,
      maxBody: http.max_body,
    },
    headerTimeoutMs: http.header_timeout * 1000,
    keepaliveTimeoutMs: http.keepalive_timeout * 1000,
    banner: bannerOf(http.server_tokens),
    routes: builtInRoutes(env),
    files: env.files,
    accessHeaders: env.settings.accessHeaders,
  };
}

/**
 * Creates the HTTP handler for one configuration generation.
 *
 * @example Usage
 * ```ts
 * import { createHttpHandler, http } from "./http.ts";
 * import { BUILT_IN_TABLE } from "../zen/aphorisms.ts";
 * import { buildConfig } from "../../config/load.ts";
 * const handler = createHttpHandler({
 *   settings: http.settings((await buildConfig({})).config),
 *   aphorisms: BUILT_IN_TABLE,
 *   state: { draining: false },
 * });
 * if (typeof handler !== "function") throw new Error("no handler");
 * ```
 */
export function createHttpHandler(env: HttpEnv): Handler {
  const settings = connectionSettings(env);
  busyBanner = settings.banner;
  return function serveHttp(
    transport: Transport,
    context: ConnectionContext,
  ): Promise<void> {
    return new HttpConnection({ transport, context, env, settings }).serve();
  };
}

/**
 * The banner of the newest generation this isolate built a handler for:
 * the refusal goes out before any handler sees the connection. An isolate
 * that built none (a master whose children serve) uses the plain one.
 */
let busyBanner: Banner = PLAIN_BANNER;
let busySecond = -1;
let busyBuiltWith: Banner | undefined;
let busyBytes: Uint8Array = new Uint8Array(0);

/** A full 503 with a current Date, rebuilt at most once a second. */
function busyReply(): Uint8Array {
  const second = Math.floor(Date.now() / 1000);
  if (second !== busySecond || busyBuiltWith !== busyBanner) {
    busySecond = second;
    busyBuiltWith = busyBanner;
    busyBytes = errorBytes(
      new HttpError(503, "Error: server busy."),
      busyBanner,
    );
  }
  return busyBytes;
}

/** HTTP for the registry; a refused connection gets a complete 503 with `Connection: close`. */
export const http: Protocol<HttpSettings> = {
  name: "http",
  settings: (config) => ({
    http: config.http,
    zen: config.zen,
    accessHeaders: config.log.access
      ? accessHeaderNamesOf(config.log.access_format)
      : [],
  }),
  get busyReply(): Uint8Array {
    return busyReply();
  },
  create: createHttpHandler,
};
