// Differentiable functions: each runs a forward op and records its paired backward op on the tape.
// A function records nothing when no input needs a gradient (frozen towers cost forward work only).

import { attentionPacked, attentionPackedBackward } from "../tensor/ops/attention.ts";
import { crossEntropy, crossEntropyBackward } from "../tensor/ops/cross_entropy.ts";
import { binary, cast, clone } from "../tensor/ops/elementwise.ts";
import { embedding, embeddingBackward } from "../tensor/ops/embedding.ts";
import { l2Normalize, l2NormalizeBackward } from "../tensor/ops/l2norm.ts";
import { logitScale, logitScaleBackward } from "../tensor/ops/logit_scale.ts";
import {
  layerNorm,
  layerNormBackward,
  layerNormResidual,
  layerNormResidualBackward,
} from "../tensor/ops/layernorm.ts";
import { matmul } from "../tensor/ops/matmul.ts";
import { quickGelu, quickGeluBackward } from "../tensor/ops/quickgelu.ts";
import { mean, meanBackward, sum } from "../tensor/ops/reduce.ts";
import { copyRows, range } from "../tensor/ops/rows.ts";
import { shapeStr, Tensor } from "../tensor/tensor.ts";
import { Param, type Tape, type Var } from "./tape.ts";

const any = (...vs: (Var | undefined)[]) => vs.some((v) => v?.requiresGrad);

/** Add a parameter gradient straight into its buffer, an intermediate's through accumulate(). */
async function matmulGrad(
  target: Var,
  a: Tensor,
  b: Tensor,
  opts: { transA?: boolean; transB?: boolean },
): Promise<void> {
  if (target instanceof Param && a.dtype === "f32") {
    const g = target.gradBuffer();
    await matmul(a, b, { ...opts, out: g, accumulate: true });
  } else {
    await target.accumulate((await matmul(a, b, opts)).reshapeOwned(target.shape));
  }
}

/** Rows of x as a 2-D [rows, width] view. */
function rows2d(t: Tensor): Tensor {
  const w = t.shape[t.shape.length - 1];
  return t.shape.length === 2 ? t : t.reshape([t.size / w, w]);
}

/** y = x·Wᵀ + b for x [..., in], W [out, in] (PyTorch Linear). */
export async function linear(tape: Tape, x: Var, w: Var, b?: Var): Promise<Var> {
  const [out, inDim] = w.shape;
  if (x.shape[x.shape.length - 1] !== inDim) {
    throw new Error(`vifi: linear ${w.name}: input ${x.name} ${shapeStr(x.shape)} does not end in ${inDim}`);
  }
  const x2 = rows2d(x.value);
  const y = await matmul(x2, w.compute, { transB: true, bias: b?.compute });
  const result = tape.track(y.reshape([...x.shape.slice(0, -1), out]), any(x, w, b), `${w.name}(x)`);
  tape.keep(y);
  if (result.requiresGrad) {
    tape.record(`linear ${w.name}`, async () => {
      const dy = rows2d(result.grad!);
      if (x.requiresGrad) await x.accumulate((await matmul(dy, w.compute)).reshapeOwned(x.shape));
      if (w.requiresGrad) await matmulGrad(w, dy, x2, { transA: true });
      if (b?.requiresGrad) await b.accumulate(await sum(dy, 0, { dtype: "f32" }));
    });
  }
  return result;
}

/** y = x·P for x [..., in], P [in, out] (CLIP's `proj` and `text_projection`, stored un-transposed). */
export async function project(tape: Tape, x: Var, p: Var): Promise<Var> {
  const x2 = rows2d(x.value);
  const y = await matmul(x2, p.compute);
  const result = tape.track(y, any(x, p), `${p.name}(x)`);
  if (result.requiresGrad) {
    tape.record(`project ${p.name}`, async () => {
      const dy = result.grad!;
      if (x.requiresGrad) {
        await x.accumulate((await matmul(dy, p.compute, { transB: true })).reshapeOwned(x.shape));
      }
      if (p.requiresGrad) await matmulGrad(p, x2, dy, { transA: true });
    });
  }
  return result;
}

export async function layerNormFn(tape: Tape, x: Var, w: Var, b: Var): Promise<Var> {
  const { y, mean: mu, rstd } = await layerNorm(x.value, w.compute, b.compute);
  tape.keep(mu, rstd);
  const result = tape.track(y, any(x, w, b), "layernorm");
  if (result.requiresGrad) {
    tape.record(`layernorm ${w.name}`, async () => {
      const g = await layerNormBackward(x.value, w.compute, mu, rstd, result.grad!);
      if (x.requiresGrad) await x.accumulate(g.dx);
      else g.dx.dispose();
      if (w.requiresGrad) await w.accumulate(g.dweight);
      else g.dweight.dispose();
      if (b.requiresGrad) await b.accumulate(g.dbias);
      else g.dbias.dispose();
    });
  }
  return result;
}

