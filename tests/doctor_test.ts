// `deno task doctor --json` end to end: a separate process, its JSON contract and its exit code.

Deno.test("doctor --json reports the adapter, f16 and a passing check per kernel and direction", async () => {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL("../lib/cli/doctor.ts", import.meta.url).pathname, "--json"],
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
  }
});
