// `deno task predict --prompts FILE`: the frozen weights plus prompts learned by lib/browser/prompt-tune.ts.
// The file's prompts give the probabilities of the model that trained them (same video, same views), they
// change the answer against the weights alone, the CLI takes the file's class names and template by
// default, and a prompts file of another model, or a file that is not one, is a one-line error naming it.
// The dashboard's predict form takes the same file as an upload.

import { prepareVideo } from "../../lib/data/prepare.ts";
import { clipConfig, initClipWeights, initPromptWeights } from "../../lib/models/config.ts";
import { ViFiClip } from "../../lib/models/vifi.ts";
import { ByteTokenizer } from "../../lib/text/tokenizer.ts";
import { frozenModel, predict } from "../../lib/predict/predict.ts";
import { scoreViews } from "../../lib/train/views.ts";
import { saveCheckpoint } from "../../lib/train/checkpoint.ts";
import { tunePrompts } from "../../lib/browser/prompt-tune.ts";
import { promptOverlay, readPromptFile, writePromptFile } from "../../lib/browser/prompt-file.ts";
import { ResultsStore } from "../../lib/results/store.ts";
import { predictRoutes } from "../../web/predict.tsx";
import { CLASSES, syntheticClips } from "../browser/prompt_clips.ts";
import { expect, type Fixture, makeFixture, runCli, tiny } from "./fixture.ts";

const T = 4;
const NAMES = CLASSES.map((c) => c.name);

interface Learned {
  f: Fixture;
  file: string;
  /** per class, the probabilities the training model gives each fixture video */
  trainer: Float32Array[];
}

let learned: Learned | undefined;

/** Prompts tuned on the fixture's checkpoint, written to a file; the trainer's own scores of the videos. */
async function learn(): Promise<Learned> {
  if (learned) return learned;
  const f = await makeFixture();
  const loaded = await frozenModel({ weights: f.checkpoint });
  const clips = syntheticClips(CLASSES, 2, T, tiny.vision.resolution, 5);
  const r = await tunePrompts({
    model: loaded.model,
    clips: { ...clips, T },
    classes: NAMES,
    tokenizer: new ByteTokenizer(tiny.text.vocab),
    prompt: { textCtx: 3, visionCtx: 2, textDepth: 2, visionDepth: 2 },
    steps: 12,
    lr: 1e-2,
    weightsName: f.checkpoint,
  });
  const file = `${f.dir}/learned.prompts.safetensors`;
  await Deno.writeFile(file, r.bytes);
  const S = tiny.vision.resolution;
  const trainer: Float32Array[] = [];
  for (const video of f.videos) {
    const prep = await prepareVideo({
      path: video,
      mode: "test",
      frames: T,
      clips: 1,
      crops: 1,
      size: S,
      seed: 0,
    });
    trainer.push((await scoreViews(loaded.model, prep.data, 1, 1, T, S, r.tokens, NAMES.length)).scores);
  }
  loaded.model.dispose();
  return learned = { f, file, trainer };
}

const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>) =>
  Math.max(...Array.from(a, (x, i) => Math.abs(x - b[i])));

Deno.test("predict --prompts: the trainer's probabilities, and not those of the weights alone", async () => {
  const { f, file, trainer } = await learn();
  const prompts = promptOverlay(readPromptFile(await Deno.readFile(file), file), file);
  for (let v = 0; v < f.videos.length; v++) {
    const withFile = await predict(f.videos[v], { weights: f.checkpoint, prompts, labels: NAMES, frames: T });
    // the same class text without the learned context before it
    const alone = await predict(f.videos[v], {
      weights: f.checkpoint,
      labels: NAMES,
      frames: T,
      template: "{name}.",
    });
    const same = maxDiff(withFile.probs, trainer[v]), changed = maxDiff(withFile.probs, alone.probs);
    console.log(
      `  video ${v}: |with file − trainer| ${same.toExponential(1)}, |with − without| ${changed.toFixed(3)}`,
    );
    expect(withFile.template === "{name}.", `template ${withFile.template}`);
    expect(same < 1e-6, `video ${v}: the file's prompts give ${withFile.probs}, the trainer ${trainer[v]}`);
    expect(changed > 1e-3, `video ${v}: the prompts changed nothing (${changed})`);
  }
});

