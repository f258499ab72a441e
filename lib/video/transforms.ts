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
// Not reproducible: the random streams (torch / python `random` / numpy) are replaced by Rng, so the
// same decisions are drawn with the same distributions but not the same values. Hue's numpy uint8 cast
// of a negative shift wraps (x86 behaviour; the fixtures include negative factors).

import type { Rng } from "../selftest/rng.ts";

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

interface ResizePlan {
  sw: number;
  sh: number;
  dw: number;
  dh: number;
  xofs: Int32Array; // source pixel index per destination column
  alpha: Int16Array; // 2 per destination column
  yofs: Int32Array;
  beta: Int16Array;
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

function plan(sw: number, sh: number, dw: number, dh: number): ResizePlan {
  const key = `${sw}x${sh}>${dw}x${dh}`;
  let p = planCache.get(key);
  if (p) return p;
  const x = coefTable(sw, dw, true);
  // Rows are clamped when fetched, not in the table, so the out-of-range row keeps its weight.
  const y = coefTable(sh, dh, false);
  p = { sw, sh, dw, dh, xofs: x.ofs, alpha: x.coef, yofs: y.ofs, beta: y.coef };
  if (planCache.size > 64) planCache.clear();
  planCache.set(key, p);
  return p;
}

function resizeArea2x(src: Frame, dw: number, dh: number): Frame {
  const out = new Uint8Array(dw * dh * 3);
  const s = src.data;
  const stride = src.width * 3;
  for (let y = 0; y < dh; y++) {
    const r0 = 2 * y * stride;
    const r1 = r0 + stride;
    let o = y * dw * 3;
    for (let x = 0; x < dw; x++) {
      const c = 6 * x;
      for (let k = 0; k < 3; k++) {
        out[o++] = (s[r0 + c + k] + s[r0 + c + 3 + k] + s[r1 + c + k] + s[r1 + c + 3 + k] + 2) >> 2;
      }
    }
  }
  return { width: dw, height: dh, data: out };
}

/** cv2.resize(img, (dw, dh), interpolation=INTER_LINEAR) for 3-channel uint8. */
export function resizeBilinear(src: Frame, dw: number, dh: number): Frame {
  const { width: sw, height: sh } = src;
  if (dw < 1 || dh < 1 || sw < 1 || sh < 1) throw new Error(`resize: bad sizes ${sw}x${sh} -> ${dw}x${dh}`);
  if (dw === sw && dh === sh) return { width: sw, height: sh, data: src.data.slice() };
  const sx = 1 / (dw / sw), sy = 1 / (dh / sh);
  const ix = Math.round(sx), iy = Math.round(sy);
  if (
    Math.abs(sx - ix) < Number.EPSILON && Math.abs(sy - iy) < Number.EPSILON && ix === 2 && iy === 2
  ) return resizeArea2x(src, dw, dh);

  const p = plan(sw, sh, dw, dh);
  const rowLen = dw * 3;
  const s = src.data;
  // Horizontal pass only over the source rows the vertical pass will touch.
  const hrow = new Map<number, Int32Array>();
  const horizontal = (r: number): Int32Array => {
    let row = hrow.get(r);
    if (row) return row;
    row = new Int32Array(rowLen);
    const base = r * sw * 3;
    for (let x = 0; x < dw; x++) {
      const a0 = p.alpha[2 * x], a1 = p.alpha[2 * x + 1];
      const i0 = base + p.xofs[x] * 3;
      const i1 = p.xofs[x] + 1 < sw ? i0 + 3 : i0;
      row[3 * x] = s[i0] * a0 + s[i1] * a1;
      row[3 * x + 1] = s[i0 + 1] * a0 + s[i1 + 1] * a1;
      row[3 * x + 2] = s[i0 + 2] * a0 + s[i1 + 2] * a1;
    }
    hrow.set(r, row);
    return row;
  };
  const out = new Uint8Array(rowLen * dh);
  for (let y = 0; y < dh; y++) {
    const sy0 = p.yofs[y];
    const r0 = Math.min(Math.max(sy0, 0), sh - 1), r1 = Math.min(Math.max(sy0 + 1, 0), sh - 1);
    const S0 = horizontal(r0), S1 = horizontal(r1);
    for (const k of hrow.keys()) if (k < r0) hrow.delete(k);
    const b0 = p.beta[2 * y], b1 = p.beta[2 * y + 1];
    const o = y * rowLen;
    // Both terms are non-negative and sum to at most 1020, so the result is always a valid byte.
    for (let x = 0; x < rowLen; x++) {
      out[o + x] = ((((S0[x] >> 4) * b0) >> 16) + (((S1[x] >> 4) * b1) >> 16) + 2) >> 2;
    }
  }
  return { width: dw, height: dh, data: out };
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

export function crop(f: Frame, x: number, y: number, w: number, h: number): Frame {
  if (x < 0 || y < 0 || x + w > f.width || y + h > f.height || w < 1 || h < 1) {
    throw new Error(`crop ${w}x${h}+${x}+${y} outside ${f.width}x${f.height}`);
  }
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

function blendConst(f: Frame, deg: number, factor: number): Frame {
  const a = Math.fround(factor);
  const lut = new Uint8Array(256);
  for (let v = 0; v < 256; v++) lut[v] = blendValue(deg, v, a);
  const s = f.data, out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = lut[s[i]];
  return { width: f.width, height: f.height, data: out };
}

/** ImageEnhance.Brightness(img).enhance(factor). */
export function adjustBrightness(f: Frame, factor: number): Frame {
  return blendConst(f, 0, factor);
}

/** ImageEnhance.Contrast: blend towards the rounded mean luma. */
export function adjustContrast(f: Frame, factor: number): Frame {
  const s = f.data;
  let sum = 0;
  for (let i = 0; i < s.length; i += 3) sum += luma(s[i], s[i + 1], s[i + 2]);
  const mean = Math.trunc(sum / (s.length / 3) + 0.5);
  return blendConst(f, mean, factor);
}

/** ImageEnhance.Color: blend towards each pixel's luma. */
export function adjustSaturation(f: Frame, factor: number): Frame {
  const a = Math.fround(factor);
  const s = f.data, out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i += 3) {
    const l = luma(s[i], s[i + 1], s[i + 2]);
    out[i] = blendValue(l, s[i], a);
    out[i + 1] = blendValue(l, s[i + 1], a);
    out[i + 2] = blendValue(l, s[i + 2], a);
  }
  return { width: f.width, height: f.height, data: out };
}

const clip8 = (v: number) => (v <= 0 ? 0 : v >= 255 ? 255 : v);
/** C round(): half away from zero. */
const cRound = (v: number) => (v < 0 ? -Math.floor(-v + 0.5) : Math.floor(v + 0.5));

// Per-value pieces of Pillow's hsv2rgb that depend on one channel only, precomputed once.
const HUE_SECTOR = new Int32Array(256);
const HUE_FRAC = new Float64Array(256);
const SAT_FRAC = new Float64Array(256);
for (let v = 0; v < 256; v++) {
  HUE_SECTOR[v] = Math.floor(v * 6.0 / 255.0);
  HUE_FRAC[v] = Math.fround(v * 6.0 / 255.0 - HUE_SECTOR[v]);
  SAT_FRAC[v] = Math.fround(v / 255.0);
}

/** torchvision adjust_hue on PIL: uint8 hue shifted with wrap-around in Pillow's HSV. */
export function adjustHue(f: Frame, hueFactor: number): Frame {
  if (hueFactor < -0.5 || hueFactor > 0.5) throw new Error(`hue factor ${hueFactor} not in [-0.5, 0.5]`);
  const shift = ((Math.trunc(hueFactor * 255) % 256) + 256) % 256;
  const s = f.data, out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i += 3) {
    const r = s[i], g = s[i + 1], b = s[i + 2];
    const maxc = r > g ? (r > b ? r : b) : (g > b ? g : b);
    const minc = r < g ? (r < b ? r : b) : (g < b ? g : b);
    if (maxc === minc) {
      // zero saturation: Pillow writes v to all three channels whatever the hue
      out[i] = out[i + 1] = out[i + 2] = maxc;
      continue;
    }
    // Pillow's rgb2hsv in float32 with double intermediates where its C code promotes.
    const cr = maxc - minc;
    let h: number;
    if (r === maxc) h = Math.fround(Math.fround((maxc - b) / cr) - Math.fround((maxc - g) / cr));
    else if (g === maxc) h = Math.fround(2.0 + Math.fround((maxc - r) / cr) - Math.fround((maxc - b) / cr));
    else h = Math.fround(4.0 + Math.fround((maxc - g) / cr) - Math.fround((maxc - r) / cr));
    h = Math.fround((h / 6.0 + 1.0) % 1.0);
    const uh = clip8(Math.trunc(h * 255.0));
    const us = clip8(Math.trunc(Math.fround(cr / maxc) * 255.0));
    const uv = maxc;
    if (us === 0) {
      out[i] = out[i + 1] = out[i + 2] = uv;
      continue;
    }
    const hh = (uh + shift) & 255;
    const fr = HUE_FRAC[hh], fs = SAT_FRAC[us];
    const p = clip8(cRound(uv * (1.0 - fs)));
    const q = clip8(cRound(uv * (1.0 - fs * fr)));
    const t = clip8(cRound(uv * (1.0 - fs * (1.0 - fr))));
    let o0: number, o1: number, o2: number;
    switch (HUE_SECTOR[hh] % 6) {
      case 0:
        o0 = uv, o1 = t, o2 = p;
        break;
      case 1:
        o0 = q, o1 = uv, o2 = p;
        break;
      case 2:
        o0 = p, o1 = uv, o2 = t;
        break;
      case 3:
        o0 = p, o1 = q, o2 = uv;
        break;
      case 4:
        o0 = t, o1 = p, o2 = uv;
        break;
      default:
        o0 = uv, o1 = p, o2 = q;
    }
    out[i] = o0, out[i + 1] = o1, out[i + 2] = o2;
  }
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

export function colorJitter(f: Frame, p: JitterParams): Frame {
  let out = f;
  for (const k of p.order) {
    if (k === 0) out = adjustBrightness(out, p.brightness);
    else if (k === 1) out = adjustContrast(out, p.contrast);
    else if (k === 2) out = adjustSaturation(out, p.saturation);
    else out = adjustHue(out, p.hue);
  }
  return out;
}

const MEAN32 = MEAN.map(Math.fround);
const INVSTD = STD.map((s) => 1 / s);

/** Normalise frame `f` into `dst` at frame slot `t` of a (T, 3, H, W) float32 layout. */
export function normalizeInto(f: Frame, dst: Float32Array, t: number): void {
  const hw = f.width * f.height;
  const base = t * 3 * hw;
  const s = f.data;
  for (let c = 0; c < 3; c++) {
    const m = MEAN32[c], k = INVSTD[c], o = base + c * hw;
    for (let i = 0; i < hw; i++) dst[o + i] = Math.fround(s[3 * i + c] - m) * k;
  }
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

/** Training pipeline for one video's frames (all the same size): (T, 3, size, size) float32. */
export function trainTransform(
  frames: Frame[],
  rng: Rng,
  opts: TrainOptions = {},
): TransformResult & { decisions: TrainDecisions } {
  if (frames.length === 0) throw new Error("trainTransform: no frames");
  const size = opts.size ?? 224;
  const scaleResize = opts.scaleResize ?? Math.trunc(256 / 224 * size);
  const [rw, rh] = shortSideSize(frames[0].width, frames[0].height, scaleResize);
  const cands = multiScaleCandidates(rw, rh, size);
  const [cw, ch] = cands[rng.int(cands.length)];
  const offs = multiScaleOffsets(rw, rh, cw, ch);
  const [cx, cy] = offs[rng.int(offs.length)];
  const flip = rng.next() < (opts.flipP ?? 0.5);
  const jitter = rng.next() < (opts.colorJitterP ?? 0.8);
  const gray = rng.next() < (opts.grayP ?? 0.2);
  const out = new Float32Array(frames.length * 3 * size * size);
  frames.forEach((f0, t) => {
    if (f0.width !== frames[0].width || f0.height !== frames[0].height) {
      throw new Error(
        `trainTransform: frame ${t} is ${f0.width}x${f0.height}, frame 0 is ${frames[0].width}x${
          frames[0].height
        }`,
      );
    }
    let f = resizeBilinear(f0, rw, rh);
    f = crop(f, cx, cy, cw, ch);
    f = resizeBilinear(f, size, size);
    if (flip) f = flipHorizontal(f);
    if (jitter) f = colorJitter(f, drawJitter(rng));
    if (gray) f = grayscale(f);
    normalizeInto(f, out, t);
  });
  return {
    data: out,
    shape: [frames.length, 3, size, size],
    decisions: { crop: { x: cx, y: cy, w: cw, h: ch }, flip, jitter, gray },
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
    const resized = frames.map((f) => resizeShortSide(f, size));
    const offs = threeCropOffsets(resized[0].width, resized[0].height, size);
    offs.forEach(([x, y], c) => {
      resized.forEach((f, t) => normalizeInto(crop(f, x, y, size, size), out, c * n + t));
    });
    return { data: out, shape: [3 * n, 3, size, size] };
  }
  const scaleResize = Math.trunc(256 / 224 * size);
  const out = new Float32Array(n * 3 * size * size);
  frames.forEach((f0, t) => {
    const f = resizeShortSide(f0, scaleResize);
    const x = Math.floor((f.width - size) / 2), y = Math.floor((f.height - size) / 2);
    normalizeInto(crop(f, x, y, size, size), out, t);
  });
  return { data: out, shape: [n, 3, size, size] };
}
