// CLIP's contrastive pretraining (Radford et al. 2021, §2.3 and Figure 3): B clips and their B captions;
// the clip–caption cosine similarities, scaled by the learned temperature exp(logit_scale), are classified
// both ways — each clip picks its caption among the batch's captions, each caption its clip among the
// batch's clips — and the two cross-entropies are averaged. The rest of the batch are the negatives.
// With `matches` (which captions describe which clips) every caption that describes a clip is a positive
// of it, sharing the target mass, as UniCL (Yang et al. 2022) does for image–label pairs: in a small world
// many captions in a batch say the same thing ("a red circle"), and CLIP's one-hot targets would push
// apart pictures and captions that agree.

import { addFn, castFn, crossEntropyFn, logitScaleFn, matmulNT } from "../autograd/functions.ts";
import { Tape, type Var } from "../autograd/tape.ts";
import type { ViFiClip } from "../models/vifi.ts";
import { shapeStr, Tensor } from "../tensor/tensor.ts";
import type { LossScaler } from "./loss-scale.ts";
import type { AdamW } from "./optimizer.ts";
import { applyUpdate } from "./step.ts";

/** CLIP keeps exp(logit_scale) ≤ 100 during pretraining (open_clip clamps to [0, ln 100] after each step). */
export const MAX_LOGIT_SCALE = Math.log(100);

/**
 * The batch size B, after checking that frames and captions make a contrastive batch. Any variant will do:
 * with a frozen text tower (LiT) the caption embeddings are recomputed per batch (the model's text cache is
 * keyed by the tokens), so only the trainable side learns.
 */
function contrastiveBatch(model: ViFiClip, frames: Tensor, tokens: Int32Array): number {
  const B = frames.shape[0];
  const context = model.config.text.context;
  if (frames.shape.length !== 5) {
    throw new Error(`vifi: contrastiveLoss: ${frames.name} ${shapeStr(frames.shape)} is not [B, T, 3, R, R]`);
  }
  if (B < 2) {
    throw new Error(
      `vifi: contrastiveLoss: ${frames.name} ${
        shapeStr(frames.shape)
      } holds ${B} clip; in-batch negatives need B ≥ 2`,
    );
  }
  if (tokens.length !== B * context) {
    throw new Error(
      `vifi: contrastiveLoss: tokens hold ${tokens.length} ids, not one caption of ${context} per clip (${B}·${context})`,
    );
  }
  return B;
}

/**
 * The two directions' targets, each halved (crossEntropyFn is the batch mean and linear in its soft
 * targets): clip → caption rows are matches[i, ·] over their sum, caption → clip rows matches[·, j] over
 * theirs. Without matches: ½·I, CLIP's own.
 */
function targets(frames: Tensor, B: number, matches?: ArrayLike<number>): [Tensor, Tensor] {
  const rows = new Float32Array(B * B), cols = new Float32Array(B * B);
  for (let i = 0; i < B; i++) {
    let r = 0, c = 0;
    for (let j = 0; j < B; j++) r += match(matches, B, i, j), c += match(matches, B, j, i);
    for (let j = 0; j < B; j++) {
      rows[i * B + j] = (0.5 * match(matches, B, i, j)) / r;
      // row i of the transposed logits is caption i; its targets run over clips j
      cols[i * B + j] = (0.5 * match(matches, B, j, i)) / c;
    }
  }
  const rt = frames.rt;
  return [
    Tensor.from(rt, rows, [B, B], "f32", "clip → caption targets"),
    Tensor.from(rt, cols, [B, B], "f32", "caption → clip targets"),
  ];
}

/** Whether caption j describes clip i: 1 on the diagonal always, elsewhere as `matches` says. */
function match(matches: ArrayLike<number> | undefined, B: number, i: number, j: number): number {
  return i === j ? 1 : matches ? (matches[i * B + j] ? 1 : 0) : 0;
}

function checkMatches(matches: ArrayLike<number>, B: number): void {
  if (matches.length !== B * B) {
    throw new Error(`vifi: contrastiveLoss: matches hold ${matches.length} entries, not B·B = ${B * B}`);
  }
  for (let i = 0; i < B; i++) {
    if (!matches[i * B + i]) {
      throw new Error(
        `vifi: contrastiveLoss: matches[${i}, ${i}] is 0, but caption ${i} describes clip ${i}`,
      );
    }
  }
}

/**
 * CLIP's symmetric InfoNCE for frames [B, T, 3, R, R] and tokens [B, context] (caption i describes clip i):
 * logits = exp(s)·v̂·t̂ᵀ, loss = ½·mean_i CE(logits_i, i) + ½·mean_j CE(logitsᵀ_j, j). `matches` [B, B]
 * (nonzero where caption j describes clip i too; the diagonal must be set) spreads each target over
 * every describing caption (or described clip).
 */
export async function contrastiveLoss(
  tape: Tape,
  model: ViFiClip,
  frames: Tensor,
  tokens: Int32Array,
  matches?: ArrayLike<number>,
): Promise<Var> {
  const B = contrastiveBatch(model, frames, tokens);
  if (matches) checkMatches(matches, B);
  // With B captions as the "classes", the model's logits are the clip → caption direction.
  const { logits, video, text } = await model.forward(tape, frames, tokens, B);
  const sims = await castFn(tape, await matmulNT(tape, text, video), "f32");
  const transposed = await logitScaleFn(tape, sims, model.clip.p("logit_scale"));
  const [rows, cols] = targets(frames, B, matches);
  tape.keep(rows);
  tape.keep(cols);
  const clipToCaption = await crossEntropyFn(tape, logits, rows);
  const captionToClip = await crossEntropyFn(tape, transposed, cols);
  return await addFn(tape, clipToCaption, captionToClip);
}

/**
 * After an update, logit_scale back into [0, ln 100] as CLIP's pretraining does (one 4-byte round trip;
 * the step reads its loss anyway).
 */
async function clampLogitScale(model: ViFiClip): Promise<void> {
  const s = model.clip.p("logit_scale");
  if (!s.trainable) return;
  const v = (await s.value.read())[0];
  const clamped = Math.min(MAX_LOGIT_SCALE, Math.max(0, v));
  if (clamped !== v) s.value.rt.write(s.value.buffer, new Float32Array([clamped]));
}

/**
 * One eager contrastive step — forward, loss, backward, AdamW update, logit_scale clamped — and its loss.
 * As eagerStep: with a loss scaler the backward is scaled, and a non-finite gradient skips the update.
 */
export async function contrastiveStep(
  model: ViFiClip,
  opt: AdamW,
  frames: Tensor,
  tokens: Int32Array,
  lr: number,
  opts: { scaler?: LossScaler; matches?: ArrayLike<number> } = {},
): Promise<number> {
  const { scaler, matches } = opts;
  const tape = new Tape();
  let loss: number;
  try {
    const l = await contrastiveLoss(tape, model, frames, tokens, matches);
    await tape.backward(l, scaler?.seed ?? 1);
    await applyUpdate(opt, lr, scaler);
    loss = (await l.value.read())[0];
  } finally {
    tape.dispose();
  }
  if (await scaler?.update()) opt.unstep();
  await clampLogitScale(model);
  return loss;
}
