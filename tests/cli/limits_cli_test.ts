// `--clips 100000` (or an absurd --frames) is refused before the views are allocated, as one line naming
// the options and the environment variable that raises the cap; nothing is printed as a result.

import { expect, type Fixture, makeFixture, runCli } from "./fixture.ts";

let fx: Fixture | undefined;
async function fixture(): Promise<Fixture> {
  return fx ??= await makeFixture(9);
}

Deno.test("predict --clips 100000 and embed --frames 200000 are refused with the cap and how to raise it", async () => {
  const f = await fixture();
  const common = ["--weights", f.checkpoint, "--template", "{name}", "--labels", "red,blue"];
  const p = await runCli("predict", f.videos[0], ...common, "--clips", "100000", "-T", "8");
  expect(p.code === 1 && p.out === "", `predict exit ${p.code}: ${p.out}${p.err}`);
  const line = p.err.trim();
  expect(!line.includes("\n") && line.includes("100000 clips × 1 crop × 8 frames"), line);
  expect(line.includes("VIFI_MAX_INPUT_MB"), line);

  const e = await runCli("embed", f.videos[0], ...common, "-T", "200000", "--out", `${f.dir}/e.safetensors`);
  expect(e.code === 1 && e.out === "", `embed exit ${e.code}: ${e.out}${e.err}`);
  expect(/a batch of 1 video × 200000 frames .*VIFI_MAX_INPUT_MB/.test(e.err.trim()), e.err);
  expect(!(await Deno.stat(`${f.dir}/e.safetensors`).then(() => true, () => false)), "embed wrote a file");
});

Deno.test({
  name: "limits CLI tests: clean up",
  fn: async () => {
    if (fx) await Deno.remove(fx.dir, { recursive: true });
  },
});