Deno.test("predict CLI --prompts: the file's classes by default, the trainer's probabilities", async () => {
  const { f, file, trainer } = await learn();
  const r = await runCli(
    "predict",
    f.videos[0],
    "--weights",
    f.checkpoint,
    "--prompts",
    file,
    "--frames",
    "4",
    "--json",
  );
  expect(r.code === 0, `exit ${r.code}: ${r.err}`);
  const got = JSON.parse(r.out).predictions as { label: string; prob: number }[];
  expect(got.length === NAMES.length, `${got.length} predictions`);
  for (const p of got) {
    const want = trainer[0][NAMES.indexOf(p.label)];
    expect(Math.abs(p.prob - want) < 1e-6, `${p.label}: ${p.prob} vs the trainer's ${want}`);
  }
});

Deno.test("predict CLI --prompts: another model's prompts or a non-prompts file is one line naming the file", async () => {
  const { f, file } = await learn();
  const other = `${f.dir}/other.safetensors`;
  const model = ViFiClip.fromWeights(f.rt, tiny, initClipWeights(tiny, 99), "frozen");
  await saveCheckpoint(other, model);
  model.dispose();
  const wide = clipConfig("synthetic");
  const foreign = `${f.dir}/synthetic.prompts.safetensors`;
  const p = { textCtx: 2, visionCtx: 2, textDepth: 1, visionDepth: 1 };
  await Deno.writeFile(
    foreign,
    writePromptFile({
      model: wide,
      config: p,
      tensors: initPromptWeights(wide, p),
      classes: NAMES,
      template: "{name}.",
    }),
  );
  const cases: [string, string, RegExp][] = [
    [
      other,
      file,
      /learned\.prompts\.safetensors was learned on other weights of \S+ \(fingerprint [0-9a-f]{16}/,
    ],
    [
      f.checkpoint,
      foreign,
      /synthetic\.prompts\.safetensors was learned on synthetic with embedDim 64, .* has embedDim 16/,
    ],
    [f.checkpoint, f.checkpoint, /tiny\.safetensors is not a prompts file/],
    [f.checkpoint, `${f.dir}/missing`, /cannot read prompts .*missing/],
  ];
  for (const [weights, prompts, want] of cases) {
    const r = await runCli(
      "predict",
      f.videos[0],
      "--weights",
      weights,
      "--prompts",
      prompts,
      "--frames",
      "4",
    );
    const lines = r.err.trim().split("\n");
    expect(r.code === 1 && lines.length === 1 && want.test(lines[0]), `exit ${r.code}: ${r.err}`);
  }
});

Deno.test("dashboard predict form: an uploaded prompts file, class names left empty, gives the trainer's top-5", async () => {
  const { f, file, trainer } = await learn();
  const store = ResultsStore.open(`${f.dir}/prompts-results.db`);
  const routes = predictRoutes({ store, weightsDir: f.dir });
  const post = async (prompts: string, labels: string) => {
    const fd = new FormData();
    fd.set("checkpointPath", f.checkpoint);
    fd.set("labels", labels);
    fd.set("frames", "4");
    const video = await Deno.readFile(f.videos[0]);
    fd.set("video", new File([video], "clip.mp4", { type: "video/mp4" }));
    fd.set("prompts", new File([await Deno.readFile(prompts)], prompts.split("/").pop()!));
    const res = await routes.app.request("/", { method: "POST", body: fd });
    return { status: res.status, html: await res.text() };
  };
  try {
    const ok = await post(file, "");
    expect(ok.status === 200, `status ${ok.status}: ${ok.html.slice(0, 400)}`);
    const rows = [...ok.html.matchAll(/<td class="label">(.*?)<\/td><td class="prob" data-prob="([^"]+)"/g)];
    expect(rows.length === NAMES.length, `${rows.length} rows`);
    for (const [, label, prob] of rows) {
      const want = trainer[0][NAMES.indexOf(label)];
      expect(Math.abs(Number(prob) - want) < 1e-6, `${label}: ${prob} vs the trainer's ${want}`);
    }
    expect(ok.html.includes("learned prompts <code>learned.prompts.safetensors</code>"), "prompts not named");
    // the checkpoint itself is no prompts file: the upload's fault, said on the page
    const bad = await post(f.checkpoint, "red, green");
    expect(
      bad.status === 400 && bad.html.includes("tiny.safetensors is not a prompts file"),
      `${bad.status}`,
    );
  } finally {
    routes.close();
    store.close();
  }
});
