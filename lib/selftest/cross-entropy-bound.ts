// Error bounds for the cross_entropy self-check. kernels/cross_entropy.wgsl computes a row's loss as
// Σ t·(m − x) + T·log s (m the row's max, s = Σ exp(x − m), T = Σ t) and the gradient as
// (exp(x − m)/s · T − t)·dloss/B. Both cancel: a confident row's loss is log s with s = 1 + 1e-6 (its
// f32 rounding alone is 4 % of the loss), and the target's gradient is sm·T − t with sm ≈ 1. A fixed
// relative tolerance then fails a correct kernel by chance (one-hot rows with logits ±100: forward
// seed 23, 2.7e-2; backward seed 10, 3.1e-5), so every row and element is held to a first-order
// bound on the kernel's own rounding errors, built from the magnitudes that enter it.

import { UNIT_ROUNDOFF } from "./check.ts";

const U = UNIT_ROUNDOFF.f32;
// WGSL's f32 accuracy (an ULP is at most 2u relative): + − × correctly rounded (u); x / y 2.5 ULP;
// exp(x) 3 + 2|x| ULP; log(x) 3 ULP, but an absolute 2^-21 for x in [0.5, 2].
const DIV = 5 * U;
const LOG_NEAR_1 = 2 ** -21;
// Results below the smallest normal f32 may be flushed to zero.
const TINY = 2 ** -126;
// f32 → f16 may round either way (1 ULP) and may flush below the smallest normal f16, 2^-14.
const F16_OUT = 2 * UNIT_ROUNDOFF.f16;
const F16_TINY = 2 ** -14;
const WG = 256;

/** Roundings a sum of n terms can collect: a serial loop per invocation, then the 256-wide tree. */
function sumDepth(n: number): number {
  return Math.ceil(n / WG) + Math.log2(WG);
}

/** One row's float64 intermediates and their error bounds, following the kernel's row_stats. */
interface RowStats {
  m: number;
  /** exp(x − m) per column and its bound */
  e: Float64Array;
  ee: Float64Array;
  s: number;
  es: number;
  tsum: number;
  et: number;
  /** Σ t·(m − x) and its bound */
  a: number;
  ea: number;
}

function rowStats(x: ArrayLike<number>, t: ArrayLike<number>, base: number, c: number): RowStats {
  const depth = sumDepth(c);
  let m = -Infinity;
  for (let j = 0; j < c; j++) m = Math.max(m, x[base + j]);
  const e = new Float64Array(c);
  const ee = new Float64Array(c);
  let s = 0, sumEe = 0, tsum = 0, tabs = 0, a = 0, aabs = 0;
  for (let j = 0; j < c; j++) {
    const d = Math.abs(x[base + j] - m); // x − m is exact in f32 input, rounded once (u·|d|)
    e[j] = Math.exp(-d);
    // exp's allowance 2(3 + 2|d|)u, plus the rounded argument's u·|d| carried through exp.
    ee[j] = U * e[j] * (6 + 5 * d) + TINY;
    s += e[j];
    sumEe += ee[j];
    const tj = t[base + j];
    tsum += tj;
    tabs += Math.abs(tj);
    a += tj * d;
    aabs += Math.abs(tj) * d;
  }
  return {
    m,
    e,
    ee,
    s,
    es: sumEe + depth * U * s,
    tsum,
    et: depth * U * tabs,
    a,
    // a difference and a product per term, then the sum
    ea: (2 + depth) * U * aabs,
  };
}

/** Per row and for the mean, the largest error a correct f32 kernel can have against float64. */
export function crossEntropyBound(
  x: ArrayLike<number>,
  t: ArrayLike<number>,
  b: number,
  c: number,
): { rowLoss: Float64Array; loss: number } {
  const rowLoss = new Float64Array(b);
  let sumBound = 0, sumAbs = 0;
  for (let r = 0; r < b; r++) {
    const st = rowStats(x, t, r * c, c);
    const log = Math.log(st.s);
    // log s: s's relative error, plus log's own allowance (absolute near 1, where the loss cancels).
    const elog = st.es / st.s + (st.s <= 2 ? LOG_NEAR_1 : 6 * U * Math.abs(log));
    const p = st.tsum * log;
    const ep = Math.abs(st.tsum) * elog + Math.abs(log) * st.et + U * Math.abs(p);
    const row = st.a + p;
    rowLoss[r] = st.ea + ep + U * Math.abs(row);
    sumBound += rowLoss[r];
    sumAbs += Math.abs(row);
  }
  // mean: the rows summed (serial + tree), times 1/B rounded to f32, one product.
  const loss = (sumBound + sumDepth(b) * U * sumAbs) / b + 2 * U * sumAbs / b;
  return { rowLoss, loss };
}

/** Per element of dlogits, the largest error a correct kernel can have (f16: its output rounding too). */
export function crossEntropyBackwardBound(
  x: ArrayLike<number>,
  t: ArrayLike<number>,
  b: number,
  c: number,
  dloss: number,
  f16: boolean,
): Float64Array {
  const out = new Float64Array(b * c);
  // g = dloss · f32(1/B): the constant rounded, one product.
  const g = Math.abs(dloss / b);
  const eg = 2 * U * g;
  for (let r = 0; r < b; r++) {
    const st = rowStats(x, t, r * c, c);
    // 1/s rounded by the division; sm = exp(x − m)·(1/s) one product more.
    const rel = st.es / st.s + DIV + U;
    for (let j = 0; j < c; j++) {
      const sm = st.e[j] / st.s;
      const esm = st.ee[j] / st.s + sm * rel + TINY;
      const q = sm * st.tsum;
      const eq = esm * Math.abs(st.tsum) + sm * st.et + U * Math.abs(q);
      const d = q - t[r * c + j];
      const ed = eq + U * Math.abs(d);
      const o = Math.abs(d * g);
      let eo = ed * g + Math.abs(d) * eg + U * o + TINY;
      if (f16) eo += F16_OUT * o + F16_TINY;
      out[r * c + j] = eo;
    }
  }
  return out;
}
