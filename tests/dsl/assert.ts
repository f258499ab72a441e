// Minimal assertions (no remote modules), with error checks that require every given fragment.

export function assert(cond: unknown, msg = "assertion failed"): asserts cond {
  if (!cond) throw new Error(msg);
}

export function assertEquals(actual: unknown, expected: unknown, msg = ""): void {
  const a = JSON.stringify(actual), e = JSON.stringify(expected);
  if (a !== e) throw new Error(`${msg ? msg + ": " : ""}expected ${e}, got ${a}`);
}

function check(e: unknown, includes: string[]): Error {
  const m = e instanceof Error ? e.message : String(e);
  for (const s of includes) {
    if (!m.includes(s)) throw new Error(`error ${JSON.stringify(m)} lacks ${JSON.stringify(s)}`);
  }
  return e as Error;
}

export function assertThrows(fn: () => unknown, ...includes: string[]): Error {
  try {
    fn();
  } catch (e) {
    return check(e, includes);
  }
  throw new Error(`expected an error containing ${JSON.stringify(includes)}`);
}

export async function assertRejects(fn: () => Promise<unknown>, ...includes: string[]): Promise<Error> {
  try {
    await fn();
  } catch (e) {
    return check(e, includes);
  }
  throw new Error(`expected an error containing ${JSON.stringify(includes)}`);
}

/** The upstream's label and list files (and configs), when this checkout has them beside it. */
export const referenceData = new URL("../../../shared/reference/vificlip-data", import.meta.url).pathname;

export function hasReferenceData(): boolean {
  try {
    return Deno.statSync(`${referenceData}/configs`).isDirectory;
  } catch {
    return false;
  }
}

/** A temporary folder with the given files (relative path → text). */
export async function tempTree(files: Record<string, string>): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "vifi-dsl-" });
  for (const [rel, text] of Object.entries(files)) {
    const p = `${dir}/${rel}`;
    await Deno.mkdir(p.slice(0, p.lastIndexOf("/")), { recursive: true });
    await Deno.writeTextFile(p, text);
  }
  return dir;
}

/** Every YAML file under `dir`, sorted (the upstream configs). */
export async function yamlFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(dir)) {
    const p = `${dir}/${e.name}`;
    if (e.isDirectory) out.push(...await yamlFiles(p));
    else if (/\.ya?ml$/.test(e.name)) out.push(p);
  }
  return out.sort();
}