/**
 * sum = x + r and y = LayerNorm(sum) in one kernel (a pre-LN block's `x = x + attn; h = ln_2(x)`): sum
 * continues the residual stream, y feeds the next layer. The backward runs after every user of both
 * (reverse order), so it adds the gradient the stream brought to sum to LayerNorm's dx in the same
 * kernel, and x and r each get that total.
 */
export async function layerNormResidualFn(
  tape: Tape,
  x: Var,
  r: Var,
  w: Var,
  b: Var,
): Promise<{ sum: Var; y: Var }> {
  const f = await layerNormResidual(x.value, r.value, w.compute, b.compute);
  tape.keep(f.mean, f.rstd);
  const needs = any(x, r, w, b);
  const sum = tape.track(f.sum, any(x, r), `${x.name} + ${r.name}`);
  const y = tape.track(f.y, needs, "layernorm");
  if (needs) {
    tape.record(`layernorm+residual ${w.name}`, async () => {
      let dx: Tensor | undefined;
      if (y.grad) {
        const g = await layerNormResidualBackward(f.sum, w.compute, f.mean, f.rstd, y.grad, sum.grad);
        dx = g.dx;
        if (w.requiresGrad) await w.accumulate(g.dweight);
        else g.dweight.dispose();
        if (b.requiresGrad) await b.accumulate(g.dbias);
        else g.dbias.dispose();
      } else if (sum.grad) {
        dx = await clone(sum.grad);
      }
      if (!dx) return;
      // A copy for r: one buffer in two gradients would alias them.
      if (r.requiresGrad) await r.accumulate(x.requiresGrad ? await clone(dx) : dx);
      if (x.requiresGrad) await x.accumulate(dx);
      else if (!r.requiresGrad) dx.dispose();
    });
  }
  return { sum, y };
}

export async function quickGeluFn(tape: Tape, x: Var): Promise<Var> {
  const result = tape.track(await quickGelu(x.value), x.requiresGrad, "quickgelu");
  if (result.requiresGrad) {
    tape.record("quickgelu", async () => await x.accumulate(await quickGeluBackward(x.value, result.grad!)));
  }
  return result;
}

/** a + b, with b repeating over a (a bias, or a positional embedding over a batch). */
export async function addFn(tape: Tape, a: Var, b: Var): Promise<Var> {
  const result = tape.track(await binary("add", a.value, b.compute), any(a, b), `sum with ${b.name}`);
  if (result.requiresGrad) {
    tape.record("add", async () => {
      const dy = result.grad!;
      // Copies, not the upstream buffer itself: a shared buffer would alias two gradients.
      if (a.requiresGrad) await a.accumulate(await clone(dy));
      if (b.requiresGrad) {
        const repeats = a.value.size / b.value.size;
        const g = repeats === 1 ? await clone(dy) : await sum(dy.reshape([repeats, b.value.size]), 0, {
          dtype: b instanceof Param ? "f32" : dy.dtype,
        });
        await b.accumulate(g.reshapeOwned(b.shape));
      }
    });
  }
  return result;
}

/** Multi-head self-attention on a packed in_proj output [B, L, 3D]. */
export async function attentionFn(tape: Tape, qkv: Var, heads: number, causal: boolean): Promise<Var> {
  const fwd = await attentionPacked(qkv.value, { heads, causal });
  // the composed forward saves the probabilities, the fused one the row log-sum-exps (and reads `out`,
  // which the tape keeps as the result's value)
  tape.keep(fwd.saved);
  const result = tape.track(fwd.out, qkv.requiresGrad, "attention");
  if (result.requiresGrad) {
    tape.record("attention", async () => {
      await qkv.accumulate(await attentionPackedBackward(qkv.value, fwd, result.grad!, { heads, causal }));
    });
  }
  return result;
}

/** [N, P, W] patch tokens → [N, P + 1, W] with the class embedding [W] in front of each item. */
export function prependToken(tape: Tape, tokens: Var, cls: Var): Var {
  const [N, P, W] = tokens.shape;
  const L = P + 1;
  const out = Tensor.empty(tokens.value.rt, [N, L, W], tokens.value.dtype, "tokens");
  const items = range(0, N);
  copyRows(tokens.value, range(0, N * P), out, items.flatMap((n) => range(n * L + 1, P)), W);
  copyRows(cls.compute, items.map(() => 0), out, items.map((n) => n * L), W);
  const result = tape.track(out, any(tokens, cls), "tokens");
  if (result.requiresGrad) {
    tape.record("prepend class token", async () => {
      const dy = result.grad!;
      if (tokens.requiresGrad) {
        const g = Tensor.empty(dy.rt, tokens.shape, dy.dtype, `d(${tokens.name})`);
        copyRows(dy, items.flatMap((n) => range(n * L + 1, P)), g, range(0, N * P), W);
        await tokens.accumulate(g);
      }
      if (cls.requiresGrad) await accumulateSharedRows(cls, dy, items.map((n) => n * L));
    });
  }
  return result;
}

