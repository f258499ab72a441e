// predict: the probabilities are the per-view softmax averaged over the views (docs/upstream.md §9), recomputed here
// from the model's own embeddings on the same prepared frames with independently made tokens; the
// --json contract; and errors that say which file is wrong and what to do.

import { prepareVideo } from "../../lib/data/prepare.ts";
import { ViFiClip } from "../../lib/models/vifi.ts";
import { ByteTokenizer } from "../../lib/text/tokenizer.ts";
import { Tensor } from "../../lib/tensor/tensor.ts";
import { predict } from "../../lib/predict/predict.ts";
import { expect, type Fixture, makeFixture, runCli, tiny } from "./fixture.ts";

const LABELS = ["red", "blue", "green", "up", "left", "down", "circle"];
let fx: Fixture | undefined;
async function fixture(): Promise<Fixture> {
  return fx ??= await makeFixture();
}

/** Average over views of softmax(exp(s)·v̂·t̂ᵀ), all V views in one batch, float64 on the CPU. */
async function reference(f: Fixture, video: string, T: number, clips: number, crops: number) {
  const S = tiny.vision.resolution;
  const prep = await prepareVideo({ path: video, mode: "test", frames: T, clips, crops, size: S, seed: 0 });
  const V = prep.shape[0] / T;
  const tokens = new ByteTokenizer(tiny.text.vocab).tokenize(LABELS, tiny.text.context);
  const model = ViFiClip.fromWeights(f.rt, tiny, f.weights, "frozen");
  const t = Tensor.from(f.rt, prep.data, [V, T, 3, S, S], "f32", "views");
  const { video: v, text } = await model.embed(t, tokens, LABELS.length);
  t.dispose();
  model.dispose();
  const E = tiny.embedDim, C = LABELS.length;
  const scale = Math.exp(f.weights.get("logit_scale")!.data[0]);
  const probs = new Float64Array(C);
  for (let i = 0; i < V; i++) {
    const logits = Array.from({ length: C }, (_, c) => {
      let d = 0;
      for (let e = 0; e < E; e++) d += v[i * E + e] * text[c * E + e];
      return scale * d;
    });
    const m = Math.max(...logits);
    const ex = logits.map((l) => Math.exp(l - m));
    const sum = ex.reduce((a, b) => a + b, 0);
    ex.forEach((x, c) => probs[c] += x / sum / V);
  }
  return { probs, V };
}

function checkAgainst(what: string, got: Float32Array, want: Float64Array) {
  let sum = 0;
  for (let c = 0; c < want.length; c++) {
    sum += got[c];
    expect(Math.abs(got[c] - want[c]) < 1e-5, `${what}: class ${c} prob ${got[c]} vs reference ${want[c]}`);
  }
  expect(Math.abs(sum - 1) < 1e-5, `${what}: probabilities sum to ${sum}`);
  const top = (a: ArrayLike<number>) => Array.from(a).indexOf(Math.max(...Array.from(a)));
  const sorted = [...want].sort((a, b) => b - a);
  // Only a top-1 that the reference separates by more than the tolerance is a fair demand.
  if (sorted[0] - sorted[1] > 2e-5) {
    expect(top(got) === top(want), `${what}: top-1 ${top(got)} vs ${top(want)}`);
  }
}

Deno.test("predict: single view = softmax of the model's logits; top-5 sorted; checkpoint and .pth agree", async () => {
  const f = await fixture();
  const video = f.videos[0];
  const want = await reference(f, video, 4, 1, 1);
  const r = await predict(video, {
    weights: f.checkpoint,
    labels: LABELS,
    frames: 4,
    template: "{name}",
  });
  expect(r.views === 1, `views ${r.views}`);
  checkAgainst("single view", r.probs, want.probs);
  expect(r.predictions.length === 5, `${r.predictions.length} predictions`);
  for (let i = 1; i < 5; i++) expect(r.predictions[i - 1].prob >= r.predictions[i].prob, "not sorted");
  expect(r.predictions[0].prob === Math.max(...r.probs), "first prediction is not the most likely");
  expect(r.predictions[0].label === LABELS[Array.from(r.probs).indexOf(r.predictions[0].prob)], "label");

  // The same weights as a ViFi-CLIP checkpoint completed by the OpenAI-named file's token table.
  const fromPth = await predict(video, {
    weights: f.vifiPth,
    clipWeights: f.clipPt,
    headWidth: 16,
    labels: LABELS,
    frames: 4,
    template: "{name}",
  });
  checkAgainst(".pth + clip weights", fromPth.probs, want.probs);
});

