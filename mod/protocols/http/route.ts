/**
 * What a route is: the one shape every built-in route (`/`, `/zen`,
 * `/metrics`, ...) implements, so route modules depend on this file and
 * the table in `routes.ts` depends on them, never the other way round.
 *
 * @module
 */
import type { HttpEnv } from "./settings.ts";
import type { Reply } from "./reply.ts";
import type { HttpRequest, Method } from "./request.ts";

/** What a route may use besides the request. */
export interface RouteContext {
  /** The protocol environment (config, aphorisms, daemon state). */
  readonly env: HttpEnv;
  /**
   * Whether the connection's peer, as its transport reports it, is on
   * loopback (`loopback.ts`); false when the model cannot say.
   */
  readonly fromLoopback: boolean;
  /**
   * Reads the whole request body (at most `http.max_body`; 413 past it),
   * sending `100 Continue` first when the client waits for it.
   */
  body(): Promise<Uint8Array>;
}

/** A handler for one path. */
export interface Route {
  /** Methods served; HEAD is implied by GET, OPTIONS by every route. */
  readonly methods: readonly Method[];
  /**
   * Served to loopback peers only: to anyone else the path is unknown
   * (the admin routes under `[http] admin = "loopback"`). @default {false}
   */
  readonly loopbackOnly?: boolean;
  /** Answers a request; throws {@linkcode HttpError} to answer an error. */
  handle(request: HttpRequest, context: RouteContext): Reply | Promise<Reply>;
}

/** Path → route. */
export type RouteTable = ReadonlyMap<string, Route>;
