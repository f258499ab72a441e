// Spatial transforms of spec §5.3 on RGB uint8 frames, written to reproduce the reference's integer
// arithmetic rather than an idealised version of it, so tensors fed to the model match upstream pixels.
//
// Matched exactly (fixtures made with Debian's cv2 4.6.0 / Pillow 9.4.0 pin the cases marked verified):
// - cv::resize INTER_LINEAR for CV_8U: float32 source coordinates (dx+0.5)·scale−0.5 with scale = 1/(dw/sw),
//   11-bit coefficients rounded half-even, integer horizontal pass, then OpenCV's 8-bit vertical pass
//   (((S0>>4)·β0 >> 16) + ((S1>>4)·β1 >> 16) + 2) >> 2 — not the exact (S0·β0 + S1·β1 + 2^21) >> 22 of the
//   generic template; OpenCV's uchar specialisation uses the truncating form in its vector and scalar
//   code alike, which makes results up to 1 lower. Same size → copy; an exact 2× downscale switches to
//   INTER_AREA ((a+b+c+d+2)>>2) as OpenCV does. Verified bit for bit against cv2 4.6.0 by
//   tests/video/transforms_test.ts (fixtures from make_transform_fixtures.py).
// - mmcv rescale_size, mmaction MultiScaleCrop size/offset candidates (snap when |size − 224| < 3),
//   centre crop, ThreeCrop order, flip (from the algorithms; no mmaction here to diff against).
// - PIL convert("L") (L = (19595R + 38470G + 7471B + 2^15) >> 16), ImageEnhance blend in float32 with
//   truncation (clip when extrapolating), Contrast's int(mean+0.5), HSV round trip of Pillow's Convert.c;
//   verified bit for bit against Pillow 9.4.0 by the same fixtures.
// - mmcv imnormalize (cv2.subtract then cv2.multiply with float64 scalars): the subtraction runs in float32
//   against mean rounded to float32, the product in float64 with 1/std, rounded once to float32
//   (checked against cv2 4.6.0 for all 256 values per channel).
// The pipelines rearrange this work without changing a bit: only the crop window of a resize followed by
// a crop is computed, brightness/contrast (per-byte LUTs) are composed and applied while the next pass
// reads, Pillow's rgb2hsv is tabulated, and flip/greyscale/normalisation share one final pass. The tests
// compare each pipeline with the op-by-op chain of the exported functions.
// Not reproducible: the random streams (torch / python `random` / numpy) are replaced by Rng, so the
// same decisions are drawn with the same distributions but not the same values. Hue's numpy uint8 cast
// of a negative shift wraps (x86 behaviour; the fixtures include negative factors).

import type { Rng } from "../random/rng.ts";

export interface Frame {
  width: number;
  height: number;
  /** HWC RGB */
  data: Uint8Array;
}

export const MEAN = [123.675, 116.28, 103.53] as const;
export const STD = [58.395, 57.12, 57.375] as const;

const COEF_BITS = 11;
const COEF_SCALE = 1 << COEF_BITS;

const RESIZE_COPY = 0, RESIZE_AREA2X = 1, RESIZE_LINEAR = 2;

/**
 * Everything cv::resize derives from the full source and destination sizes. Each destination pixel
 * depends only on these tables and the source, so any window of the output can be computed on its own
 * with the same bits as the full resize — which is what lets the pipelines skip pixels a crop discards.
 */
