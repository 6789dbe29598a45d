/**
 * Waits until the API at `base` answers /readyz (src/http/app.ts) with 200: `npm start`'s billing
 * page link and `npm run demo` start it as a child process and wait for it this way. Readiness
 * is a health endpoint, outside the API the typed client covers.
 */
export async function waitUntilReady(o: { base: string; timeoutMs: number; everyMs: number }): Promise<void> {
  const deadline = Date.now() + o.timeoutMs;
  for (;;) {
    const ready = await fetch(`${o.base}/readyz`).then(
      (r) => r.ok,
      () => false,
    );
    if (ready) return;
    if (Date.now() > deadline) throw new Error(`the API did not answer at ${o.base}`);
    await new Promise((r) => setTimeout(r, o.everyMs));
  }
}
