// ColorJitter's four ops (brightness, contrast, saturation, hue) and RandomGrayscale's luma, as torchvision
// runs them on PIL images: PIL convert("L") (L = (19595R + 38470G + 7471B + 2^15) >> 16), ImageEnhance blend
// in float32 with truncation (clip when extrapolating), Contrast's int(mean+0.5), the HSV round trip of
// Pillow's Convert.c. Verified bit for bit against Pillow 9.4.0 by tests/video/transforms_test.ts (fixtures
// from make_transform_fixtures.py). Hue's numpy uint8 cast of a negative shift wraps (x86 behaviour; the
// fixtures include negative factors).
//
// Faster than op by op without changing a bit: brightness/contrast (per-byte LUTs) are composed and applied
// while the next pass reads, and Pillow's rgb2hsv is tabulated.

import type { Rng } from "../random/rng.ts";
import type { Frame } from "./frame.ts";

/** PIL convert("L") luma. */
export function luma(r: number, g: number, b: number): number {
  return (r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16;
}

// The colour ops below work in place on a byte buffer and read it through `lut`, a per-byte map still
// pending from brightness/contrast: those two are LUTs, so the pipeline composes them and applies the
// result while the next op reads, instead of spending a pass over the frame on each.
export const IDENTITY = Uint8Array.from({ length: 256 }, (_, v) => v);

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
export function jitterInPlace(d: Uint8Array, n3: number, p: JitterParams, lut: Uint8Array): Uint8Array {
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
