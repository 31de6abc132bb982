/**
 * SIGUSR1 reaches the master only (logrotate signals the pid file's pid),
 * but workers that log for themselves hold the log file open too. Models
 * with such workers subscribe here and pass the word on by message — to a
 * thread by postMessage, to a child over its stdin — never by signal: a
 * child still booting has no SIGUSR1 listener yet (the default action
 * kills it), and Deno 2.9 starts its inspector on SIGUSR1 besides. The
 * callback only posts.
 *
 * @module
 */

/** Calls `forward` on every SIGUSR1 until the returned function is called. */
export function onReopenSignal(forward: () => void): () => void {
  try {
    Deno.addSignalListener("SIGUSR1", forward);
  } catch {
    // No SIGUSR1 on this platform: nothing to forward.
    return () => {};
  }
  return () => Deno.removeSignalListener("SIGUSR1", forward);
}
