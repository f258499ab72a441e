// cv::resize with INTER_LINEAR on 3-channel uint8, reproducing OpenCV's integer arithmetic rather than an
// idealised bilinear: float32 source coordinates (dx+0.5)·scale−0.5 with scale = 1/(dw/sw), 11-bit
// coefficients rounded half-even, an integer horizontal pass, then OpenCV's 8-bit vertical pass
// (((S0>>4)·β0 >> 16) + ((S1>>4)·β1 >> 16) + 2) >> 2 — not the exact (S0·β0 + S1·β1 + 2^21) >> 22 of the
// generic template; OpenCV's uchar specialisation uses the truncating form in its vector and scalar code
// alike, which makes results up to 1 lower. Same size → copy; an exact 2× downscale switches to INTER_AREA
// ((a+b+c+d+2)>>2) as OpenCV does. Verified bit for bit against cv2 4.6.0 by tests/video/transforms_test.ts
// (fixtures from make_transform_fixtures.py). Also mmcv's rescale_size for the short-side resize.
//
// The pipelines (train-transform.ts, test-transform.ts) call resizePlan / resizeWindowInto directly so that
// a resize followed by a crop computes only the crop's window, with the same bits.

import { checkCrop, type Frame } from "./frame.ts";

const COEF_BITS = 11;
const COEF_SCALE = 1 << COEF_BITS;

export const RESIZE_COPY = 0;
const RESIZE_AREA2X = 1, RESIZE_LINEAR = 2;

/**
 * Everything cv::resize derives from the full source and destination sizes. Each destination pixel
 * depends only on these tables and the source, so any window of the output can be computed on its own
 * with the same bits as the full resize — which is what lets the pipelines skip pixels a crop discards.
 */
export interface ResizePlan {
  sw: number;
  sh: number;
  dw: number;
  dh: number;
  mode: number;
  // per destination column: byte offsets of the two source pixels within a row, and their weights
  x0: Int32Array;
  x1: Int32Array;
  a0: Int32Array;
  a1: Int32Array;
  // per destination row: the two (clamped) source rows and their weights
  y0: Int32Array;
  y1: Int32Array;
  b0: Int32Array;
  b1: Int32Array;
}

const planCache = new Map<string, ResizePlan>();

/** cv::saturate_cast<short>(float): round half to even. */
function castShort(v: number): number {
  const f = Math.floor(v);
  const d = v - f;
  const r = d > 0.5 ? f + 1 : d < 0.5 ? f : (f % 2 === 0 ? f : f + 1);
  return Math.max(-32768, Math.min(32767, r));
}

function coefTable(src: number, dst: number, clampEnds: boolean): { ofs: Int32Array; coef: Int16Array } {
  // OpenCV derives the scale from the inverse, which is not always bit-identical to src/dst.
  const scale = 1 / (dst / src);
  const ofs = new Int32Array(dst);
  const coef = new Int16Array(dst * 2);
  for (let d = 0; d < dst; d++) {
    let f = Math.fround((d + 0.5) * scale - 0.5);
    let s = Math.floor(f);
    f = Math.fround(f - s);
    if (clampEnds) {
      if (s < 0) f = 0, s = 0;
      if (s >= src - 1) f = 0, s = src - 1;
    }
    ofs[d] = s;
    coef[2 * d] = castShort(Math.fround(1 - f) * COEF_SCALE);
    coef[2 * d + 1] = castShort(f * COEF_SCALE);
  }
  return { ofs, coef };
}

