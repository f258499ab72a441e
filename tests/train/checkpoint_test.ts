// vifi checkpoints: resuming continues the loss curve bit for bit; a failed save never damages the
// checkpoint already on disk; a file that is not a vifi checkpoint is refused by name.

import { getRuntime } from "../../lib/gpu/runtime.ts";
import { clipConfig, initClipWeights } from "../../lib/models/config.ts";
import { randomTokens } from "../../lib/models/parity.ts";
import { ViFiClip } from "../../lib/models/vifi.ts";
import { Rng, sessionSeed } from "../../lib/random/rng.ts";
import { Tensor } from "../../lib/tensor/tensor.ts";
import { readCheckpoint, resumeInto, saveCheckpoint } from "../../lib/train/checkpoint.ts";
import { AdamW } from "../../lib/train/optimizer.ts";
import { eagerStep, type StepBatch } from "../../lib/train/step.ts";
import { writeSafetensors } from "../../lib/io/safetensors.ts";
import { frozenModel, promptsFor } from "../../lib/predict/predict.ts";

const seed = sessionSeed();
const tiny = clipConfig("tiny");

async function setup() {
  const rt = await getRuntime();
  const rng = new Rng(seed);
  const [B, T, C, R] = [3, 2, 4, tiny.vision.resolution];
  const targets = new Float32Array(B * C);
  for (let b = 0; b < B; b++) targets[b * C + (b % C)] = 1;
  const batch: StepBatch = {
    frames: Tensor.from(rt, rng.normals(B * T * 3 * R * R), [B, T, 3, R, R], "f32", "frames"),
    tokens: randomTokens(tiny, C, rng),
    classes: C,
    targets: Tensor.from(rt, targets, [B, C], "f32", "targets"),
  };
  return { rt, batch, weights: initClipWeights(tiny, seed) };
}

Deno.test("resume restores the exact training state: the loss curve continues bit for bit", async () => {
  const { batch, weights, rt } = await setup();
  const dir = await Deno.makeTempDir();
  const lrs = [1e-3, 2e-3, 1.5e-3, 5e-4];
  const straight = ViFiClip.fromWeights(rt, tiny, weights, "both");
  const straightOpt = new AdamW(straight.trainable());
  const want: number[] = [];
  for (const lr of lrs) want.push(await eagerStep(straight, straightOpt, batch, lr));

  const first = ViFiClip.fromWeights(rt, tiny, weights, "both");
  const firstOpt = new AdamW(first.trainable());
  const got: number[] = [];
  for (const lr of lrs.slice(0, 2)) got.push(await eagerStep(first, firstOpt, batch, lr));
  const path = `${dir}/run.vifi.safetensors`;
  await saveCheckpoint(path, first, { optimizer: firstOpt, epoch: 1, runId: "test" });

  // A fresh process would start from other weights: resume must overwrite all of them.
  const resumed = ViFiClip.fromWeights(rt, tiny, initClipWeights(tiny, seed + 1), "both");
  const opt = new AdamW(resumed.trainable());
  const meta = await resumeInto(path, resumed, opt);
  if (meta.epoch !== 1 || meta.optimizer?.step !== 2 || meta.runId !== "test") {
    throw new Error(`metadata lost: ${JSON.stringify(meta)}`);
  }
  for (const lr of lrs.slice(2)) got.push(await eagerStep(resumed, opt, batch, lr));
  if (got.some((l, i) => l !== want[i])) throw new Error(`loss curve differs:\n  ${want}\n  ${got}`);
  const a = await straight.clip.weights();
  const b = await resumed.clip.weights();
  for (const [name, w] of a) {
    if (w.data.some((v, i) => v !== b.get(name)!.data[i])) throw new Error(`${name} differs after resume`);
  }
  for (const m of [straight, first, resumed]) m.dispose();
  for (const o of [straightOpt, firstOpt, opt]) o.dispose();
  await Deno.remove(dir, { recursive: true });
});