interface ResizePlan {
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

function resizePlan(sw: number, sh: number, dw: number, dh: number): ResizePlan {
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
function resizeWindowInto(
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

function checkCrop(fw: number, fh: number, x: number, y: number, w: number, h: number): void {
  if (x < 0 || y < 0 || x + w > fw || y + h > fh || w < 1 || h < 1) {
    throw new Error(`crop ${w}x${h}+${x}+${y} outside ${fw}x${fh}`);
  }
}

export function crop(f: Frame, x: number, y: number, w: number, h: number): Frame {
  checkCrop(f.width, f.height, x, y, w, h);
  const out = new Uint8Array(w * h * 3);
  for (let r = 0; r < h; r++) {
    const s = ((y + r) * f.width + x) * 3;
    out.set(f.data.subarray(s, s + w * 3), r * w * 3);
  }
  return { width: w, height: h, data: out };
}

export function flipHorizontal(f: Frame): Frame {
  const out = new Uint8Array(f.data.length);
  const { width: w, height: h, data: s } = f;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = (y * w + x) * 3, j = (y * w + (w - 1 - x)) * 3;
      out[j] = s[i], out[j + 1] = s[i + 1], out[j + 2] = s[i + 2];
    }
  }
  return { width: w, height: h, data: out };
}

export const MSC_SCALES = [1, 0.875, 0.75, 0.66] as const;

/** MultiScaleCrop's candidate (w, h) crop sizes, snapped to `input` when less than 3 px away. */
export function multiScaleCandidates(w: number, h: number, input = 224): [number, number][] {
  const base = Math.min(w, h);
  const sizes = MSC_SCALES.map((s) => Math.floor(base * s));
  const snap = (v: number) => (Math.abs(v - input) < 3 ? input : v);
  const out: [number, number][] = [];
  for (let i = 0; i < sizes.length; i++) {
    for (let j = 0; j < sizes.length; j++) {
      if (Math.abs(i - j) <= 1) out.push([snap(sizes[j]), snap(sizes[i])]);
    }
  }
  return out;
}

/** The 5 fixed offsets: upper left, upper right, lower left, lower right, centre. */
export function multiScaleOffsets(w: number, h: number, cw: number, ch: number): [number, number][] {
  const ws = Math.floor((w - cw) / 4), hs = Math.floor((h - ch) / 4);
  return [[0, 0], [4 * ws, 0], [0, 4 * hs], [4 * ws, 4 * hs], [2 * ws, 2 * hs]];
}

/** PIL convert("L") luma. */
export function luma(r: number, g: number, b: number): number {
  return (r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16;
}

// The colour ops below work in place on a byte buffer and read it through `lut`, a per-byte map still
// pending from brightness/contrast: those two are LUTs, so the pipeline composes them and applies the
// result while the next op reads, instead of spending a pass over the frame on each.
const IDENTITY = Uint8Array.from({ length: 256 }, (_, v) => v);

function composeLut(outer: Uint8Array, inner: Uint8Array): Uint8Array {
  if (inner === IDENTITY) return outer;
  const out = new Uint8Array(256);
  for (let v = 0; v < 256; v++) out[v] = outer[inner[v]];
  return out;
}

function mapBytes(f: Frame, lut: Uint8Array): Frame {
  const s = f.data, out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = lut[s[i]];
  return { width: f.width, height: f.height, data: out };
}

export function grayscale(f: Frame): Frame {
  const s = f.data, out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i += 3) {
    const l = luma(s[i], s[i + 1], s[i + 2]);
    out[i] = out[i + 1] = out[i + 2] = l;
  }
  return { width: f.width, height: f.height, data: out };
}

/** Pillow ImagingBlend for one value: float32 in1 + α·(in2 − in1), truncated, clipped when α ∉ [0, 1]. */
export function blendValue(in1: number, in2: number, alpha32: number): number {
  const v = Math.fround(in1 + Math.fround(alpha32 * (in2 - in1)));
  if (alpha32 >= 0 && alpha32 <= 1) return Math.trunc(v);
  return v <= 0 ? 0 : v >= 255 ? 255 : Math.trunc(v);
}

function blendLut(deg: number, factor: number): Uint8Array {
  const a = Math.fround(factor);
  const lut = new Uint8Array(256);
  for (let v = 0; v < 256; v++) lut[v] = blendValue(deg, v, a);
  return lut;
}

/** Contrast's degenerate value: int(mean luma + 0.5) of the first n3/3 pixels of s read through lut. */
function meanLuma(s: Uint8Array, n3: number, lut: Uint8Array): number {
  let sum = 0;
  if (lut === IDENTITY) {
    for (let i = 0; i < n3; i += 3) sum += (s[i] * 19595 + s[i + 1] * 38470 + s[i + 2] * 7471 + 0x8000) >> 16;
  } else {
    for (let i = 0; i < n3; i += 3) {
      sum += (lut[s[i]] * 19595 + lut[s[i + 1]] * 38470 + lut[s[i + 2]] * 7471 + 0x8000) >> 16;
    }
  }
  return Math.trunc(sum / (n3 / 3) + 0.5);
}

/** ImageEnhance.Brightness(img).enhance(factor). */
export function adjustBrightness(f: Frame, factor: number): Frame {
  return mapBytes(f, blendLut(0, factor));
}

/** ImageEnhance.Contrast: blend towards the rounded mean luma. */
export function adjustContrast(f: Frame, factor: number): Frame {
  return mapBytes(f, blendLut(meanLuma(f.data, f.data.length, IDENTITY), factor));
}

/** ImageEnhance.Color in place on the first n3 bytes: blend towards each pixel's luma. */
function saturateInPlace(d: Uint8Array, n3: number, lut: Uint8Array, factor: number): void {
  const a = Math.fround(factor);
  // α·(v − l) for every difference, rounded to float32 as blendValue does
  const D = new Float64Array(511);
  for (let k = 0; k < 511; k++) D[k] = Math.fround(a * (k - 255));
  if (a >= 0 && a <= 1) {
    // l + α(v − l) stays within [0, 255], so the truncation is `| 0` and no clip is needed
    for (let i = 0; i < n3; i += 3) {
      const r = lut[d[i]], g = lut[d[i + 1]], b = lut[d[i + 2]];
      const l = (r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16;
      d[i] = Math.fround(l + D[r - l + 255]) | 0;
      d[i + 1] = Math.fround(l + D[g - l + 255]) | 0;
      d[i + 2] = Math.fround(l + D[b - l + 255]) | 0;
    }
    return;
  }
  for (let i = 0; i < n3; i += 3) {
    const r = lut[d[i]], g = lut[d[i + 1]], b = lut[d[i + 2]];
    const l = (r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16;
    const vr = Math.fround(l + D[r - l + 255]);
    const vg = Math.fround(l + D[g - l + 255]);
    const vb = Math.fround(l + D[b - l + 255]);
    d[i] = vr <= 0 ? 0 : vr >= 255 ? 255 : vr | 0;
    d[i + 1] = vg <= 0 ? 0 : vg >= 255 ? 255 : vg | 0;
    d[i + 2] = vb <= 0 ? 0 : vb >= 255 ? 255 : vb | 0;
  }
}

/** ImageEnhance.Color: blend towards each pixel's luma. */
export function adjustSaturation(f: Frame, factor: number): Frame {
  const out = f.data.slice();
  saturateInPlace(out, out.length, IDENTITY, factor);
  return { width: f.width, height: f.height, data: out };
}

const clip8 = (v: number) => (v <= 0 ? 0 : v >= 255 ? 255 : v);

// Per-value pieces of Pillow's hsv2rgb that depend on one channel only, precomputed once.
const HUE_SECTOR = new Int32Array(256);
const HUE_FRAC = new Float64Array(256);
const SAT_FRAC = new Float64Array(256);
for (let v = 0; v < 256; v++) {
  HUE_SECTOR[v] = Math.floor(v * 6.0 / 255.0);
  HUE_FRAC[v] = Math.fround(v * 6.0 / 255.0 - HUE_SECTOR[v]);
  SAT_FRAC[v] = Math.fround(v / 255.0);
}

/**
 * Pillow's rgb2hsv as tables, built on first use. Its hue depends only on the channel differences
 * (r − g, g − b): they fix which channel is the maximum, the range and each channel's distance below the
 * maximum. Its saturation depends only on (range, max). Every entry is computed with Convert.c's
 * per-pixel expressions (float32, double where the C code promotes, r winning ties, then g), so a lookup
 * gives the same byte as evaluating them for the pixel.
 */
let rgb2hsvTables: { hue: Uint8Array; sat: Uint8Array } | null = null;

function hsvTables(): { hue: Uint8Array; sat: Uint8Array } {
  if (rgb2hsvTables) return rgb2hsvTables;
  // [(r − g + 255) << 9 | (g − b + 255)]
  const hue = new Uint8Array(511 << 9);
  for (let x = -255; x <= 255; x++) {
    for (let y = -255; y <= 255; y++) {
      // any pixel with these differences: the lowest channel at 0
      const b = -Math.min(0, y, x + y), g = b + y, r = g + x;
      const maxc = Math.max(r, g, b), cr = maxc - Math.min(r, g, b);
      if (maxc > 255 || cr === 0) continue;
      let h: number;
      if (r === maxc) h = Math.fround(Math.fround((maxc - b) / cr) - Math.fround((maxc - g) / cr));
      else if (g === maxc) h = Math.fround(2.0 + Math.fround((maxc - r) / cr) - Math.fround((maxc - b) / cr));
      else h = Math.fround(4.0 + Math.fround((maxc - g) / cr) - Math.fround((maxc - r) / cr));
      h = Math.fround((h / 6.0 + 1.0) % 1.0);
      hue[((x + 255) << 9) | (y + 255)] = clip8(Math.trunc(h * 255.0));
    }
  }
  // [range << 8 | max]; range 0 (grey) stays 0
  const sat = new Uint8Array(1 << 16);
  for (let cr = 1; cr < 256; cr++) {
    for (let m = cr; m < 256; m++) sat[(cr << 8) | m] = clip8(Math.trunc(Math.fround(cr / m) * 255.0));
  }
  return rgb2hsvTables = { hue, sat };
}

function hueShift(hueFactor: number): number {
  if (hueFactor < -0.5 || hueFactor > 0.5) throw new Error(`hue factor ${hueFactor} not in [-0.5, 0.5]`);
  return ((Math.trunc(hueFactor * 255) % 256) + 256) % 256;
}

// Bit offsets of the r, g, b outputs (in bits 16, 8, 0) in the word v | p << 8 | (q or t) << 16, per sector.
const SECTOR_ORDER = [0x001008, 0x100008, 0x080010, 0x081000, 0x100800, 0x000810];

/** adjustHue in place on the first n3 bytes of d read through lut. */
function hueInPlace(d: Uint8Array, n3: number, lut: Uint8Array, shift: number): void {
  const { hue, sat } = hsvTables();
  // hsv2rgb per unshifted hue byte. Each sector uses exactly one of q = v(1 − s·f) and t = v(1 − s(1 − f)),
  // so one weight w (f or 1 − f, the same doubles the C code forms) serves both.
  const weight = new Float64Array(256), order = new Int32Array(256);
  for (let h = 0; h < 256; h++) {
    const hh = (h + shift) & 255, sector = HUE_SECTOR[hh] % 6;
    weight[h] = sector & 1 ? HUE_FRAC[hh] : 1.0 - HUE_FRAC[hh];
    order[h] = SECTOR_ORDER[sector];
  }
  // Branch-free on purpose: which channel is the maximum changes unpredictably from pixel to pixel.
  for (let i = 0; i < n3; i += 3) {
    const r = lut[d[i]], g = lut[d[i + 1]], b = lut[d[i + 2]];
    const v = Math.max(r, g, b);
    const h = hue[((r - g + 255) << 9) | (g - b + 255)];
    // Zero saturation (grey, where Pillow writes v everywhere) needs no branch: s = 0 makes p = q = t = v.
    const fs = SAT_FRAC[sat[((v - Math.min(r, g, b)) << 8) | v]];
    // Both lie within [0, v + 0.5], so C's round() and the clip reduce to truncating x + 0.5.
    const p = (v * (1.0 - fs) + 0.5) | 0;
    const m = (v * (1.0 - fs * weight[h]) + 0.5) | 0;
    const packed = v | (p << 8) | (m << 16), o = order[h];
    d[i] = packed >> (o >> 16);
    d[i + 1] = packed >> ((o >> 8) & 255);
    d[i + 2] = packed >> (o & 255);
  }
}

/** torchvision adjust_hue on PIL: uint8 hue shifted with wrap-around in Pillow's HSV. */
export function adjustHue(f: Frame, hueFactor: number): Frame {
  const shift = hueShift(hueFactor);
  const out = f.data.slice();
  hueInPlace(out, out.length, IDENTITY, shift);
  return { width: f.width, height: f.height, data: out };
}

export interface JitterParams {
  order: number[]; // permutation of 0 brightness, 1 contrast, 2 saturation, 3 hue
  brightness: number;
  contrast: number;
  saturation: number;
  hue: number;
}

/** torchvision ColorJitter(0.4, 0.4, 0.2, 0.1).get_params with Rng instead of torch's generator. */
export function drawJitter(rng: Rng, b = 0.4, c = 0.4, s = 0.2, h = 0.1): JitterParams {
  const order = [0, 1, 2, 3];
  for (let i = 3; i > 0; i--) {
    const j = rng.int(i + 1);
    [order[i], order[j]] = [order[j], order[i]];
  }
  return {
    order,
    brightness: rng.uniform(Math.max(0, 1 - b), 1 + b),
    contrast: rng.uniform(Math.max(0, 1 - c), 1 + c),
    saturation: rng.uniform(Math.max(0, 1 - s), 1 + s),
    hue: rng.uniform(-h, h),
  };
}

/**
 * ColorJitter's ops in p.order on the first n3 bytes of d, in place, starting from a pending `lut`;
 * returns the LUT still pending (brightness/contrast at the end of the order), which the caller applies.
 */
function jitterInPlace(d: Uint8Array, n3: number, p: JitterParams, lut: Uint8Array): Uint8Array {
  for (const k of p.order) {
    if (k === 0) lut = composeLut(blendLut(0, p.brightness), lut);
    else if (k === 1) lut = composeLut(blendLut(meanLuma(d, n3, lut), p.contrast), lut);
    else if (k === 2) saturateInPlace(d, n3, lut, p.saturation), lut = IDENTITY;
    else hueInPlace(d, n3, lut, hueShift(p.hue)), lut = IDENTITY;
  }
  return lut;
}

export function colorJitter(f: Frame, p: JitterParams): Frame {
  const out = f.data.slice();
  const lut = jitterInPlace(out, out.length, p, IDENTITY);
  if (lut !== IDENTITY) { for (let i = 0; i < out.length; i++) out[i] = lut[out[i]]; }
  return { width: f.width, height: f.height, data: out };
}

// mmcv imnormalize of every byte value per channel: float32 subtraction, float64 product, one rounding.
const NORM = [0, 1, 2].map((c) => {
  const m = Math.fround(MEAN[c]), k = 1 / STD[c];
  return Float32Array.from({ length: 256 }, (_, v) => Math.fround(v - m) * k);
});

/**
 * The tail of every pipeline in one pass: window (x0, y0, w, h) of the packed RGB image s (row length
 * `width` pixels) read through `lut`, optionally greyed and mirrored (both commute with the pointwise
 * ops before them), normalised into frame slot t of a (T, 3, h, w) tensor.
 */
function finishInto(
  s: Uint8Array,
  width: number,
  x0: number,
  y0: number,
  w: number,
  h: number,
  lut: Uint8Array,
  gray: boolean,
  flip: boolean,
  dst: Float32Array,
  t: number,
): void {
  const hw = w * h, o0 = t * 3 * hw, o1 = o0 + hw, o2 = o1 + hw;
  let [n0, n1, n2] = NORM;
  if (!gray && lut !== IDENTITY) {
    n0 = new Float32Array(256), n1 = new Float32Array(256), n2 = new Float32Array(256);
    for (let v = 0; v < 256; v++) n0[v] = NORM[0][lut[v]], n1[v] = NORM[1][lut[v]], n2[v] = NORM[2][lut[v]];
  }
  const step = flip ? -3 : 3;
  for (let y = 0, o = 0; y < h; y++) {
    let i = ((y0 + y) * width + x0 + (flip ? w - 1 : 0)) * 3;
    if (gray) {
      for (let x = 0; x < w; x++, o++, i += step) {
        const l = (lut[s[i]] * 19595 + lut[s[i + 1]] * 38470 + lut[s[i + 2]] * 7471 + 0x8000) >> 16;
        dst[o0 + o] = n0[l], dst[o1 + o] = n1[l], dst[o2 + o] = n2[l];
      }
    } else {
      for (let x = 0; x < w; x++, o++, i += step) {
        dst[o0 + o] = n0[s[i]], dst[o1 + o] = n1[s[i + 1]], dst[o2 + o] = n2[s[i + 2]];
      }
    }
  }
}

/** Normalise frame `f` into `dst` at frame slot `t` of a (T, 3, H, W) float32 layout. */
export function normalizeInto(f: Frame, dst: Float32Array, t: number): void {
  finishInto(f.data, f.width, 0, 0, f.width, f.height, IDENTITY, false, false, dst, t);
}

export interface TransformResult {
  data: Float32Array;
  shape: [number, number, number, number];
}

export interface TrainOptions {
  size?: number;
  scaleResize?: number;
  flipP?: number;
  colorJitterP?: number;
  grayP?: number;
}

export interface TrainDecisions {
  crop: { x: number; y: number; w: number; h: number };
  flip: boolean;
  jitter: boolean;
  gray: boolean;
}

/**
 * The per-video draws of the training pipeline for w×h frames, in the order the random stream is consumed:
 * MultiScaleCrop size and offset on the short-side resize, then the flip, jitter and grayscale coins.
 */
export function drawTrainDecisions(
  w: number,
  h: number,
  rng: Rng,
  opts: TrainOptions = {},
): TrainDecisions & { size: number; resized: [number, number] } {
  const size = opts.size ?? 224;
  const resized = shortSideSize(w, h, opts.scaleResize ?? Math.trunc(256 / 224 * size));
  const [rw, rh] = resized;
  const cands = multiScaleCandidates(rw, rh, size);
  const [cw, ch] = cands[rng.int(cands.length)];
  const offs = multiScaleOffsets(rw, rh, cw, ch);
  const [cx, cy] = offs[rng.int(offs.length)];
  const flip = rng.next() < (opts.flipP ?? 0.5);
  const jitter = rng.next() < (opts.colorJitterP ?? 0.8);
  const gray = rng.next() < (opts.grayP ?? 0.2);
  return { size, resized, crop: { x: cx, y: cy, w: cw, h: ch }, flip, jitter, gray };
}

/** Training pipeline for one video's frames (all the same size): (T, 3, size, size) float32. */
export function trainTransform(
  frames: Frame[],
  rng: Rng,
  opts: TrainOptions = {},
): TransformResult & { decisions: TrainDecisions } {
  if (frames.length === 0) throw new Error("trainTransform: no frames");
  const { width: w0, height: h0 } = frames[0];
  const d = drawTrainDecisions(w0, h0, rng, opts);
  const { size, resized: [rw, rh], flip, jitter, gray } = d;
  const { x: cx, y: cy, w: cw, h: ch } = d.crop;
  const out = new Float32Array(frames.length * 3 * size * size);
  // Only the crop window of the short-side resize is computed; see ResizePlan.
  const first = resizePlan(w0, h0, rw, rh);
  checkCrop(rw, rh, cx, cy, cw, ch);
  const second = resizePlan(cw, ch, size, size);
  const cropped = new Uint8Array(cw * ch * 3);
  const resized = second.mode === RESIZE_COPY ? cropped : new Uint8Array(size * size * 3);
  const n3 = size * size * 3;
  frames.forEach((f0, t) => {
    if (f0.width !== w0 || f0.height !== h0) {
      throw new Error(`trainTransform: frame ${t} is ${f0.width}x${f0.height}, frame 0 is ${w0}x${h0}`);
    }
    resizeWindowInto(f0.data, first, cx, cy, cw, ch, cropped);
    if (resized !== cropped) resizeWindowInto(cropped, second, 0, 0, size, size, resized);
    const lut = jitter ? jitterInPlace(resized, n3, drawJitter(rng), IDENTITY) : IDENTITY;
    finishInto(resized, size, 0, 0, size, size, lut, gray, flip, out, t);
  });
  return {
    data: out,
    shape: [frames.length, 3, size, size],
    decisions: { crop: d.crop, flip, jitter, gray },
  };
}

/** ThreeCrop offsets along the long side of a (w, h) frame whose short side equals `size`. */
export function threeCropOffsets(w: number, h: number, size: number): [number, number][] {
  if (h === size) {
    const step = Math.floor((w - size) / 2);
    return [[0, 0], [2 * step, 0], [step, 0]];
  }
  if (w === size) {
    const step = Math.floor((h - size) / 2);
    return [[0, 0], [0, 2 * step], [0, step]];
  }
  throw new Error(`threeCrop: ${w}x${h} has no side equal to ${size}`);
}

/**
 * Test pipeline. crops 3: short side → size, left/right/middle (or top/bottom/middle), crop-major;
 * any other value: short side → 256·size/224, centre crop.
 */
export function testTransform(
  frames: Frame[],
  opts: { crops?: number; size?: number } = {},
): TransformResult {
  if (frames.length === 0) throw new Error("testTransform: no frames");
  const size = opts.size ?? 224;
  const n = frames.length;
  if (opts.crops === 3) {
    const out = new Float32Array(3 * n * 3 * size * size);
    const sizes = frames.map((f) => shortSideSize(f.width, f.height, size));
    const plans = frames.map((f, t) => resizePlan(f.width, f.height, sizes[t][0], sizes[t][1]));
    const offs = threeCropOffsets(sizes[0][0], sizes[0][1], size);
    for (const [x, y] of offs) for (const [w, h] of sizes) checkCrop(w, h, x, y, size, size);
    // the three crops cover (nearly) all of the resized frame: resize it whole, crop while normalising
    let resized = new Uint8Array(0);
    frames.forEach((f, t) => {
      const [w, h] = sizes[t];
      if (resized.length !== w * h * 3) resized = new Uint8Array(w * h * 3);
      resizeWindowInto(f.data, plans[t], 0, 0, w, h, resized);
      offs.forEach(([x, y], c) =>
        finishInto(resized, w, x, y, size, size, IDENTITY, false, false, out, c * n + t)
      );
    });
    return { data: out, shape: [3 * n, 3, size, size] };
  }
  const scaleResize = Math.trunc(256 / 224 * size);
  const out = new Float32Array(n * 3 * size * size);
  const cropped = new Uint8Array(size * size * 3);
  frames.forEach((f, t) => {
    const [w, h] = shortSideSize(f.width, f.height, scaleResize);
    const plan = resizePlan(f.width, f.height, w, h);
    const x = Math.floor((w - size) / 2), y = Math.floor((h - size) / 2);
    checkCrop(w, h, x, y, size, size);
    resizeWindowInto(f.data, plan, x, y, size, size, cropped);
    finishInto(cropped, size, 0, 0, size, size, IDENTITY, false, false, out, t);
  });
  return { data: out, shape: [n, 3, size, size] };
}
