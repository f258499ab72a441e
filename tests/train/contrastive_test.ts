// CLIP's contrastive loss and step: the value against a float64 reference from the model's own
// embeddings, the backward against central differences of the GPU loss, a few steps that lower it, the
// temperature clamp and the refusals.

import { Tape } from "../../lib/autograd/tape.ts";
import { getRuntime, type Runtime } from "../../lib/gpu/runtime.ts";
import { clipConfig, initClipWeights } from "../../lib/models/config.ts";
import { randomTokens } from "../../lib/models/parity.ts";
import { ViFiClip } from "../../lib/models/vifi.ts";
import { Rng, sessionSeed } from "../../lib/random/rng.ts";
import { Tensor } from "../../lib/tensor/tensor.ts";
import { contrastiveLoss, contrastiveStep, MAX_LOGIT_SCALE } from "../../lib/train/contrastive.ts";
import { AdamW } from "../../lib/train/optimizer.ts";
import { assert, assertThrows } from "../data/assert.ts";

const seed = sessionSeed();
console.log(`contrastive tests: seed ${seed} (replay with VIFI_SEED=${seed})`);
const tiny = clipConfig("tiny");
const R = tiny.vision.resolution;

async function runtime(): Promise<Runtime> {
  const rt = await getRuntime();
  rt.pool.poison = true;
  return rt;
}

function framesOf(rt: Runtime, rng: Rng, B: number, T: number): Tensor {
  return Tensor.from(rt, rng.normals(B * T * 3 * R * R), [B, T, 3, R, R], "f32", "frames");
}

const logSumExp = (xs: number[]) => {
  const m = Math.max(...xs);
  return m + Math.log(xs.reduce((a, x) => a + Math.exp(x - m), 0));
};

/**
 * CLIP's loss in float64 from normalised embeddings video [B, E], text [B, E] and s = logit_scale,
 * written from its definition: ½·mean_i −log softmax_j(L_ij)_i + ½·mean_j −log softmax_i(L_ij)_j. With
 * `matches` (1 where caption j describes clip i) each row's target is spread evenly over its matches:
 * ½·mean_i mean_{j∈M_i} −log softmax_j(L_ij) and the same over columns.
 */
function clipLossReference(
  video: ArrayLike<number>,
  text: ArrayLike<number>,
  s: number,
  B: number,
  matches?: ArrayLike<number>,
) {
  const E = video.length / B;
  const L = Array.from({ length: B }, (_, i) =>
    Array.from({ length: B }, (_, j) => {
      let d = 0;
      for (let e = 0; e < E; e++) d += video[i * E + e] * text[j * E + e];
      return Math.exp(s) * d;
    }));
  const m = (i: number, j: number) => (i === j || (matches && matches[i * B + j]) ? 1 : 0);
  let rows = 0;
  let cols = 0;
  for (let i = 0; i < B; i++) {
    const row = L[i], col = L.map((r) => r[i]);
    const [lr, lc] = [logSumExp(row), logSumExp(col)];
    let nr = 0, nc = 0, sr = 0, sc = 0;
    for (let j = 0; j < B; j++) {
      if (m(i, j)) nr++, sr += lr - row[j];
      if (m(j, i)) nc++, sc += lc - col[j];
    }
    rows += sr / nr;
    cols += sc / nc;
  }
  return { loss: (rows / B + cols / B) / 2, rows: rows / B, cols: cols / B };
}

Deno.test("the float64 reference on cases worked by hand", () => {
  // Orthonormal pairs, exp(s) = 10: every row and column is log(1 + e^−10).
  const e2 = [1, 0, 0, 1];
  const want = Math.log(1 + Math.exp(-10));
  assert(Math.abs(clipLossReference(e2, e2, Math.log(10), 2).loss - want) < 1e-15, "orthonormal case");
  // Two identical captions, both clips on them: perfect alignment still costs log 2 in each direction.
  const same = [1, 0, 1, 0];
  assert(
    Math.abs(clipLossReference(same, same, Math.log(10), 2).loss - Math.log(2)) < 1e-15,
    "duplicate case",
  );
  // The same two captions marked as matching both clips: each row's target is ½·(1, 1), so the loss is
  // the cross-entropy of uniform targets against uniform predictions, log 2, in each direction …
  assert(
    Math.abs(clipLossReference(same, same, Math.log(10), 2, [1, 1, 1, 1]).loss - Math.log(2)) < 1e-15,
    "matched duplicates",
  );
  // … and orthonormal pairs both marked as matching: −½(log p_same + log p_other) with p = σ(±10).
  const both = -0.5 * (Math.log(1 / (1 + Math.exp(-10))) + Math.log(1 / (1 + Math.exp(10))));
  assert(
    Math.abs(clipLossReference(e2, e2, Math.log(10), 2, [1, 1, 1, 1]).loss - both) < 1e-12,
    "matched pairs",
  );
});