Deno.test("a failed save leaves the previous checkpoint intact and no temporary file", async () => {
  const { rt, weights } = await setup();
  const dir = await Deno.makeTempDir();
  const model = ViFiClip.fromWeights(rt, tiny, weights, "both");
  const path = `${dir}/ck.safetensors`;
  await saveCheckpoint(path, model, { epoch: 3 });
  const before = await Deno.readFile(path);
  // Renaming a file onto a non-empty directory fails after the temporary file was written.
  const blocked = `${dir}/blocked`;
  await Deno.mkdir(blocked);
  await Deno.writeTextFile(`${blocked}/x`, "x");
  let failed = false;
  try {
    await saveCheckpoint(blocked, model, { epoch: 4 });
  } catch (e) {
    failed = (e as Error).message.includes(blocked);
  }
  if (!failed) throw new Error("saving onto a directory did not fail with the path named");
  const after = await Deno.readFile(path);
  if (after.length !== before.length || after.some((v, i) => v !== before[i])) {
    throw new Error("checkpoint changed");
  }
  const left = [...Deno.readDirSync(dir)].map((e) => e.name).filter((n) => n.includes(".tmp-"));
  if (left.length) throw new Error(`temporary files left: ${left.join(", ")}`);
  if ((await readCheckpoint(path)).meta.epoch !== 3) throw new Error("epoch not kept");
  model.dispose();
  await Deno.remove(dir, { recursive: true });
});

Deno.test("a safetensors file without vifi metadata is refused, naming the file", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/plain.safetensors`;
  await Deno.writeFile(
    path,
    writeSafetensors(new Map([["w", { dtype: "F32", shape: [2], data: new Float32Array(2) }]])),
  );
  let msg = "";
  try {
    await readCheckpoint(path);
  } catch (e) {
    msg = (e as Error).message;
  }
  if (!msg.includes(path) || !msg.includes("not a vifi checkpoint")) {
    throw new Error(`unhelpful error: ${msg}`);
  }
  await Deno.remove(dir, { recursive: true });
});

Deno.test("a checkpoint trained with a word list carries it: prompts tokenize from the file alone", async () => {
  const rt = await getRuntime();
  const config = clipConfig("synthetic-words");
  const dir = await Deno.makeTempDir({ prefix: "vifi-ckpt-words-" });
  try {
    const words = [".", "a", "circle", "of", "photo", "red", "square"];
    await Deno.writeTextFile(`${dir}/words.txt`, words.join("\n") + "\n");
    const model = ViFiClip.fromWeights(rt, config, initClipWeights(config, seed), "frozen");
    const experiment = { model: { tokenizer: "words", vocab: `${dir}/words.txt` } };
    await saveCheckpoint(`${dir}/m.safetensors`, model, { experiment });
    model.dispose();
    // the list is gone: only the copy inside the checkpoint can tokenize now
    await Deno.remove(`${dir}/words.txt`);
    const meta = (await readCheckpoint(`${dir}/m.safetensors`)).meta;
    if (JSON.stringify(meta.model.tokenizer) !== JSON.stringify({ kind: "words", words })) {
      throw new Error(`saved tokenizer ${JSON.stringify(meta.model.tokenizer)}`);
    }
    const loaded = await frozenModel({ weights: `${dir}/m.safetensors` });
    const { tokens } = await promptsFor(loaded, ["red circle", "square"], {});
    const ctx = config.text.context, eot = config.text.vocab - 1, sot = eot - 1;
    // "a photo of a red circle." → SOT, a, photo, of, a, red, circle, ., EOT
    const row0 = Array.from(tokens.subarray(0, 9));
    if (JSON.stringify(row0) !== JSON.stringify([sot, 1, 4, 3, 1, 5, 2, 0, eot])) {
      throw new Error(`row 0 ${row0}`);
    }
    if (tokens.length !== 2 * ctx) throw new Error(`${tokens.length} ids`);
    let err = "";
    await promptsFor(loaded, ["blue circle"], {}).catch((e) => err = e.message);
    if (!err.includes('"blue"') || !err.includes("the word list saved in")) {
      throw new Error(`refusal: ${err}`);
    }
    loaded.model.dispose();
    // a byte-level experiment records its kind and no words
    const bytes = ViFiClip.fromWeights(rt, tiny, initClipWeights(tiny, seed), "frozen");
    await saveCheckpoint(`${dir}/b.safetensors`, bytes, { experiment: { model: { tokenizer: "bytes" } } });
    bytes.dispose();
    const b = (await readCheckpoint(`${dir}/b.safetensors`)).meta.model.tokenizer;
    if (JSON.stringify(b) !== JSON.stringify({ kind: "bytes" })) {
      throw new Error(`bytes: ${JSON.stringify(b)}`);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
