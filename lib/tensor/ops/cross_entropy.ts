// Soft-target cross-entropy (label smoothing, mixup): loss = mean_b Σ_c −t_bc·log_softmax(x_b)_c.

import { elementWindow } from "../../gpu/chunks.ts";
import { grid1d } from "../../gpu/grid.ts";
import { expectDtype, shapeStr, Tensor } from "../tensor.ts";
import { dtypeSpec, params, rowWindow, tensorRowChunks, whole } from "./common.ts";

function checkInputs(logits: Tensor, targets: Tensor, what: string): [number, number] {
  logits.check();
  targets.check();
  expectDtype(logits, ["f32", "f16"], what);
  // Targets are small CPU-made tensors; f32 keeps label-smoothing mass such as 0.1/400 exact enough.
  expectDtype(targets, ["f32"], what);
  if (logits.shape.length !== 2) {
    throw new Error(`vifi: ${what}: ${logits.name} must be [B, C] but has ${shapeStr(logits.shape)}`);
  }
  const [b, c] = logits.shape;
  if (targets.shape.length !== 2 || targets.shape[0] !== b || targets.shape[1] !== c) {
    throw new Error(
      `vifi: ${what}: ${targets.name} ${shapeStr(targets.shape)} does not match ${logits.name} ${
        shapeStr(logits.shape)
      }`,
    );
  }
  if (b === 0 || c === 0) throw new Error(`vifi: ${what}: ${logits.name} ${shapeStr(logits.shape)} is empty`);
  return [b, c];
}

/** Per-row losses [B] and their mean [1] (both f32). */
export async function crossEntropy(
  logits: Tensor,
  targets: Tensor,
): Promise<{ loss: Tensor; rowLoss: Tensor }> {
  const rt = logits.rt;
  const [b, c] = checkInputs(logits, targets, "crossEntropy");
  const rowLoss = Tensor.empty(rt, [b], "f32", `rowLoss(${logits.name})`);
  const loss = Tensor.empty(rt, [1], "f32", `loss(${logits.name})`);
  const spec = dtypeSpec(logits.dtype);
  const fwd = await rt.pipeline("cross_entropy.wgsl", "forward", spec);
  const mean = await rt.pipeline("cross_entropy.wgsl", "mean", spec);
  for (const ch of tensorRowChunks("crossEntropy", b, [[logits, c], [targets, c]])) {
    // Row losses are narrow: a window placed by an element offset rather than at aligned rows.
    const [bl, loss0] = elementWindow(rt, rowLoss.buffer, ch.first, ch.first + ch.count, 4);
    const u = rt.uniform(params(ch.count, c, { f: 1 / b }, loss0));
    const bindings = [u, rowWindow(logits, ch, c), rowWindow(targets, ch, c), bl];
    rt.dispatch(fwd, bindings, grid1d(ch.count, 1), { label: "cross_entropy" });
  }
  const u = rt.uniform(params(b, c, { f: 1 / b }));
  rt.dispatch(mean, [u, undefined, undefined, whole(rowLoss, "crossEntropy"), whole(loss, "crossEntropy")], [
    1,
  ], {
    label: "cross_entropy_mean",
  });
  return { loss, rowLoss };
}

/**
 * dlogits = (softmax(x)·Σ_c t − t) · dloss / B, the exact gradient of the mean loss (Σ_c t need not
 * be 1). `dloss` is the upstream gradient of the scalar loss: a 1-element f32 tensor (e.g. a loss
 * scale kept on the GPU) or a number. dlogits has the dtype of logits.
 */
export async function crossEntropyBackward(
  logits: Tensor,
  targets: Tensor,
  dloss: Tensor | number,
): Promise<Tensor> {
  const rt = logits.rt;
  const [b, c] = checkInputs(logits, targets, "crossEntropyBackward");
  let dl: Tensor;
  if (typeof dloss === "number") {
    if (!Number.isFinite(dloss)) {
      throw new Error(`vifi: crossEntropyBackward: dloss = ${dloss} is not finite`);
    }
    dl = Tensor.from(rt, [dloss], [1], "f32", "dloss");
  } else {
    dloss.check();
    expectDtype(dloss, ["f32"], "crossEntropyBackward");
    if (dloss.size !== 1) {
      throw new Error(
        `vifi: crossEntropyBackward: ${dloss.name} must hold 1 value but has ${shapeStr(dloss.shape)}`,
      );
    }
    dl = dloss;
  }
  const dlogits = Tensor.empty(rt, logits.shape, logits.dtype, `d(${logits.name})`);
  const pipe = await rt.pipeline("cross_entropy.wgsl", "backward", dtypeSpec(logits.dtype));
  const parts: [Tensor, number][] = [[logits, c], [targets, c], [dlogits, c]];
  for (const ch of tensorRowChunks("crossEntropyBackward", b, parts)) {
    const u = rt.uniform(params(ch.count, c, { f: 1 / b }));
    const [bl, bt, bd] = parts.map(([t, e]) => rowWindow(t, ch, e));
    const bindings = [u, bl, bt, undefined, undefined, whole(dl, "crossEntropyBackward"), bd];
    rt.dispatch(pipe, bindings, grid1d(ch.count, 1), { label: "cross_entropy_bwd" });
  }
  if (dl !== dloss) dl.dispose();
  return dlogits;
}

// ---- float64 references ----

function logSumExp(x: ArrayLike<number>, base: number, c: number): number {
  let m = -Infinity;
  for (let j = 0; j < c; j++) m = Math.max(m, x[base + j]);
  let s = 0;
  for (let j = 0; j < c; j++) s += Math.exp(x[base + j] - m);
  return m + Math.log(s);
}

export function crossEntropyReference(
  logits: ArrayLike<number>,
  targets: ArrayLike<number>,
  b: number,
  c: number,
): { loss: number; rowLoss: Float64Array } {
  const rowLoss = new Float64Array(b);
  let total = 0;
  for (let r = 0; r < b; r++) {
    const lse = logSumExp(logits, r * c, c);
    let l = 0;
    for (let j = 0; j < c; j++) l -= targets[r * c + j] * (logits[r * c + j] - lse);
    rowLoss[r] = l;
    total += l;
  }
  return { loss: total / b, rowLoss };
}

export function crossEntropyBackwardReference(
  logits: ArrayLike<number>,
  targets: ArrayLike<number>,
  b: number,
  c: number,
  dloss: number,
): Float64Array {
  const out = new Float64Array(b * c);
  for (let r = 0; r < b; r++) {
    const lse = logSumExp(logits, r * c, c);
    let tsum = 0;
    for (let j = 0; j < c; j++) tsum += targets[r * c + j];
    for (let j = 0; j < c; j++) {
      const sm = Math.exp(logits[r * c + j] - lse);
      out[r * c + j] = (sm * tsum - targets[r * c + j]) * dloss / b;
    }
  }
  return out;
}