/** The model's loss on a tape, and the reference from the embeddings and logit_scale it reads back. */
async function lossAndReference(model: ViFiClip, frames: Tensor, tokens: Int32Array, matches?: Uint8Array) {
  const B = frames.shape[0];
  const tape = new Tape();
  const ours = (await (await contrastiveLoss(tape, model, frames, tokens, matches)).value.read())[0];
  tape.dispose();
  const { video, text } = await model.embed(frames, tokens, B);
  const s = (await model.clip.p("logit_scale").value.read())[0];
  return { ours, ref: clipLossReference(video, text, s, B, matches) };
}

Deno.test("contrastive loss with matches: every describing caption a positive (B = 5, asymmetric matches)", async () => {
  const rt = await runtime();
  const rng = new Rng(seed + 2);
  const model = ViFiClip.fromWeights(rt, tiny, initClipWeights(tiny, seed, { randomNorms: true }), "both");
  const frames = framesOf(rt, rng, 5, 2);
  const tokens = randomTokens(tiny, 5, rng);
  // caption 3 describes clips 1 and 3 and caption 4 clips 0 and 4: rows and columns get different counts
  const matches = new Uint8Array(25);
  for (let i = 0; i < 5; i++) matches[i * 5 + i] = 1;
  matches[1 * 5 + 3] = 1;
  matches[0 * 5 + 4] = 1;
  const { ours, ref } = await lossAndReference(model, frames, tokens, matches);
  const plain = await lossAndReference(model, frames, tokens);
  const rel = Math.abs(ours - ref.loss) / ref.loss;
  console.log(
    `  loss ${ours.toFixed(6)} reference ${ref.loss.toFixed(6)} (one-hot ${plain.ours.toFixed(6)})`,
  );
  assert(rel < 1e-5, `loss ${ours} vs reference ${ref.loss} (rel ${rel})`);
  assert(Math.abs(ours - plain.ours) > 1e-3, "the matches changed nothing");
  // the identity as matches is CLIP's own loss
  const eye = new Uint8Array(25);
  for (let i = 0; i < 5; i++) eye[i * 5 + i] = 1;
  const same = await lossAndReference(model, frames, tokens, eye);
  assert(
    Math.abs(same.ours - plain.ours) <= 1e-6 * plain.ours,
    `identity matches: ${same.ours} vs ${plain.ours}`,
  );
  const tape = new Tape();
  const bad = eye.slice();
  bad[2 * 5 + 2] = 0;
  let err: unknown;
  await contrastiveLoss(tape, model, frames, tokens, bad).catch((e) => err = e);
  assertThrows(() => {
    if (err) throw err;
  }, "matches[2, 2] is 0");
  err = undefined;
  await contrastiveLoss(tape, model, frames, tokens, eye.slice(0, 20)).catch((e) => err = e);
  assertThrows(() => {
    if (err) throw err;
  }, "matches hold 20 entries, not B·B = 25");
  tape.dispose();
  frames.dispose();
  model.dispose();
});

