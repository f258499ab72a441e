// The prompts file (lib/browser/prompt-file.ts): what it holds and reads back bit for bit, what it refuses
// (each a one-line PromptFileError naming the file), and the sampled fingerprint of the frozen weights:
// equal for equal weights whatever prompts are added, different when one sampled value moves.

import { getRuntime } from "../../lib/gpu/runtime.ts";
import { readSafetensors, type WritableTensor, writeSafetensors } from "../../lib/io/safetensors.ts";
import { clipConfig, initClipWeights, initPromptWeights, promptShapes } from "../../lib/models/config.ts";
import { ViFiClip } from "../../lib/models/vifi.ts";
import {
  checkPromptsFit,
  frozenFingerprint,
  type PromptFile,
  PromptFileError,
  readPromptFile,
  writePromptFile,
} from "../../lib/browser/prompt-file.ts";

const tiny = clipConfig("tiny");
const CONFIG = { textCtx: 3, visionCtx: 5, textDepth: 2, visionDepth: 1 };

function expect(cond: unknown, what: string): asserts cond {
  if (!cond) throw new Error(what);
}

function sample(): PromptFile {
  return {
    model: tiny,
    fingerprint: "0123456789abcdef",
    weights: "tiny.safetensors",
    config: CONFIG,
    tensors: initPromptWeights(tiny, CONFIG, 3),
    classes: ['say "hi", twice', "ünïcode"],
    template: "{name}.",
    training: {
      steps: 7,
      firstLoss: 1.25,
      finalLoss: 0.5,
      lr: 0.01,
      weightDecay: 0.001,
      batch: 3,
      clips: 3,
      frames: 2,
      seed: 1,
      stopped: true,
    },
  };
}

Deno.test("prompts file: safetensors of the prompt tensors with their metadata, read back bit for bit", () => {
  const f = sample();
  const bytes = writePromptFile(f);
  const raw = readSafetensors(bytes, "p");
  const names = promptShapes(tiny, CONFIG).map(([n]) => n);
  expect(
    JSON.stringify([...raw.tensors.keys()].sort()) === JSON.stringify([...names].sort()),
    "tensor names",
  );
  expect([...raw.tensors.values()].every((t) => t.dtype === "F32"), "not F32");
  expect(raw.metadata.format === "vifi-prompts" && raw.metadata.version === "1", "format");
  const back = readPromptFile(bytes, "p");
  for (const [name, t] of f.tensors) {
    const u = back.tensors.get(name)!;
    expect(u.shape.join() === t.shape.join() && u.data.every((v, i) => Object.is(v, t.data[i])), name);
  }
  expect(JSON.stringify(back.model) === JSON.stringify(f.model), "model");
  expect(JSON.stringify(back.config) === JSON.stringify(f.config), "config");
  expect(JSON.stringify(back.classes) === JSON.stringify(f.classes), "classes");
  expect(JSON.stringify(back.training) === JSON.stringify(f.training), "training");
  expect(
    back.fingerprint === f.fingerprint && back.weights === f.weights && back.template === f.template,
    "meta",
  );
  // the same input, the same bytes: a file can be compared or cached by its content
  expect(writePromptFile(f).every((b, i) => b === bytes[i]), "writing is not deterministic");
});

