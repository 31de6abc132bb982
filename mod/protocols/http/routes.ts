/**
 * The route table: exact paths to built-in handlers, then static files
 * under `docroot`, then 404. Adding a route (`/metrics`, `/status`) is one
 * more entry in {@linkcode builtInRoutes}.
 *
 * The admin routes (`/metrics`, `/status`, `/status.json`) are in the
 * table as `[http] admin` says: for anyone (`"on"`), for loopback peers
 * only (`"loopback"`, the default), or not at all (`"off"`). To a peer
 * they are not for, the path is unknown: the same answer as any other
 * path koan does not serve (a file of that name under the docroot, else
 * 404), so nothing tells that the route exists.
 *
 * The probes (`[http] health_path`, `ready_path`) are on every HTTP
 * listener for any peer: a balancer is rarely on loopback. They are
 * access-logged like any request, never in the leveled log.
 *
 * Method handling is uniform: HEAD is served wherever GET is, OPTIONS
 * answers 204 with `Allow`, any other recognised method the route does not
 * serve is 405 with `Allow`, CONNECT is 501 (koan is no proxy).
 *
 * The observability routes (with the status page's HTML and the metrics
 * renderers) and the static file server (with its MIME table) are imported
 * on their first request: `koan inetd --protocol http` starts once per
 * connection, and most connections ask for neither.
 *
 * @module
 */
import type { HttpEnv } from "./settings.ts";
import type { FileSource } from "./file_source.ts";
import { constantReply, type Reply, textReply } from "./reply.ts";
import type { HttpRequest, Method } from "./request.ts";
import type { Route, RouteContext, RouteTable } from "./route.ts";
import { HttpError } from "./status.ts";
import { zenRoute } from "./zen_route.ts";

const HELLO: Reply = constantReply(textReply(200, "Hello, world!"));
const HEALTHY: Reply = constantReply(textReply(200, "ok"));
const READY: Reply = constantReply(textReply(200, "ready"));
const NOT_READY: Reply = constantReply(textReply(503, "not ready"));
const DRAINING: Reply = constantReply({
  ...textReply(503, "draining"),
  close: true,
});

/** `GET /` without a docroot: the seeds' hello world. */
export const helloRoute: Route = {
  methods: ["GET"],
  handle: () => HELLO,
};

/**
 * `GET /healthz` (`[http] health_path`), liveness: 200 `ok` while the
 * process serves, a drain included (a balancer that must take koan out
 * asks {@linkcode readyRoute}).
 */
export const healthRoute: Route = {
  methods: ["GET"],
  handle: () => HEALTHY,
};

/**
 * `GET /readyz` (`[http] ready_path`), readiness: 200 `ready`; 503 `not
 * ready` while the daemon says so — from SIGTERM on while `drain_delay`
 * keeps koan serving, while a reload moves a listener, while a pooled
 * listener has no worker ready (each such answer counts toward
 * `drain_probes`) — and 503 `draining`, closing, once it drains.
 */
export const readyRoute: Route = {
  methods: ["GET"],
  handle: (_request, context) => {
    const state = context.env.state;
    if (state.draining) return DRAINING;
    if (state.ready !== false) return READY;
    state.probed?.();
    return NOT_READY;
  },
};

/**
 * A route whose module is imported on its first request; from then on it
 * answers as the loaded route does (synchronously, if that one does).
 */
function lazyRoute(
  methods: readonly Method[],
  load: () => Promise<Route>,
): Route {
  let route: Route | undefined;
  let loading: Promise<Route> | undefined;
  return {
    methods,
    handle: (request, context) => {
      if (route !== undefined) return route.handle(request, context);
      loading ??= load().then((loaded) => route = loaded);
      return loading.then((loaded) => loaded.handle(request, context));
    },
  };
}

const GET: readonly Method[] = ["GET"];

/** `GET /metrics` (`observe_routes.ts`). */
const metricsRoute = lazyRoute(
  GET,
  async () => (await import("./observe_routes.ts")).metricsRoute,
);
/** `GET /status` (`observe_routes.ts`). */
const statusPageRoute = lazyRoute(
  GET,
  async () => (await import("./observe_routes.ts")).statusPageRoute,
);
/** `GET /status.json` (`observe_routes.ts`). */
const statusJsonRoute = lazyRoute(
  GET,
  async () => (await import("./observe_routes.ts")).statusJsonRoute,
);