Deno.test("contrastive loss matches the float64 reference (B = 5, T = 3; distinct and duplicated captions)", async () => {
  const rt = await runtime();
  const rng = new Rng(seed);
  const model = ViFiClip.fromWeights(rt, tiny, initClipWeights(tiny, seed, { randomNorms: true }), "both");
  const frames = framesOf(rt, rng, 5, 3);
  const distinct = randomTokens(tiny, 5, rng);
  // Captions 1 and 3 the same: two equal columns, so neither can win its row outright.
  const duplicated = distinct.slice();
  const ctx = tiny.text.context;
  duplicated.copyWithin(3 * ctx, 1 * ctx, 2 * ctx);
  for (const [what, tokens] of [["distinct", distinct], ["duplicated", duplicated]] as const) {
    const { ours, ref } = await lossAndReference(model, frames, tokens);
    const rel = Math.abs(ours - ref.loss) / ref.loss;
    console.log(
      `  ${what}: loss ${ours.toFixed(6)} reference ${ref.loss.toFixed(6)} (clip→caption ${
        ref.rows.toFixed(4)
      }, caption→clip ${ref.cols.toFixed(4)}), rel_err ${rel.toExponential(2)}`,
    );
    // The two directions must differ, or a one-directional loss would pass too.
    assert(Math.abs(ref.rows - ref.cols) > 1e-3, `${what}: the batch does not tell the directions apart`);
    assert(rel < 1e-5, `${what}: loss ${ours} vs reference ${ref.loss} (rel ${rel})`);
  }
  frames.dispose();
  model.dispose();
});

/** The loss with nothing recorded for backward. */
async function evalLoss(model: ViFiClip, frames: Tensor, tokens: Int32Array): Promise<number> {
  return await model.withoutGrad(async () => {
    const tape = new Tape();
    try {
      return (await (await contrastiveLoss(tape, model, frames, tokens)).value.read())[0];
    } finally {
      tape.dispose();
    }
  });
}

/** d loss / d p[i] by a fourth-order central difference (truncation O(h⁴), f32 rounding over 12h). */
async function centralDifference(
  model: ViFiClip,
  name: string,
  i: number,
  h: number,
  loss: () => Promise<number>,
): Promise<number> {
  const p = model.clip.p(name);
  const value = Float32Array.from(await p.value.read());
  const at = async (k: number) => {
    const v = value.slice();
    v[i] += k * h;
    p.value.rt.write(p.value.buffer, v);
    return await loss();
  };
  const [m2, m1, p1, p2] = [await at(-2), await at(-1), await at(1), await at(2)];
  p.value.rt.write(p.value.buffer, value);
  return (m2 - 8 * m1 + 8 * p1 - p2) / (12 * h);
}

Deno.test("contrastive gradients match central differences of the GPU loss (tiny, f32)", async () => {
  const rt = await runtime();
  const rng = new Rng(seed);
  const model = ViFiClip.fromWeights(rt, tiny, initClipWeights(tiny, seed, { randomNorms: true }), "both");
  const frames = framesOf(rt, rng, 4, 2);
  const tokens = randomTokens(tiny, 4, rng);
  const tape = new Tape();
  await tape.backward(await contrastiveLoss(tape, model, frames, tokens));
  tape.dispose();
  // One parameter of each side: the temperature, a visual weight, a text weight.
  const names = ["logit_scale", "visual.transformer.resblocks.0.mlp.c_fc.weight", "text_projection"];
  const grads = new Map<string, Float32Array>();
  for (const n of names) grads.set(n, Float32Array.from(await model.clip.p(n).grad!.read()));
  const rows: string[] = [];
  let worst = 0;
  for (const name of names) {
    const g = grads.get(name)!;
    // The element with the largest gradient: f32 rounding in the difference is smallest next to it.
    let i = 0;
    for (let k = 1; k < g.length; k++) if (Math.abs(g[k]) > Math.abs(g[i])) i = k;
    const fd = await centralDifference(model, name, i, 1e-2, () => evalLoss(model, frames, tokens));
    const rel = Math.abs(fd - g[i]) / Math.abs(g[i]);
    worst = Math.max(worst, rel);
    rows.push(
      `${name}[${i}]: fd ${fd.toExponential(5)} backward ${g[i].toExponential(5)} rel ${
        rel.toExponential(2)
      }`,
    );
  }
  console.log(`  ${rows.join("\n  ")}`);
  assert(worst < 1e-3, `gradients disagree with finite differences:\n  ${rows.join("\n  ")}`);
  frames.dispose();
  model.dispose();
});

