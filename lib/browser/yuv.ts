// YUV 4:2:0 to RGB exactly as the server's decoder makes it. The server's frames come from ffmpeg.wasm
// (FFmpeg 5.1, lib/video/ffmpeg-wasm.ts) asked for rgb24 at the decoded size; for an even height its
// swscale takes the unscaled table path (libswscale/yuv2rgb.c): integer coefficients per colour matrix,
// one chroma sample per 2x2 block (no interpolation), and a 1024-entry luma table looked up at an offset
// per chroma value. H.264 decoding itself is bit-exact, so a page that decodes with WebCodecs and converts
// with this gets the server's pixels, and the model the server's input. This is an independent
// implementation of that arithmetic, checked against ffmpeg.wasm on random frames (tests/browser/).

/** swscale's inverse-matrix coefficients (crv, cbu, cgu, cgv) scaled by 2^16, by H.273 matrix_coefficients. */
const COEFFS: Record<number, [number, number, number, number]> = {
  1: [117489, 138438, 13975, 34925], // BT.709
  2: [104597, 132201, 25675, 53279], // unspecified: swscale's default, BT.601
  3: [104597, 132201, 25675, 53279], // reserved
  4: [104448, 132798, 24759, 53109], // FCC
  5: [104597, 132201, 25675, 53279], // BT.470BG
  6: [104597, 132201, 25675, 53279], // SMPTE 170M
  7: [117579, 136230, 16907, 35559], // SMPTE 240M
  9: [110013, 140363, 12277, 42626], // BT.2020 non-constant luminance
  10: [110013, 140363, 12277, 42626], // BT.2020 constant luminance (swscale uses the same table)
};

/** An H.273 matrix_coefficients code swscale converts with one of its tables. */
export type YuvMatrix = number;

/**
 * The matrix ffmpeg converts a stream with, from the stream's own matrix_coefficients; undefined where
 * swscale has no table (RGB, YCgCo and later codes: the caller decodes those with ffmpeg).
 */
export function swscaleMatrix(code: number): YuvMatrix | undefined {
  return Object.hasOwn(COEFFS, code) ? code : undefined;
}

/**
 * Whether this conversion reproduces ffmpeg's for a w x h frame: even sides (measured against ffmpeg.wasm,
 * tests/browser/yuv_test.ts). An odd height takes swscale's general scaler, an odd width ends its rows
 * differently; those frames are left to ffmpeg.
 */
export function swscaleExact(width: number, height: number): boolean {
  return width > 0 && height > 0 && width % 2 === 0 && height % 2 === 0;
}

/** C's integer division (truncates towards zero). */
const cdiv = (a: number, b: number) => Math.trunc(a / b);

interface Tables {
  luma: Uint8Array;
  /** luma-table offsets per chroma value; green's two parts add */
  rV: Int32Array;
  gU: Int32Array;
  gV: Int32Array;
  bU: Int32Array;
}

const tableCache = new Map<string, Tables>();

function tables(matrix: YuvMatrix, fullRange: boolean): Tables {
  const key = `${matrix}:${fullRange}`;
  const hit = tableCache.get(key);
  if (hit) return hit;
  const c = COEFFS[matrix];
  let crv = c[0], cbu = c[1], cgu = -c[2], cgv = -c[3];
  let cy = 1 << 16, oy = 0;
  if (!fullRange) {
    cy = cdiv(cy * 255, 219);
    oy = 16 << 16;
  } else {
    [crv, cbu, cgu, cgv] = [crv, cbu, cgu, cgv].map((x) => cdiv(x * 224, 255));
  }
  // the chroma coefficients in luma-table steps, rounded as swscale rounds them
  [crv, cbu, cgu, cgv] = [crv, cbu, cgu, cgv].map((x) => cdiv(x * 65536 + 0x8000, cy));
  const yoffs = fullRange ? 384 : 326;
  const luma = new Uint8Array(1024);
  for (let i = 0; i < 1024; i++) {
    // |yb| < 2^31 · 2^16 fits a double exactly; >> 16 on it would wrap, so divide and floor
    const yb = -(384 * 65536) - oy + i * cy;
    luma[i] = Math.max(0, Math.min(255, Math.floor((yb + 0x8000) / 65536)));
  }
  const offsets = (inc: number, base: number) =>
    Int32Array.from({ length: 256 }, (_, v) => base - (inc >> 9) + Math.floor(v * inc / 65536));
  const t = {
    luma,
    rV: offsets(crv, yoffs),
    gU: offsets(cgu, yoffs),
    gV: offsets(cgv, 0),
    bU: offsets(cbu, yoffs),
  };
  tableCache.set(key, t);
  return t;
}

/** The three planes of one 8-bit 4:2:0 frame, each with its row stride in bytes. */
export interface YuvPlanes {
  y: Uint8Array;
  u: Uint8Array;
  v: Uint8Array;
  yStride: number;
  uStride: number;
  vStride: number;
}

/** RGB (height x width x 3) from 4:2:0 planes, ffmpeg's rgb24 for the same planes (see swscaleExact). */
export function yuv420ToRgb(
  p: YuvPlanes,
  width: number,
  height: number,
  matrix: YuvMatrix,
  fullRange: boolean,
): Uint8Array {
  const t = tables(matrix, fullRange);
  const out = new Uint8Array(width * height * 3);
  for (let row = 0; row < height; row++) {
    const yo = row * p.yStride, uo = (row >> 1) * p.uStride, vo = (row >> 1) * p.vStride;
    let o = row * width * 3;
    for (let col = 0; col < width; col++) {
      const Y = p.y[yo + col], U = p.u[uo + (col >> 1)], V = p.v[vo + (col >> 1)];
      out[o++] = t.luma[t.rV[V] + Y];
      out[o++] = t.luma[t.gU[U] + t.gV[V] + Y];
      out[o++] = t.luma[t.bU[U] + Y];
    }
  }
  return out;
}
