// Minimal assertions so these tests need no remote modules.

export function assert(cond: unknown, msg = "assertion failed"): asserts cond {
  if (!cond) throw new Error(msg);
}

export function assertEquals(actual: unknown, expected: unknown, msg = ""): void {
  const a = JSON.stringify(actual), e = JSON.stringify(expected);
  if (a !== e) throw new Error(`${msg ? msg + ": " : ""}expected ${e}, got ${a}`);
}

export function assertThrows(fn: () => unknown, includes: string): Error {
  try {
    fn();
  } catch (e) {
    const m = e instanceof Error ? e.message : String(e);
    if (!m.includes(includes)) {
      throw new Error(`error ${JSON.stringify(m)} lacks ${JSON.stringify(includes)}`);
    }
    return e as Error;
  }
  throw new Error(`expected an error containing ${JSON.stringify(includes)}`);
}

export const dataDir = new URL("../../../shared/reference/vificlip-data/", import.meta.url).pathname;

export function hasDataDir(): boolean {
  try {
    return Deno.statSync(dataDir).isDirectory;
  } catch {
    return false;
  }
}

/** MANIFEST.txt: path (relative, without "./") → record count. */
export function manifest(): Map<string, number> {
  const m = new Map<string, number>();
  for (const line of Deno.readTextFileSync(`${dataDir}MANIFEST.txt`).split("\n")) {
    if (line.startsWith("#") || line.trim() === "") continue;
    const [p, , n] = line.trim().split(/\s+/);
    if (n !== "-") m.set(p.replace(/^\.\//, ""), Number(n));
  }
  return m;
}