/** Rows `rows` of x viewed as [R, W] → [rows.length, W] (class-token and EOT pooling). */
export function selectRows(tape: Tape, x: Var, rows: number[]): Var {
  const W = x.shape[x.shape.length - 1];
  const out = Tensor.empty(x.value.rt, [rows.length, W], x.value.dtype, "rows");
  copyRows(x.value, rows, out, range(0, rows.length), W);
  const result = tape.track(out, x.requiresGrad, "selected rows");
  if (result.requiresGrad) {
    tape.record("select rows", async () => {
      if (new Set(rows).size !== rows.length) {
        throw new Error("vifi: selectRows backward needs distinct rows");
      }
      const g = Tensor.zeros(x.value.rt, x.shape, result.grad!.dtype, `d(${x.name})`);
      copyRows(result.grad!, range(0, rows.length), g, rows, W);
      await x.accumulate(g);
    });
  }
  return result;
}

/** Token embedding lookup; ids come from the CPU tokenizer. */
export async function embeddingFn(tape: Tape, table: Var, ids: Int32Array): Promise<Var> {
  const result = tape.track(await embedding(table.compute, ids), table.requiresGrad, "token embeddings");
  if (result.requiresGrad) {
    tape.record("embedding", async () => {
      if (table instanceof Param) {
        await embeddingBackward(ids, result.grad!, table.shape[0], { into: table.gradBuffer() });
      } else {
        await table.accumulate(await embeddingBackward(ids, result.grad!, table.shape[0]));
      }
    });
  }
  return result;
}

export async function meanFn(tape: Tape, x: Var, axis: number): Promise<Var> {
  const result = tape.track(await mean(x.value, axis), x.requiresGrad, "mean");
  if (result.requiresGrad) {
    tape.record("mean", async () => await x.accumulate(await meanBackward(result.grad!, x.shape, axis)));
  }
  return result;
}

export async function l2NormalizeFn(tape: Tape, x: Var): Promise<Var> {
  const result = tape.track(await l2Normalize(x.value), x.requiresGrad, "normalized");
  if (result.requiresGrad) {
    tape.record(
      "l2normalize",
      async () => await x.accumulate(await l2NormalizeBackward(x.value, result.grad!)),
    );
  }
  return result;
}

/** sims·exp(s) with s the learned logit scale (a one-element parameter). */
export async function logitScaleFn(tape: Tape, sims: Var, s: Var): Promise<Var> {
  const result = tape.track(await logitScale(sims.value, s.value), any(sims, s), "logits");
  if (result.requiresGrad) {
    tape.record("logit scale", async () => {
      const ds = s.requiresGrad
        ? (s instanceof Param ? s.gradBuffer() : Tensor.zeros(s.value.rt, [1]))
        : undefined;
      const dx = await logitScaleBackward(sims.value, s.value, result.grad!, ds);
      if (sims.requiresGrad) await sims.accumulate(dx);
      else dx.dispose();
      if (ds && !(s instanceof Param)) await s.accumulate(ds);
    });
  }
  return result;
}

/** a·bᵀ for a [M, K], b [N, K] (cosine similarities of normalised embeddings). */
export async function matmulNT(tape: Tape, a: Var, b: Var): Promise<Var> {
  const result = tape.track(
    await matmul(a.value, b.value, { transB: true }),
    any(a, b),
    "similarities",
  );
  if (result.requiresGrad) {
    tape.record("matmul", async () => {
      const dy = result.grad!;
      if (a.requiresGrad) await a.accumulate(await matmul(dy, b.compute));
      if (b.requiresGrad) await b.accumulate(await matmul(dy, a.compute, { transA: true }));
    });
  }
  return result;
}

/** Mean soft-target cross-entropy of logits [B, C] against targets [B, C] (a CPU-side constant). */
export async function crossEntropyFn(tape: Tape, logits: Var, targets: Tensor): Promise<Var> {
  const { loss, rowLoss } = await crossEntropy(logits.value, targets);
  rowLoss.dispose();
  const result = tape.track(loss, logits.requiresGrad, "loss");
  if (result.requiresGrad) {
    tape.record("cross-entropy", async () => {
      await logits.accumulate(await crossEntropyBackward(logits.value, targets, result.grad!));
    });
  }
  return result;
}