/** The admin routes, for anyone. */
const ADMIN_ROUTES: readonly (readonly [string, Route])[] = [
  ["/metrics", metricsRoute],
  ["/status", statusPageRoute],
  ["/status.json", statusJsonRoute],
];
/** The admin routes, for loopback peers only. */
const LOOPBACK_ADMIN_ROUTES = ADMIN_ROUTES.map((
  [path, route],
) => [path, { ...route, loopbackOnly: true }] as const);

/**
 * The built-in routes for `env`. `/` says hello only when there is no
 * docroot; with one, `/` is the root's index.html. The admin routes are
 * in as `[http] admin` says (see the module doc).
 */
export function builtInRoutes(env: HttpEnv): Map<string, Route> {
  const routes = new Map<string, Route>([
    ["/zen", zenRoute],
  ]);
  const admin = env.settings.http.admin;
  if (admin !== "off") {
    const table = admin === "on" ? ADMIN_ROUTES : LOOPBACK_ADMIN_ROUTES;
    for (const [path, route] of table) routes.set(path, route);
  }
  if (env.files) {
    // With a docroot most requests are files: load the file server now,
    // not on the first request. A failed import is not this call's to
    // report: every file request awaits the same import and fails with it.
    loadStatic().catch(() => {});
  } else {
    routes.set("/", helloRoute);
  }
  // Last: a probe path wins over any other route of the same name.
  routes.set(env.settings.http.health_path, healthRoute);
  routes.set(env.settings.http.ready_path, readyRoute);
  return routes;
}

const STATIC_METHODS: readonly Method[] = ["GET"];
const ALL_METHODS: readonly Method[] = ["GET", "POST"];

let staticModule: Promise<typeof import("./static.ts")> | undefined;

/** The static file server's module (with the MIME table), imported once. */
function loadStatic(): Promise<typeof import("./static.ts")> {
  return staticModule ??= import("./static.ts");
}

async function serveFile(
  request: HttpRequest,
  files: FileSource,
): Promise<Reply> {
  return await (await loadStatic()).serveStatic(request, files);
}

/** The `Allow` value for a route's methods. */
export function allowOf(methods: readonly Method[]): string {
  const allowed: string[] = [];
  for (const method of methods) {
    allowed.push(method);
    if (method === "GET") allowed.push("HEAD");
  }
  allowed.push("OPTIONS");
  return allowed.join(", ");
}

const allowCache = new WeakMap<readonly Method[], string>();

function allowLine(methods: readonly Method[]): string {
  let line = allowCache.get(methods);
  if (line === undefined) {
    line = `Allow: ${allowOf(methods)}\r\n`;
    allowCache.set(methods, line);
  }
  return line;
}

function serves(methods: readonly Method[], method: Method): boolean {
  return methods.includes(method === "HEAD" ? "GET" : method);
}

function optionsReply(methods: readonly Method[]): Reply {
  return { status: 204, extra: allowLine(methods) };
}

/** Options for {@linkcode dispatch}. */
export interface DispatchOptions {
  /** The route table. */
  routes: RouteTable;
  /** The document root, if any. */
  files: FileSource | undefined;
  /** What routes may use. */
  context: RouteContext;
}

/**
 * Finds the route for `request` and runs it. A
 * {@linkcode Route.loopbackOnly} route is skipped for any other peer, as
 * if it were not in the table.
 *
 * @throws {HttpError} 404, 405 (with Allow), 501 for CONNECT.
 */
export function dispatch(
  request: HttpRequest,
  options: DispatchOptions,
): Reply | Promise<Reply> {
  const method = request.method;
  if (method === "CONNECT") {
    throw new HttpError(501, "CONNECT is not implemented");
  }
  const route = options.routes.get(request.path);
  if (
    route !== undefined &&
    (route.loopbackOnly !== true || options.context.fromLoopback)
  ) {
    if (serves(route.methods, method)) {
      return route.handle(request, options.context);
    }
    if (method === "OPTIONS") return optionsReply(route.methods);
    throw new HttpError(
      405,
      `${method} is not allowed here`,
      allowLine(route.methods),
    );
  }
  if (request.path === "*") return optionsReply(ALL_METHODS);
  if (options.files !== undefined) {
    if (serves(STATIC_METHODS, method)) {
      return serveFile(request, options.files);
    }
    if (method === "OPTIONS") return optionsReply(STATIC_METHODS);
    throw new HttpError(
      405,
      `${method} is not allowed here`,
      allowLine(STATIC_METHODS),
    );
  }
  throw new HttpError(404, `No route for "${request.path}"`);
}
