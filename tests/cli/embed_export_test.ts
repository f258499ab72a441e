// embed: the file holds unit-norm video embeddings equal to the model's own on the same prepared
// frames, class embeddings for labels, and the paths; --list/--root reads the upstream list layout.
// export: every graph kind is written, run by onnxruntime-web and matches vifi; a refusal names the file.

import { prepareVideo } from "../../lib/data/prepare.ts";
import { readSafetensors } from "../../lib/io/safetensors.ts";
import { loadOrt } from "../../lib/models/parity.ts";
import { ViFiClip } from "../../lib/models/vifi.ts";
import { ByteTokenizer } from "../../lib/text/tokenizer.ts";
import { Tensor } from "../../lib/tensor/tensor.ts";
import { expect, type Fixture, makeFixture, runCli, tiny } from "./fixture.ts";

let fx: Fixture | undefined;
async function fixture(): Promise<Fixture> {
  return fx ??= await makeFixture(11);
}

function norms(data: Float32Array, dim: number): number[] {
  return Array.from(
    { length: data.length / dim },
    (_, i) => Math.hypot(...data.subarray(i * dim, (i + 1) * dim)),
  );
}

Deno.test("embed CLI: [N, E] unit-norm video embeddings = the model's, text [C, E], paths in metadata", async () => {
  const f = await fixture();
  const out = `${f.dir}/emb.safetensors`;
  const videos = f.videos.slice(0, 3);
  const r = await runCli(
    "embed",
    ...videos,
    "--weights",
    f.checkpoint,
    "-T",
    "4",
    "--batch",
    "2",
    "--labels",
    "red,blue",
    "--template",
    "{name}",
    "--out",
    out,
  );
  expect(r.code === 0, `exit ${r.code}: ${r.err}`);
  const { tensors, metadata } = readSafetensors(await Deno.readFile(out), out);
  const E = tiny.embedDim;
  const video = tensors.get("video")!, text = tensors.get("text")!;
  expect(JSON.stringify(video.shape) === `[3,${E}]`, `video ${video.shape}`);
  expect(JSON.stringify(text.shape) === `[2,${E}]`, `text ${text.shape}`);
  for (const n of [...norms(video.data as Float32Array, E), ...norms(text.data as Float32Array, E)]) {
    expect(Math.abs(n - 1) < 1e-5, `norm ${n}`);
  }
  expect(JSON.stringify(JSON.parse(metadata.paths)) === JSON.stringify(videos), metadata.paths);
  expect(metadata.labels === '["red","blue"]', metadata.labels);

  // The model itself, one video at a time (the CLI batched 2 + 1).
  const S = tiny.vision.resolution;
  const model = ViFiClip.fromWeights(f.rt, tiny, f.weights, "frozen");
  const tokens = new ByteTokenizer(tiny.text.vocab).tokenize(["red", "blue"], tiny.text.context);
  for (let i = 0; i < videos.length; i++) {
    const prep = await prepareVideo({ path: videos[i], mode: "test", frames: 4, size: S, seed: 0 });
    const t = Tensor.from(f.rt, prep.data, [1, 4, 3, S, S], "f32", "frames");
    const want = await model.embed(t, tokens, 2);
    t.dispose();
    const got = (video.data as Float32Array).subarray(i * E, (i + 1) * E);
    const diff = Math.max(...Array.from(got, (v, k) => Math.abs(v - want.video[k])));
    expect(diff < 1e-5, `video ${i}: max difference ${diff} from the model's embedding`);
    if (i === 0) {
      const td = Math.max(...Array.from(text.data as Float32Array, (v, k) => Math.abs(v - want.text[k])));
      expect(td < 1e-5, `text embeddings differ by ${td}`);
    }
  }
  model.dispose();

  const listed = `${f.dir}/listed.safetensors`;
  const l = await runCli(
    "embed",
    "--list",
    `${f.dir}/data/train.txt`,
    "--root",
    `${f.dir}/data`,
    "--weights",
    f.checkpoint,
    "-T",
    "2",
    "--out",
    listed,
  );
  expect(l.code === 0, `--list: exit ${l.code}: ${l.err}`);
  const lf = readSafetensors(await Deno.readFile(listed), listed);
  const lines = (await Deno.readTextFile(`${f.dir}/data/train.txt`)).trim().split("\n");
  expect(
    lf.tensors.get("video")!.shape[0] === lines.length,
    `${lf.tensors.get("video")!.shape} for ${lines.length}`,
  );
  expect(!lf.tensors.has("text") && lf.metadata.labels === undefined, "text written without labels");

  const bad = await runCli("embed", `${f.dir}/none.mp4`, "--weights", f.checkpoint, "--out", `${f.dir}/x`);
  expect(bad.code === 1 && bad.err.includes(`${f.dir}/none.mp4`), bad.err);
  const usage = await runCli("embed", "--weights", f.checkpoint);
  expect(usage.code === 2, `no videos: exit ${usage.code}`);
});

Deno.test("export CLI: logits / image / text graphs run in onnxruntime-web and match vifi", async () => {
  const f = await fixture();
  for (const what of ["logits", "image", "text"]) {
    const out = `${f.dir}/${what}.onnx`;
    const r = await runCli(
      "export",
      "--weights",
      f.checkpoint,
      "--out",
      out,
      "--what",
      what,
      "-T",
      "3",
      "--batch",
      "2",
      "--labels",
      "red,blue,up",
      "--template",
      "{name}",
      "--json",
    );
    expect(r.code === 0, `${what}: exit ${r.code}: ${r.err}`);
    const j = JSON.parse(r.out);
    expect(j.ok === true && j.maxRelErr < 1e-4, `${what}: ${r.out}`);
    const outputs = { logits: 3, image: 1, text: 1 }[what]!;
    expect(Object.keys(j.check).length === outputs, `${what}: checked ${Object.keys(j.check)}`);
    // An independent look at the file: the declared inputs are what the CLI said.
    const ort = await loadOrt();
    const s = await ort.InferenceSession.create(await Deno.readFile(out));
    const want = what === "logits" ? ["frames", "tokens"] : what === "image" ? ["frames"] : ["tokens"];
    expect(JSON.stringify(s.inputNames) === JSON.stringify(want), `${what}: inputs ${s.inputNames}`);
    await s.release();
  }
  // The comparison is live: an impossible tolerance fails the command.
  const strict = await runCli(
    "export",
    "--weights",
    f.checkpoint,
    "--out",
    `${f.dir}/s.onnx`,
    "--what",
    "image",
    "-T",
    "1",
    "--tolerance",
    "1e-12",
  );
  expect(
    strict.code === 1 && strict.out.includes("FAILED"),
    `tolerance 1e-12: exit ${strict.code}\n${strict.out}`,
  );
  const noClasses = await runCli("export", "--weights", f.checkpoint, "--out", `${f.dir}/x.onnx`);
  expect(noClasses.code === 2 && noClasses.err.includes("--classes"), noClasses.err);
  const pth = await runCli("export", "--weights", f.vifiPth, "--out", `${f.dir}/x.onnx`, "--classes", "2");
  expect(pth.code === 1 && pth.err.includes(f.vifiPth), pth.err);
});

Deno.test({
  name: "embed/export tests: clean up",
  fn: async () => {
    if (fx) await Deno.remove(fx.dir, { recursive: true });
  },
});
