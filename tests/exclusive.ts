// The test task runs two test files at once (`deno test --parallel`, DENO_JOBS=2): on a 2-core machine
// most of the suite is one thread compiling pipelines, so two files side by side nearly halve the wall
// time. A few tests must not overlap each other: the ViT-B/16-sized ones (tests/models/large_batch_test.ts
// peaks at 8.6 GB resident on lavapipe; two such beside each other could exhaust a 16 GB CI machine) and
// the ones that start several processes which must all make progress together (mpirun's ranks). They take one lock file with flock(2), which is held
// per open file, so two test workers of the same process exclude each other as two processes do.

const LOCK = `${Deno.env.get("TMPDIR") ?? "/tmp"}/vifi-tests-exclusive.lock`;

/** Runs `fn` while no other `exclusively` body runs (in this or any other test process on the machine). */
export async function exclusively<T>(fn: () => Promise<T>): Promise<T> {
  const file = await Deno.open(LOCK, { create: true, write: true });
  try {
    await file.lock(true);
    return await fn();
  } finally {
    file.close(); // closing the file releases the lock
  }
}

/** Deno.test whose body runs under `exclusively`. */
export function exclusiveTest(name: string, fn: (t: Deno.TestContext) => Promise<void>): void {
  Deno.test(name, (t) => exclusively(() => fn(t)));
}