Deno.test("predict: V = clips·crops views, each softmaxed, then averaged", async () => {
  const f = await fixture();
  const want = await reference(f, f.videos[1], 3, 2, 3);
  expect(want.V === 6, `reference views ${want.V}`);
  const r = await predict(f.videos[1], {
    weights: f.checkpoint,
    labels: LABELS,
    frames: 3,
    clips: 2,
    crops: 3,
    template: "{name}",
  });
  expect(r.views === 6, `views ${r.views}`);
  checkAgainst("2 clips × 3 crops", r.probs, want.probs);
  // A different view set must change the answer, or the views were not used at all.
  const single = await reference(f, f.videos[1], 3, 1, 1);
  const diff = Math.max(...Array.from(single.probs, (p, c) => Math.abs(p - r.probs[c])));
  expect(diff > 1e-4, `multi-view probabilities equal the single view's (max diff ${diff})`);
});

Deno.test("predict CLI: --json is exactly {predictions: [{label, prob}]}, min(5, C) entries", async () => {
  const f = await fixture();
  const r = await runCli(
    "predict",
    f.videos[2],
    "--weights",
    f.checkpoint,
    "--labels",
    "red,blue,up",
    "--template",
    "{name}",
    "--frames",
    "4",
    "--json",
  );
  expect(r.code === 0, `exit ${r.code}: ${r.err}`);
  const j = JSON.parse(r.out);
  expect(JSON.stringify(Object.keys(j)) === '["predictions"]', `keys ${Object.keys(j)}`);
  expect(j.predictions.length === 3, `${j.predictions.length} predictions for 3 labels`);
  let sum = 0;
  for (const p of j.predictions) {
    expect(JSON.stringify(Object.keys(p)) === '["label","prob"]', `entry ${JSON.stringify(p)}`);
    expect(typeof p.prob === "number" && p.prob >= 0 && p.prob <= 1, `prob ${p.prob}`);
    sum += p.prob;
  }
  expect(Math.abs(sum - 1) < 1e-5, `probabilities of all 3 classes sum to ${sum}`);
  expect(new Set(j.predictions.map((p: { label: string }) => p.label)).size === 3, "labels repeat");

  const csv = `${f.dir}/labels.csv`;
  await Deno.writeTextFile(csv, "id,name\n" + LABELS.map((n, i) => `${i},${n}`).join("\n") + "\n");
  const text = await runCli(
    "predict",
    f.videos[2],
    "--weights",
    f.checkpoint,
    "--labels-file",
    csv,
    "-T",
    "4",
    "--template",
    "{name}",
  );
  expect(text.code === 0, `exit ${text.code}: ${text.err}`);
  expect(text.out.trim().split("\n").length === 6, `text output:\n${text.out}`);
});

Deno.test("predict CLI: errors name the file and the fix; usage errors exit 2", async () => {
  const f = await fixture();
  const base = ["--labels", "red,blue", "--template", "{name}", "-T", "2"];
  const missingVideo = await runCli("predict", `${f.dir}/nope.mp4`, "--weights", f.checkpoint, ...base);
  expect(missingVideo.code === 1 && missingVideo.err.includes(`${f.dir}/nope.mp4`), missingVideo.err);
  const missingWeights = await runCli("predict", f.videos[0], "--weights", `${f.dir}/none.pt`, ...base);
  expect(missingWeights.code === 1 && missingWeights.err.includes(`${f.dir}/none.pt`), missingWeights.err);
  const pth = await runCli("predict", f.videos[0], "--weights", f.vifiPth, "--head-width", "16", ...base);
  expect(pth.code === 1 && pth.err.includes(f.vifiPth) && pth.err.includes("--clip-weights"), pth.err);
  // The tiny model's text context is 16 tokens: "a photo of a …" in bytes does not fit.
  const long = await runCli(
    "predict",
    f.videos[0],
    "--weights",
    f.checkpoint,
    "--labels",
    "red,blue",
    "-T",
    "2",
  );
  expect(long.code === 1 && /class 0 "red".*context of 16/.test(long.err), long.err);
  const noLabels = await runCli("predict", f.videos[0], "--weights", f.checkpoint);
  expect(noLabels.code === 2 && noLabels.err.includes("--labels"), noLabels.err);
  const crops = await runCli("predict", f.videos[0], "--weights", f.checkpoint, ...base, "--crops", "2");
  expect(crops.code === 2, `--crops 2: exit ${crops.code}`);
});

Deno.test({
  name: "predict tests: clean up",
  fn: async () => {
    if (fx) await Deno.remove(fx.dir, { recursive: true });
  },
});
