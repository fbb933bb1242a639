/**
 * Wait for something to happen (a log line, a connection count, a child's output), not for a
 * time to pass: `check` is asked again every few milliseconds until it answers, and the wait
 * fails, naming what it waited for, only after `timeoutMs`, a deadline a loaded machine does not
 * reach unless the thing never happens.
 */
export async function until<T>(
  check: () => T | undefined | null | false | Promise<T | undefined | null | false>,
  what: string,
  timeoutMs = 20_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== null && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`waited ${timeoutMs} ms for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