export function resizePlan(sw: number, sh: number, dw: number, dh: number): ResizePlan {
  if (dw < 1 || dh < 1 || sw < 1 || sh < 1) throw new Error(`resize: bad sizes ${sw}x${sh} -> ${dw}x${dh}`);
  const key = `${sw}x${sh}>${dw}x${dh}`;
  let p = planCache.get(key);
  if (p) return p;
  const sx = 1 / (dw / sw), sy = 1 / (dh / sh);
  const ix = Math.round(sx), iy = Math.round(sy);
  const mode = dw === sw && dh === sh
    ? RESIZE_COPY
    : Math.abs(sx - ix) < Number.EPSILON && Math.abs(sy - iy) < Number.EPSILON && ix === 2 && iy === 2
    ? RESIZE_AREA2X
    : RESIZE_LINEAR;
  const x = coefTable(sw, dw, true);
  // Rows are clamped when fetched, not in the table, so the out-of-range row keeps its weight.
  const y = coefTable(sh, dh, false);
  const x0 = new Int32Array(dw), x1 = new Int32Array(dw), a0 = new Int32Array(dw), a1 = new Int32Array(dw);
  for (let d = 0; d < dw; d++) {
    const s = x.ofs[d];
    x0[d] = 3 * s;
    x1[d] = 3 * (s + 1 < sw ? s + 1 : s);
    a0[d] = x.coef[2 * d];
    a1[d] = x.coef[2 * d + 1];
  }
  const y0 = new Int32Array(dh), y1 = new Int32Array(dh), b0 = new Int32Array(dh), b1 = new Int32Array(dh);
  for (let d = 0; d < dh; d++) {
    const s = y.ofs[d];
    y0[d] = Math.min(Math.max(s, 0), sh - 1);
    y1[d] = Math.min(Math.max(s + 1, 0), sh - 1);
    b0[d] = y.coef[2 * d];
    b1[d] = y.coef[2 * d + 1];
  }
  p = { sw, sh, dw, dh, mode, x0, x1, a0, a1, y0, y1, b0, b1 };
  if (planCache.size > 64) planCache.clear();
  planCache.set(key, p);
  return p;
}

const LITTLE_ENDIAN = new Uint8Array(Uint32Array.of(1).buffer)[0] === 1;

// Horizontal-pass rows, reused across calls: everything here is synchronous, so nothing else can hold them.
let hrowA = new Int32Array(0), hrowB = new Int32Array(0);

function horizontalRow(
  s: Uint8Array,
  base: number,
  p: ResizePlan,
  wx: number,
  w: number,
  row: Int32Array,
): void {
  const { x0, x1, a0, a1 } = p;
  // stores S >> 4: the vertical pass only ever uses the shifted sums
  for (let x = wx, j = 0, end = wx + w; x < end; x++, j += 3) {
    const i0 = base + x0[x], i1 = base + x1[x], c0 = a0[x], c1 = a1[x];
    row[j] = (s[i0] * c0 + s[i1] * c1) >> 4;
    row[j + 1] = (s[i0 + 1] * c0 + s[i1 + 1] * c1) >> 4;
    row[j + 2] = (s[i0 + 2] * c0 + s[i1 + 2] * c1) >> 4;
  }
}

/**
 * Window (wx, wy, w, h) of cv2.resize(src, (p.dw, p.dh)) written tightly packed into `out`; the
 * algorithm (copy, INTER_AREA 2×, bilinear) is the one the full resize would use.
 */
