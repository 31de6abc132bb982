/**
 * The version koan reports (`koan --version`, the HTTP Server header).
 *
 * @module
 */

/** Semantic version of this build. */
export const VERSION = "0.1.0";
