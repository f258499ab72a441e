// Run a test body with one environment variable set, restoring what was there before.

export async function withEnv<T>(name: string, value: string, fn: () => Promise<T>): Promise<T> {
  const old = Deno.env.get(name);
  Deno.env.set(name, value);
  try {
    return await fn();
  } finally {
    if (old === undefined) Deno.env.delete(name);
    else Deno.env.set(name, old);
  }
}