Deno.test("prompts file: what is not one is refused in one line naming the file", () => {
  const good = writePromptFile(sample());
  const raw = readSafetensors(good, "p");
  const rewrite = (edit: (t: Map<string, WritableTensor>, m: Record<string, string>) => void) => {
    const t = new Map<string, WritableTensor>();
    for (const [k, v] of raw.tensors) {
      t.set(k, { dtype: "F32", shape: v.shape, data: v.data as Float32Array });
    }
    const m = { ...raw.metadata };
    edit(t, m);
    return writeSafetensors(t, m);
  };
  const cases: [string, Uint8Array, RegExp][] = [
    ["not safetensors", new Uint8Array([1, 2, 3]), /x\.st is not a prompts file/],
    ["a checkpoint", rewrite((_, m) => delete m.format), /x\.st is not a prompts file .*--weights/],
    ["a later version", rewrite((_, m) => m.version = "2"), /x\.st is a prompts file of version 2/],
    ["missing tensor", rewrite((t) => t.delete("image_encoder.VPT")), /tensor image_encoder\.VPT is missing/],
    [
      "wrong shape",
      rewrite((t) =>
        t.set("prompt_learner.ctx", { dtype: "F32", shape: [2, 32], data: new Float32Array(64) })
      ),
      /prompt_learner\.ctx is F32 \[2,32\], the prompt configuration needs F32 \[3,32\]/,
    ],
    [
      "extra tensor",
      rewrite((t) => t.set("visual.proj", { dtype: "F32", shape: [1], data: new Float32Array(1) })),
      /unexpected tensor visual\.proj/,
    ],
    ["bad classes", rewrite((_, m) => m.classes = "[]"), /metadata "classes" is missing or malformed/],
    ["bad model", rewrite((_, m) => m.model = "{"), /metadata "model" is missing or malformed/],
    ["no {name}", rewrite((_, m) => m.template = "a video"), /"template" is missing or has no \{name\}/],
    [
      "a configuration the model cannot hold",
      rewrite((_, m) => m.prompt = JSON.stringify({ ...CONFIG, textDepth: 3 })),
      /x\.st: prompt config .*textDepth exceeds the 2 text layers/,
    ],
  ];
  for (const [what, bytes, want] of cases) {
    let msg = "";
    try {
      readPromptFile(bytes, "x.st");
    } catch (e) {
      expect(e instanceof PromptFileError, `${what}: ${e}`);
      msg = e.message;
    }
    expect(want.test(msg) && !msg.includes("\n"), `${what}: ${JSON.stringify(msg)}`);
  }
});

Deno.test("fingerprint: equal weights agree whatever prompts they hold; one sampled value moved, it differs", async () => {
  const rt = await getRuntime();
  rt.pool.poison = true;
  const weights = initClipWeights(tiny, 5, { randomNorms: true });
  const a = ViFiClip.fromWeights(rt, tiny, weights, "frozen");
  const b = ViFiClip.fromWeights(rt, tiny, weights, "frozen");
  b.clip.addPrompts(CONFIG, initPromptWeights(tiny, CONFIG, 9));
  const fa = await frozenFingerprint(a.clip);
  expect(/^[0-9a-f]{16}$/.test(fa), `fingerprint ${fa}`);
  expect(fa === await frozenFingerprint(b.clip), "prompts changed the fingerprint");
  // logit_scale (1 value: all three samples are it), and a value inside visual.proj's middle sample
  for (const [name, index] of [["logit_scale", 0], ["visual.proj", 16 * 32 / 2 - 8 + 3]] as const) {
    const moved = new Map(weights);
    const data = Float32Array.from(weights.get(name)!.data);
    data[index] = Math.fround(data[index] * (1 + 2 ** -20));
    moved.set(name, { shape: weights.get(name)!.shape, data });
    const c = ViFiClip.fromWeights(rt, tiny, moved, "frozen");
    expect(await frozenFingerprint(c.clip) !== fa, `${name}[${index}] moved, the fingerprint did not`);
    c.dispose();
  }
  // the architecture's fit is checked before the weights', the first differing size named
  const f = { ...sample(), fingerprint: fa };
  await checkPromptsFit(f, "p.st", b.clip);
  const wide = ViFiClip.fromWeights(
    rt,
    clipConfig("synthetic"),
    initClipWeights(clipConfig("synthetic")),
    "frozen",
  );
  const other = ViFiClip.fromWeights(rt, tiny, initClipWeights(tiny, 6), "frozen");
  const why = async (m: ViFiClip) =>
    await checkPromptsFit(f, "p.st", m.clip, "w.st").then(() => "", (e) => e.message);
  expect(
    /p\.st was learned on tiny with embedDim 16, but w\.st \(synthetic\) has embedDim 64/.test(
      await why(wide),
    ),
    "arch",
  );
  expect(
    new RegExp(`p\\.st was learned on other weights of tiny \\(fingerprint ${fa}, tiny\\.safetensors\\)`)
      .test(await why(other)),
    "weights",
  );
  for (const m of [a, b, wide, other]) m.dispose();
});