Deno.test("contrastive steps lower the loss on a fixed batch", async () => {
  const rt = await runtime();
  rt.pool.poison = false;
  const rng = new Rng(seed);
  const model = ViFiClip.fromWeights(rt, tiny, initClipWeights(tiny, seed), "both");
  const frames = framesOf(rt, rng, 4, 1);
  const tokens = randomTokens(tiny, 4, rng);
  const opt = new AdamW(model.trainable(), { weightDecay: 0 });
  const losses: number[] = [];
  for (let i = 0; i < 8; i++) losses.push(await contrastiveStep(model, opt, frames, tokens, 1e-3));
  const after = await evalLoss(model, frames, tokens);
  console.log(`  loss ${losses.map((l) => l.toFixed(4)).join(" → ")} → ${after.toFixed(4)}`);
  assert(after < 0.5 * losses[0], `loss only went ${losses[0]} → ${after}`);
  assert(opt.step === 8, `AdamW took ${opt.step} steps, not 8`);
  opt.dispose();
  frames.dispose();
  model.dispose();
});

Deno.test("a step keeps exp(logit_scale) ≤ 100 as CLIP's pretraining does", async () => {
  const rt = await runtime();
  const rng = new Rng(seed);
  const model = ViFiClip.fromWeights(rt, tiny, initClipWeights(tiny, seed), "both");
  const s = model.clip.p("logit_scale");
  rt.write(s.value.buffer, new Float32Array([5]));
  const frames = framesOf(rt, rng, 2, 1);
  const opt = new AdamW(model.trainable(), { weightDecay: 0 });
  await contrastiveStep(model, opt, frames, randomTokens(tiny, 2, rng), 0);
  const after = (await s.value.read())[0];
  assert(Math.abs(after - MAX_LOGIT_SCALE) < 1e-6, `logit_scale ${after} after the step, not ln 100`);
  opt.dispose();
  frames.dispose();
  model.dispose();
});

Deno.test("contrastive loss refuses a batch it cannot contrast", async () => {
  const rt = await runtime();
  const rng = new Rng(seed);
  const model = ViFiClip.fromWeights(rt, tiny, initClipWeights(tiny, seed), "both");
  const tape = new Tape();
  const refusal = async (frames: Tensor, tokens: Int32Array, includes: string) => {
    let err: unknown;
    try {
      await contrastiveLoss(tape, model, frames, tokens);
    } catch (e) {
      err = e;
    }
    assertThrows(() => {
      if (err) throw err;
    }, includes);
  };
  const three = framesOf(rt, rng, 3, 1);
  const one = framesOf(rt, rng, 1, 1);
  await refusal(three, randomTokens(tiny, 2, rng), "tokens hold 32 ids");
  await refusal(one, randomTokens(tiny, 1, rng), "frames [1, 1, 3, 32, 32] holds 1 clip");
  tape.dispose();
  three.dispose();
  one.dispose();
  model.dispose();
});

Deno.test("with a frozen text tower (LiT) each caption batch is embedded afresh: the loss is the full model's", async () => {
  const rt = await runtime();
  const rng = new Rng(seed + 1);
  const model = ViFiClip.fromWeights(rt, tiny, initClipWeights(tiny, seed), "both");
  const frames = framesOf(rt, rng, 3, 2);
  const batches = [randomTokens(tiny, 3, rng), randomTokens(tiny, 3, rng)];
  const lossOf = async (tokens: Int32Array) => {
    const tape = new Tape();
    try {
      return (await (await contrastiveLoss(tape, model, frames, tokens)).value.read())[0];
    } finally {
      tape.dispose();
    }
  };
  const full = [await lossOf(batches[0]), await lossOf(batches[1])];
  assert(Math.abs(full[0] - full[1]) > 1e-4, `two caption batches give different losses: ${full}`);
  for (const variant of ["image", "frozen"] as const) {
    model.setVariant(variant);
    const lit = [await lossOf(batches[0]), await lossOf(batches[1])];
    for (let i = 0; i < 2; i++) {
      assert(
        Math.abs(lit[i] - full[i]) <= 1e-6 * Math.abs(full[i]),
        `${variant} batch ${i}: ${lit[i]} vs ${full[i]}`,
      );
    }
  }
  frames.dispose();
  model.dispose();
});
