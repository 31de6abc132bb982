/**
 * Scaffolding for the CLI's tests: what a command printed on stderr.
 *
 * @module
 */

/** Runs `run` with `console.error` captured; resolves to its value and the lines. */
export async function withErrors<T>(
  run: () => Promise<T>,
): Promise<{ value: T; errors: string[] }> {
  const errors: string[] = [];
  const original = console.error;
  console.error = (line: string) => errors.push(line);
  try {
    return { value: await run(), errors };
  } finally {
    console.error = original;
  }
}
