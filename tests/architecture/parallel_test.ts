// The test task runs in two parts (deno.json): `test:serial`, the files that change the process's
// environment, one after another; then `test:parallel`, every other file, two at a time. Parallel test
// files share one process, so an environment variable one file sets (VIFI_MAX_DECODE_MB=1, say) would
// reach the other file's code and children for as long as it is set. This test keeps the two lists
// true: every file that calls Deno.env.set / Deno.env.delete / withEnv is in `test:serial` and left out
// of `test:parallel`, and every file named there exists.

import ts from "npm:typescript@5.6.3";
import { join, relative } from "node:path";
import { assert, assertEquals } from "../data/assert.ts";

const root = new URL("../../", import.meta.url).pathname;
const MUTATORS = new Set(["Deno.env.set", "Deno.env.delete", "withEnv"]);
/** defines withEnv: the files that call it are the ones to list */
const DEFINES = new Set(["tests/with_env.ts"]);

/** Whether the source calls one of MUTATORS (parsed: a call written inside a string, say a child's script, is not one). */
export function changesEnv(path: string, source: string): boolean {
  const file = ts.createSourceFile(path, source, ts.ScriptTarget.Latest, true);
  let found = false;
  const visit = (node: ts.Node) => {
    if (found) return;
    if (ts.isCallExpression(node) && MUTATORS.has(node.expression.getText(file))) found = true;
    else ts.forEachChild(node, visit);
  };
  visit(file);
  return found;
}

function tasks(): Record<string, string> {
  return JSON.parse(Deno.readTextFileSync(join(root, "deno.json"))).tasks;
}

function* sources(dir: string): Generator<string> {
  for (const e of Deno.readDirSync(dir)) {
    const p = join(dir, e.name);
    if (e.isDirectory) yield* sources(p);
    else if (/\.tsx?$/.test(e.name)) yield relative(root, p);
  }
}

/** Files named in the serial task, and the --ignore list of the parallel one. */
function lists(): { serial: string[]; ignored: string[] } {
  const t = tasks();
  const serial = t["test:serial"].split(/\s+/).filter((w) => w.endsWith(".ts"));
  const ignore = t["test:parallel"].match(/--ignore=(\S+)/);
  return { serial, ignored: ignore ? ignore[1].split(",") : [] };
}

Deno.test("test task: serial files then the rest in parallel, and the same list in both", () => {
  const t = tasks();
  assertEquals(t.test, "deno task test:serial && deno task test:parallel");
  assert(/--parallel/.test(t["test:parallel"]) && /DENO_JOBS=2/.test(t["test:parallel"]), t["test:parallel"]);
  const { serial, ignored } = lists();
  assertEquals([...ignored].sort(), [...serial].sort(), "test:serial and test:parallel's --ignore differ");
  for (const f of serial) assert(Deno.statSync(join(root, f)).isFile, `${f} in test:serial does not exist`);
});

Deno.test("test task: a call is found by parsing, not by its text", () => {
  assert(changesEnv("a.ts", 'const x = 1;\nDeno.env.set("A", "1");'));
  assert(changesEnv("a.ts", 'await withEnv("A", "1", async () => {});'));
  assert(changesEnv("a.ts", "function f() { if (x) Deno.env.delete(k); }"));
  assert(!changesEnv("a.ts", 'const script = `Deno.env.set("A", "1")`; // Deno.env.set("B", "2")'));
  assert(!changesEnv("a.ts", 'const v = Deno.env.get("A"); new Deno.Command("x", { env: { A: "1" } });'));
});

Deno.test("test task: every file that changes the environment runs in test:serial", () => {
  const { serial } = lists();
  const mutating: string[] = [];
  for (const f of sources(join(root, "tests"))) {
    if (DEFINES.has(f)) continue;
    if (changesEnv(f, Deno.readTextFileSync(join(root, f)))) mutating.push(f);
  }
  assert(mutating.length > 0, "no file found that sets the environment: the scan itself is broken");
  const helpers = mutating.filter((f) => !f.endsWith("_test.ts"));
  assertEquals(helpers, [], "helpers that set the environment run in whichever file imports them");
  const missing = mutating.filter((f) => !serial.includes(f));
  assertEquals(missing, [], "these set Deno.env but would run beside other files: add them to test:serial");
});
