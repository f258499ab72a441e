// `deno task doctor --json` end to end: a separate process, its JSON contract and its exit code.

import { checkLine } from "../../lib/cli/doctor.ts";

Deno.test("doctor --json reports the adapter, f16 and a passing check per kernel and direction", async () => {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL("../../lib/cli/doctor.ts", import.meta.url).pathname, "--json"],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(stdout);
  if (code !== 0) throw new Error(`doctor exited ${code}:\n${text}\n${new TextDecoder().decode(stderr)}`);
  const report = JSON.parse(text);
  for (const key of ["adapter", "features", "f16", "checks"]) {
    if (!(key in report)) throw new Error(`doctor JSON lacks ${key}`);
  }
  if (typeof report.adapter.description !== "string") throw new Error("adapter.description missing");
  if (typeof report.f16 !== "boolean") throw new Error("f16 must be a boolean");
  const names = new Set(
    report.checks.map((c: { name: string; direction: string }) => `${c.name}/${c.direction}`),
  );
  for (
    const want of [
      "matmul/forward",
      "matmul/backward",
      "attention/backward",
      "layernorm/backward",
      "adamw/update",
    ]
  ) {
    if (!names.has(want)) throw new Error(`doctor has no ${want} check`);
  }
  for (const c of report.checks) {
    if (!("rel_err" in c) || typeof c.pass !== "boolean" || !c.pass) {
      throw new Error(`bad check ${JSON.stringify(c)}`);
    }
    // A bound-based check's number is no relative error: it says so and leaves rel_err empty.
    const ok = c.measure === "relative"
      ? c.rel_err === c.err
      : c.measure === "bound" && c.tol === 1 && c.rel_err === null && c.err < 1;
    if (!ok) throw new Error(`check's measure, err, rel_err and tol disagree: ${JSON.stringify(c)}`);
  }
  const adamw = report.checks.find((c: { name: string }) => c.name === "adamw");
  if (adamw?.measure !== "bound") {
    throw new Error(`adamw is checked against its bound: ${JSON.stringify(adamw)}`);
  }
});

Deno.test("doctor prints what each check measures: err/bound for bound-based checks, rel_err otherwise", () => {
  const base = { name: "adamw", dtype: "f32", direction: "update", case: "n=1", pass: true };
  const bound = checkLine({ ...base, measure: "bound", err: 0.3125, rel_err: null, tol: 1 });
  if (!/ err\/bound 0\.31 +< 1$/.test(bound) || bound.includes("rel_err")) throw new Error(bound);
  const rel = checkLine({ ...base, measure: "relative", err: 3.1e-7, rel_err: 3.1e-7, tol: 1e-5 });
  if (!/ rel_err +3\.10e-7 +< 0\.00001$/.test(rel)) throw new Error(rel);
});
