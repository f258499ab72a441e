// Prompt tuning as a page runs it (lib/browser/prompt-tune.ts), here in Deno on the tiny model with random
// frozen CLIP weights and synthetic clips: the loss falls, a held-out clip of every class moves towards its
// class against the same prompts before training, CLIP's weights come out bit for bit as they went in, the
// abort signal stops the run, and the prompts file it returns reads back to the same tensors.

import { getRuntime, type Runtime } from "../../lib/gpu/runtime.ts";
import { clipConfig, initClipWeights, type Weights } from "../../lib/models/config.ts";
import { ViFiClip } from "../../lib/models/vifi.ts";
import { ByteTokenizer } from "../../lib/text/tokenizer.ts";
import {
  clipProbabilities,
  type PromptTuneOptions,
  stackClips,
  tunePrompts,
} from "../../lib/browser/prompt-tune.ts";
import { frozenFingerprint, readPromptFile } from "../../lib/browser/prompt-file.ts";
import { CLASSES, syntheticClips } from "./prompt_clips.ts";

const tiny = clipConfig("tiny");
const seed = 11;
const T = 2;
const PROMPT = { textCtx: 4, visionCtx: 4, textDepth: 2, visionDepth: 2 };

async function runtime(): Promise<Runtime> {
  const rt = await getRuntime();
  rt.pool.poison = true;
  return rt;
}

function expect(cond: unknown, what: string): asserts cond {
  if (!cond) throw new Error(what);
}

function sameBytes(a: Weights, b: Weights): string | null {
  for (const [name, t] of a) {
    const u = b.get(name);
    if (!u) return `${name} is missing`;
    const x = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    const y = new Uint8Array(u.data.buffer, u.data.byteOffset, u.data.byteLength);
    if (x.length !== y.length || x.some((v, i) => v !== y[i])) return `${name} changed`;
  }
  return a.size === b.size ? null : `${a.size} vs ${b.size} tensors`;
}

/** The true class's probability of each held-out clip. */
function trueProbs(probs: Float32Array, labels: number[], C: number): number[] {
  return labels.map((l, i) => probs[i * C + l]);
}

Deno.test("prompt tuning: loss falls, held-out clips move to their class, CLIP stays bit-identical", async () => {
  const rt = await runtime();
  const model = ViFiClip.fromWeights(rt, tiny, initClipWeights(tiny, seed), "frozen");
  const train = syntheticClips(CLASSES, 3, T, tiny.vision.resolution, seed);
  const held = syntheticClips(CLASSES, 1, T, tiny.vision.resolution, seed + 1000);
  const C = CLASSES.length;
  const before = await model.clip.weights();
  const fp = await frozenFingerprint(model.clip);
  const base: PromptTuneOptions = {
    model,
    clips: { ...train, T },
    classes: CLASSES.map((c) => c.name),
    tokenizer: new ByteTokenizer(tiny.text.vocab),
    prompt: PROMPT,
    seed,
    batch: 9,
  };
  // lr 0: the same initial prompts, untrained — the "before" of the held-out clips
  const untrained = await tunePrompts({ ...base, steps: 1, lr: 0 });
  const p0 = trueProbs(await clipProbabilities(model, held.frames, T, untrained.tokens, C), held.labels, C);
  const seen: number[] = [];
  const r = await tunePrompts({ ...base, steps: 80, lr: 1e-2, onStep: (s) => void seen.push(s.loss) });
  const p1 = trueProbs(await clipProbabilities(model, held.frames, T, r.tokens, C), held.labels, C);
  console.log(
    `  loss ${r.losses[0].toFixed(4)} → ${r.losses.at(-1)!.toFixed(4)} in ${r.losses.length} steps, ` +
      `${r.msPerStep.toFixed(1)} ms/step; held-out P(true) ${p0.map((p) => p.toFixed(3))} → ` +
      `${p1.map((p) => p.toFixed(3))}`,
  );
  expect(untrained.losses[0] === r.losses[0], "the same seed does not start from the same loss");
  expect(JSON.stringify(seen) === JSON.stringify(r.losses), "onStep saw other losses than returned");
  expect(r.losses.at(-1)! < 0.5 * r.losses[0], `loss ${r.losses[0]} → ${r.losses.at(-1)} fell by under half`);
  p1.forEach((p, i) => expect(p > p0[i], `held-out clip of ${CLASSES[i].name}: P(true) ${p0[i]} → ${p}`));
  const bad = sameBytes(before, await model.clip.weights());
  expect(bad === null, `frozen weights: ${bad}`);
  expect(await frozenFingerprint(model.clip) === fp, "fingerprint changed");
  expect(model.trainable().length === 0, "the model is not left frozen");

  // the file: the learned tensors, bit for bit, and what they were learned on
  const f = readPromptFile(r.bytes, "learned.safetensors");
  expect(f.fingerprint === fp && f.model.text.width === tiny.text.width, "file's model");
  expect(JSON.stringify(f.classes) === JSON.stringify(base.classes) && f.template === "{name}.", "classes");
  expect(f.training?.steps === 80 && f.training.finalLoss === r.losses.at(-1), "training record");
  for (const p of model.clip.params.values()) {
    if (!p.name.includes("VPT") && !p.name.includes("prompt_learner")) continue;
    const got = f.tensors.get(p.name)!.data, want = await p.value.read();
    expect(got.every((v, i) => v === want[i]), `${p.name} differs in the file`);
  }
  expect(f.tensors.size === 1 + 1 + 1 + 1, `${f.tensors.size} prompt tensors`);
  model.dispose();
});

Deno.test("prompt tuning: the signal stops the run after the step in flight; aborted before, nothing runs", async () => {
  const rt = await runtime();
  const model = ViFiClip.fromWeights(rt, tiny, initClipWeights(tiny, seed), "frozen");
  const train = syntheticClips(CLASSES.slice(0, 2), 1, 1, tiny.vision.resolution, seed);
  const stop = new AbortController();
  const opts: PromptTuneOptions = {
    model,
    clips: { ...train, T: 1 },
    classes: ["red", "green"],
    tokenizer: new ByteTokenizer(tiny.text.vocab),
    prompt: { textCtx: 3, visionCtx: 0, textDepth: 1, visionDepth: 0 },
    steps: 100,
    onStep: (s) => {
      if (s.step === 3) stop.abort();
    },
    signal: stop.signal,
  };
  const r = await tunePrompts(opts);
  expect(r.stopped && r.losses.length === 3 && r.file.training?.stopped, `ran ${r.losses.length} steps`);
  expect(r.file.tensors.size === 1, "a text-only configuration has one tensor");
  let threw = false;
  await tunePrompts(opts).catch(() => (threw = true));
  expect(threw, "an aborted signal still ran");
  model.dispose();
});

Deno.test("stackClips: clips prepared one by one, in order, with their labels; a clip of another size is named", () => {
  const a = Float32Array.from({ length: 6 }, (_, i) => i), b = a.map((v) => v + 10), c = a.map((v) => v + 20);
  const s = stackClips([{ frames: a, label: 2 }, { frames: b, label: 0 }, { frames: c, label: 1 }], 2);
  expect(s.T === 2 && s.labels.join() === "2,0,1", `labels ${s.labels}`);
  expect(s.frames.join() === [...a, ...b, ...c].join(), "frames out of order");
  let msg = "";
  try {
    stackClips([{ frames: a, label: 0 }, { frames: new Float32Array(5), label: 1 }], 2);
  } catch (e) {
    msg = (e as Error).message;
  }
  expect(msg === "vifi: prompt tuning: clip 1 has 5 values, clip 0 6", msg);
});
