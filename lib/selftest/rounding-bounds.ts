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