export function resizeWindowInto(
  s: Uint8Array,
  p: ResizePlan,
  wx: number,
  wy: number,
  w: number,
  h: number,
  out: Uint8Array,
): void {
  if (wx < 0 || wy < 0 || w < 1 || h < 1 || wx + w > p.dw || wy + h > p.dh) {
    throw new Error(`resize window ${w}x${h}+${wx}+${wy} outside ${p.dw}x${p.dh}`);
  }
  const stride = p.sw * 3, n = w * 3;
  if (p.mode === RESIZE_COPY) {
    for (let y = 0; y < h; y++) {
      const i = (wy + y) * stride + wx * 3;
      out.set(s.subarray(i, i + n), y * n);
    }
    return;
  }
  if (p.mode === RESIZE_AREA2X) {
    for (let y = 0; y < h; y++) {
      const r0 = 2 * (wy + y) * stride + 6 * wx, r1 = r0 + stride;
      for (let j = 0, o = y * n; j < n; j += 3, o += 3) {
        const c = 2 * j;
        out[o] = (s[r0 + c] + s[r0 + c + 3] + s[r1 + c] + s[r1 + c + 3] + 2) >> 2;
        out[o + 1] = (s[r0 + c + 1] + s[r0 + c + 4] + s[r1 + c + 1] + s[r1 + c + 4] + 2) >> 2;
        out[o + 2] = (s[r0 + c + 2] + s[r0 + c + 5] + s[r1 + c + 2] + s[r1 + c + 5] + 2) >> 2;
      }
    }
    return;
  }
  if (hrowA.length < n) hrowA = new Int32Array(n), hrowB = new Int32Array(n);
  // two row slots, A and B, holding the horizontal pass of source rows keyA and keyB
  let A = hrowA, B = hrowB, keyA = -1, keyB = -1;
  const out32 = LITTLE_ENDIAN && n % 4 === 0 && out.byteOffset % 4 === 0
    ? new Uint32Array(out.buffer, out.byteOffset, (n * h) >> 2)
    : null;
  const { y0, y1, b0, b1 } = p;
  for (let y = 0; y < h; y++) {
    const r0 = y0[wy + y], r1 = y1[wy + y];
    // Consecutive output rows mostly share source rows, so each source row is passed over once.
    if (keyA !== r0) {
      if (keyB === r0 || keyA === r1) {
        const T = A, k = keyA;
        A = B, keyA = keyB, B = T, keyB = k;
      }
      if (keyA !== r0) horizontalRow(s, r0 * stride, p, wx, w, A), keyA = r0;
    }
    let S1 = A;
    if (r1 !== r0) {
      if (keyB !== r1) horizontalRow(s, r1 * stride, p, wx, w, B), keyB = r1;
      S1 = B;
    }
    const S0 = A, c0 = b0[wy + y], c1 = b1[wy + y];
    // Both terms are non-negative and sum to at most 1020, so the result is always a valid byte. Four
    // bytes per store when rows allow it: it saves about a tenth of the pass.
    if (out32) {
      for (let j = 0, q = (y * n) >> 2; j < n; j += 4, q++) {
        out32[q] = ((((S0[j] * c0) >> 16) + ((S1[j] * c1) >> 16) + 2) >> 2) |
          (((((S0[j + 1] * c0) >> 16) + ((S1[j + 1] * c1) >> 16) + 2) >> 2) << 8) |
          (((((S0[j + 2] * c0) >> 16) + ((S1[j + 2] * c1) >> 16) + 2) >> 2) << 16) |
          (((((S0[j + 3] * c0) >> 16) + ((S1[j + 3] * c1) >> 16) + 2) >> 2) << 24);
      }
    } else {
      for (let j = 0, o = y * n; j < n; j++, o++) {
        out[o] = (((S0[j] * c0) >> 16) + ((S1[j] * c1) >> 16) + 2) >> 2;
      }
    }
  }
}

/** cv2.resize(img, (dw, dh), interpolation=INTER_LINEAR) for 3-channel uint8. */
export function resizeBilinear(src: Frame, dw: number, dh: number): Frame {
  return resizeBilinearWindow(src, dw, dh, 0, 0, dw, dh);
}

/** crop(resizeBilinear(src, dw, dh), x, y, w, h), computing only the pixels the crop keeps. */
export function resizeBilinearWindow(
  src: Frame,
  dw: number,
  dh: number,
  x: number,
  y: number,
  w: number,
  h: number,
): Frame {
  const p = resizePlan(src.width, src.height, dw, dh);
  checkCrop(dw, dh, x, y, w, h);
  const out = new Uint8Array(w * h * 3);
  resizeWindowInto(src.data, p, x, y, w, h, out);
  return { width: w, height: h, data: out };
}

/** mmcv.rescale_size for "short side to `short`": scale f = short / min(w, h), size ⌊w·f + 0.5⌋. */
export function shortSideSize(w: number, h: number, short: number): [number, number] {
  const f = short / Math.min(w, h);
  return [Math.floor(w * f + 0.5), Math.floor(h * f + 0.5)];
}

export function resizeShortSide(f: Frame, short: number): Frame {
  const [w, h] = shortSideSize(f.width, f.height, short);
  return resizeBilinear(f, w, h);
}
