// Per-element rounding bounds for kernels whose single result can cancel, so that a fixed relative
// tolerance judges a small result by its own size instead of the size of what cancelled: accumulate's
// d + α·s (a [1, 1] case at 0.85 of the old 1e-5 over 300 seeds) and l2normalize's backward
// dy − y·(y·dy) (a [1, 2] row at 0.73). First order in u, following the kernels operation by operation.

import { UNIT_ROUNDOFF } from "./check.ts";

const U = UNIT_ROUNDOFF.f32;
// WGSL: inverseSqrt within 2 ULP, an ULP at most 2u relative.
const INV_SQRT = 4 * U;
// f32 → f16 may round either way (1 ULP) and flush below the smallest normal f16, 2^-14.
const f16Out = (v: number) => 2 * UNIT_ROUNDOFF.f16 * Math.abs(v) + 2 ** -14;

/**
 * kernels/accumulate.wgsl: dst + α·src in f32 with α rounded to f32, a product and a sum (an FMA only
 * removes a rounding), then the store (f16: its rounding too). `ref` is the float64 result.
 */
export function accumulateBound(
  src: ArrayLike<number>,
  ref: ArrayLike<number>,
  alpha: number,
  f16: boolean,
): Float64Array {
  const nSrc = src.length;
  return Float64Array.from(ref, (r, i) => {
    const b = 2 * U * Math.abs(alpha * src[i % nSrc]) + U * Math.abs(r);
    return f16 ? b + f16Out(r) : b;
  });
}

/**
 * kernels/l2norm.wgsl backward, per row of `width`: s = Σ x² (serial), r = inverseSqrt(s),
 * d = Σ dy·x·r, dx = (dy − x·r·d)·r. The difference can cancel to nothing when dy is nearly parallel
 * to x, so its bound comes from |dy| and |x·r·d|, not from dx.
 */
export function l2NormalizeBackwardBound(
  x: ArrayLike<number>,
  dy: ArrayLike<number>,
  width: number,
  f16: boolean,
): Float64Array {
  const out = new Float64Array(x.length);
  for (let b = 0; b < x.length; b += width) {
    let s = 0;
    for (let c = 0; c < width; c++) s += x[b + c] ** 2;
    if (s === 0) continue; // the kernel writes exact zeros
    const r = 1 / Math.sqrt(s);
    // s carries (width + 1)u relative (all terms positive), halved by the square root.
    const er = ((width + 1) * U) / 2 + INV_SQRT;
    let d = 0, dAbs = 0;
    for (let c = 0; c < width; c++) {
      d += dy[b + c] * x[b + c] * r;
      dAbs += Math.abs(dy[b + c] * x[b + c] * r);
    }
    const ed = dAbs * (er + (width + 2) * U);
    for (let c = 0; c < width; c++) {
      const yc = x[b + c] * r;
      const p = yc * d;
      const ep = Math.abs(yc) * (er + U) * Math.abs(d) + Math.abs(yc) * ed + U * Math.abs(p);
      const diff = dy[b + c] - p;
      const ediff = ep + U * Math.abs(diff);
      const o = diff * r;
      const eo = ediff * r + Math.abs(o) * (er + U);
      out[b + c] = f16 ? eo + f16Out(o) : eo;
    }
  }
  return out;
}

/**
 * dx of kernels/layernorm.wgsl backward per element, with the forward's saved mean and rstd carrying
 * their own rounding: x − mean loses u·|mean| absolutely, and rstd multiplies it, so a row whose
 * values nearly coincide (rstd ~ 70) gets dx errors far above u·|dx| (1576×3, seed 5: relative
 * error 1.4e-5 over the tensor). A sum of n terms is taken as n roundings (one lane per row, the
 * worst layout), so the bound holds for any lanes-per-row the op picks.
 */
export function layerNormBackwardDxBound(
  x: ArrayLike<number>,
  w: ArrayLike<number>,
  dy: ArrayLike<number>,
  n: number,
  f16: boolean,
  eps = 1e-5,
): Float64Array {
  const out = new Float64Array(x.length);
  const DIV_N = 5 * U; // x / f32(n): 2.5 ULP
  for (let b = 0; b < x.length; b += n) {
    let s = 0, sAbs = 0;
    for (let c = 0; c < n; c++) (s += x[b + c]), (sAbs += Math.abs(x[b + c]));
    const mu = s / n;
    const eMu = (n * U * sAbs + (DIV_N + U) * Math.abs(s)) / n;
    let q = 0, eq = 0;
    for (let c = 0; c < n; c++) {
      const d = x[b + c] - mu;
      q += d * d;
      eq += 2 * Math.abs(d) * (eMu + U * Math.abs(d)) + (n + 1) * U * d * d;
    }
    const v = q / n + eps;
    const ev = eq / n + (DIV_N + U) * q / n + U * v + U * eps;
    const rstd = 1 / Math.sqrt(v);
    const relR = ev / (2 * v) + INV_SQRT;
    let a = 0, ea = 0, bsum = 0, eb = 0;
    const g = new Float64Array(n), xh = new Float64Array(n), exh = new Float64Array(n);
    for (let c = 0; c < n; c++) {
      g[c] = dy[b + c] * w[c];
      const d = x[b + c] - mu;
      xh[c] = d * rstd;
      exh[c] = (eMu + U * Math.abs(d)) * rstd + Math.abs(xh[c]) * (relR + U);
      a += g[c];
      ea += (n + 1) * U * Math.abs(g[c]);
      bsum += g[c] * xh[c];
      eb += U * Math.abs(g[c] * xh[c]) * (n + 2) + Math.abs(g[c]) * exh[c];
    }
    const mx = a / n, emx = ea / n + DIV_N * Math.abs(mx);
    const my = bsum / n, emy = eb / n + DIV_N * Math.abs(my);
    for (let c = 0; c < n; c++) {
      const t = xh[c] * my;
      const et = exh[c] * Math.abs(my) + Math.abs(xh[c]) * emy + U * Math.abs(t);
      const gm = g[c] - mx;
      const inner = gm - t;
      const ein = U * Math.abs(g[c]) + emx + U * Math.abs(gm) + et + U * Math.abs(inner);
      const dx = rstd * inner;
      const e = rstd * ein + Math.abs(dx) * (relR + U);
      out[b + c] = f16 ? e + f16Out(dx) : e;
    }
  }
  return out;
}

/**
 * Roundings one output of kernels/reduce.wgsl's sum can collect over an axis of `len`: a serial sum
 * per chunk, then a pass over the f32 partials. The op picks the chunk (64..1024) per adapter, so
 * this takes the worst: min(len, 1024) + ⌈len / 64⌉, and never more than len.
 */
export function sumDepth(len: number): number {
  return len <= 1024 ? len : Math.min(len, 1024 + Math.ceil(len / 64));
}

/**
 * Per output of sum/mean: depth·u·Σ|x| (a sum of random signs cancels to ~√len of its terms, so its
 * error is judged by the terms), α = 1/len rounded and its product for mean, the output's rounding.
 * `absSum` is the same reduction over |x|.
 */
export function reduceBound(
  ref: ArrayLike<number>,
  absSum: ArrayLike<number>,
  len: number,
  mean: boolean,
  f16: boolean,
): Float64Array {
  const depth = sumDepth(len);
  return Float64Array.from(ref, (r, i) => {
    const b = depth * U * absSum[i] / (mean ? len : 1) + (mean ? 2 * U * Math.abs(r) : 0);
    return f16 ? b + f16Out(r) : b;
  });
}
