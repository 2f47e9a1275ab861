/** Rejects with a message naming what was awaited when `promise` takes longer than `ms`. */
export async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Re-checks `condition` every few milliseconds until it holds; fails after `ms`. For state that has
 * no event to wait on (counters of a server in the same process).
 */
export async function waitFor(condition: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/**
 * Re-checks an async `condition` every 50 ms until it holds (a rejection counts as "not yet"); fails
 * after `ms`. For state outside the process (a server's answer to a command, an open port).
 */
export async function waitForAsync(condition: () => Promise<boolean>, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await condition().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/**
 * How `promise` has settled by the time the event loop turns (a `setImmediate` queued now has run):
 * `{ settled: false }` if it has not. For "refused at once" — the answer comes before any I/O or timer
 * could have run — which holds however loaded the machine is, unlike a bound on elapsed time.
 */
export async function outcomeThisTurn<T>(promise: Promise<T>): Promise<{ settled: false } | { settled: true; value?: T; error?: unknown }> {
  let outcome: { settled: false } | { settled: true; value?: T; error?: unknown } = { settled: false };
  promise.then(
    (value) => (outcome = { settled: true, value }),
    (error: unknown) => (outcome = { settled: true, error }),
  );
  await new Promise((resolve) => setImmediate(resolve));
  return outcome;
}