/** The same values under another shape; the gradient moves back without a copy. */
export function reshapeFn(tape: Tape, x: Var, shape: readonly number[]): Var {
  const result = tape.track(x.value.reshape(shape), x.requiresGrad, x.name);
  if (result.requiresGrad) {
    tape.record("reshape", async () => {
      const g = result.grad!;
      result.grad = undefined;
      await x.accumulate(g.reshapeOwned(x.shape));
    });
  }
  return result;
}

/** A precision change (f16 activations into the f32 logit head, or back); the gradient converts too. */
export async function castFn(tape: Tape, x: Var, to: "f32" | "f16"): Promise<Var> {
  if (x.value.dtype === to) return x;
  const result = tape.track(await cast(x.value, to), x.requiresGrad, x.name);
  if (result.requiresGrad) {
    tape.record("cast", async () => await x.accumulate(await cast(result.grad!, x.value.dtype)));
  }
  return result;
}

/**
 * p [n, W] was copied into every item at row offsets `starts` (rows of dy viewed [*, W]): its gradient
 * is the sum over items of those rows (f32 for a parameter's master gradient).
 */
async function accumulateSharedRows(p: Var, dy: Tensor, starts: number[]): Promise<void> {
  const W = dy.shape[dy.shape.length - 1];
  const n = p.value.size / W;
  const rows = Tensor.empty(dy.rt, [starts.length, n, W], dy.dtype, "d(shared rows)");
  copyRows(dy, starts.flatMap((s) => range(s, n)), rows, range(0, starts.length * n), W);
  await p.accumulate(
    (await sum(rows, 0, { dtype: p instanceof Param ? "f32" : dy.dtype })).reshapeOwned(p.shape),
  );
  rows.dispose();
}

/** Rows start..start+n−1 of every item of x [N, L, W] replaced by p [n, W] (deep prompts). */
export async function replaceRows(tape: Tape, x: Var, start: number, p: Var): Promise<Var> {
  const [N, L, W] = x.shape;
  const n = p.shape[0];
  if (p.shape[1] !== W || start + n > L) {
    throw new Error(
      `vifi: replaceRows: ${p.name} ${shapeStr(p.shape)} does not fit rows ${start}.. of ${x.name} ${
        shapeStr(x.shape)
      }`,
    );
  }
  const items = range(0, N);
  const out = await clone(x.value);
  copyRows(
    p.compute,
    items.flatMap(() => range(0, n)),
    out,
    items.flatMap((i) => range(i * L + start, n)),
    W,
  );
  const result = tape.track(out, any(x, p), "prompted tokens");
  if (result.requiresGrad) {
    tape.record("replace rows", async () => {
      const dy = result.grad!;
      const rowBytes = W * (dy.dtype === "f16" ? 2 : 4);
      if (x.requiresGrad) {
        const g = await clone(dy);
        for (const i of items) dy.rt.clear(g.buffer, (i * L + start) * rowBytes, n * rowBytes);
        await x.accumulate(g);
      }
      if (p.requiresGrad) await accumulateSharedRows(p, dy, items.map((i) => i * L + start));
    });
  }
  return result;
}

/** x [N, L, W] with p [n, W] appended to every item → [N, L + n, W] (vision prompt tokens). */
export function appendRows(tape: Tape, x: Var, p: Var): Var {
  const [N, L, W] = x.shape;
  const n = p.shape[0];
  if (p.shape[1] !== W) throw new Error(`vifi: appendRows: ${p.name} ${shapeStr(p.shape)} is not [*, ${W}]`);
  const M = L + n;
  const items = range(0, N);
  const out = Tensor.empty(x.value.rt, [N, M, W], x.value.dtype, "tokens with prompts");
  copyRows(x.value, range(0, N * L), out, items.flatMap((i) => range(i * M, L)), W);
  copyRows(p.compute, items.flatMap(() => range(0, n)), out, items.flatMap((i) => range(i * M + L, n)), W);
  const result = tape.track(out, any(x, p), "tokens with prompts");
  if (result.requiresGrad) {
    tape.record("append rows", async () => {
      const dy = result.grad!;
      if (x.requiresGrad) {
        const g = Tensor.empty(dy.rt, x.shape, dy.dtype, `d(${x.name})`);
        copyRows(dy, items.flatMap((i) => range(i * M, L)), g, range(0, N * L), W);
        await x.accumulate(g);
      }
      if (p.requiresGrad) await accumulateSharedRows(p, dy, items.map((i) => i * M + L));
    });
  }
  return result;
}
