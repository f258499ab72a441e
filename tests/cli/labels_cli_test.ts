// Class names on the command line: --labels is one CSV line (quoted names may hold commas), --labels-file a
// label CSV, in every command that takes labels (predict, embed, export); a repeated name is refused
// before any model work, naming the name.

import { readSafetensors } from "../../lib/io/safetensors.ts";
import { labelsFrom } from "../../lib/cli/model-options.ts";
import { UsageError } from "../../lib/cli/args.ts";
import { expect, type Fixture, makeFixture, runCli, tiny } from "./fixture.ts";

let fx: Fixture | undefined;
async function fixture(): Promise<Fixture> {
  return fx ??= await makeFixture(5);
}

Deno.test("labelsFrom: quoted names, a label file, and repeats refused as usage errors", async () => {
  expect(JSON.stringify(await labelsFrom('"a, b",c')) === '["a, b","c"]', "quoted name split");
  let err: unknown;
  try {
    await labelsFrom("a,b,a");
  } catch (e) {
    err = e;
  }
  expect(err instanceof UsageError && /class 2 "a" repeats class 0 "a"/.test(err.message), String(err));
});

Deno.test("predict and embed: a quoted name with a comma is one class; --labels-file in embed and export", async () => {
  const f = await fixture();
  const common = ["--weights", f.checkpoint, "--template", "{name}", "-T", "2"];
  const p = await runCli("predict", f.videos[0], ...common, "--labels", '"red, big",blue', "--json");
  expect(p.code === 0, `predict exit ${p.code}: ${p.err}`);
  const labels = JSON.parse(p.out).predictions.map((x: { label: string }) => x.label).sort();
  expect(JSON.stringify(labels) === '["blue","red, big"]', `predict labels ${labels}`);

  const csv = `${f.dir}/labels.csv`;
  await Deno.writeTextFile(csv, 'id,name\n0,"red, big"\n1,blue\n2,up\n');
  const out = `${f.dir}/emb.safetensors`;
  const e = await runCli("embed", f.videos[0], ...common, "--labels-file", csv, "--out", out);
  expect(e.code === 0, `embed exit ${e.code}: ${e.err}`);
  const { tensors, metadata } = readSafetensors(await Deno.readFile(out), out);
  expect(JSON.stringify(tensors.get("text")!.shape) === `[3,${tiny.embedDim}]`, "text rows");
  expect(metadata.labels === '["red, big","blue","up"]', metadata.labels);

  const onnx = `${f.dir}/text.onnx`;
  const x = await runCli(
    "export",
    "--weights",
    f.checkpoint,
    "--what",
    "text",
    "--labels-file",
    csv,
    "--template",
    "{name}",
    "--out",
    onnx,
    "--json",
  );
  expect(x.code === 0, `export exit ${x.code}: ${x.err}`);
  expect(JSON.stringify(JSON.parse(x.out).inputs.tokens) === `[3,${tiny.text.context}]`, x.out);
});

Deno.test("predict, embed, export: a repeated class name is refused before loading the model", async () => {
  const dir = await Deno.makeTempDir({ prefix: "vifi-labels-" });
  try {
    const dup = `${dir}/dup.csv`;
    await Deno.writeTextFile(dup, "id,name\n0,walk\n1,run\n2,walk\n");
    // the weights do not exist: a refusal that names the repeat came before any model work
    const w = ["--weights", `${dir}/none.safetensors`];
    const runs = [
      await runCli("predict", "v.mp4", ...w, "--labels", "walk,run,walk"),
      await runCli("embed", "v.mp4", ...w, "--labels", '"a, b",walk,"a, b"'),
      await runCli("export", ...w, "--out", `${dir}/m.onnx`, "--labels", "x,X"),
      await runCli("predict", "v.mp4", ...w, "--labels-file", dup),
      await runCli("embed", "v.mp4", ...w, "--labels-file", dup),
    ];
    const want = [
      /class 2 "walk" repeats class 0 "walk"/,
      /class 2 "a, b" repeats class 0/,
      /class 1 "X" repeats/,
    ];
    runs.forEach((r, i) => {
      const first = r.err.split("\n")[0];
      expect(r.code === (i < 3 ? 2 : 1), `case ${i}: exit ${r.code}: ${r.err}`);
      expect(
        (want[i] ?? /dup\.csv:4: class 2 "walk" repeats class 0 "walk"/).test(first),
        `case ${i}: ${first}`,
      );
      expect(r.out === "", `case ${i} printed ${r.out}`);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name: "labels CLI tests: clean up",
  fn: async () => {
    if (fx) await Deno.remove(fx.dir, { recursive: true });
  },
});
