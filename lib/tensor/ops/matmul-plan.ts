// How gemm() splits one GEMM into dispatches whose storage bindings (and, on the texture path, whose
// operand rows) fit the adapter's limits. Every kernel variant runs the same plan: a dispatch is a
// smaller GEMM over a window of each operand, and a split along K accumulates into C.

import { bindingLimits, round4 } from "../../gpu/chunks.ts";
import type { Runtime } from "../../gpu/runtime.ts";
import type { DType } from "../tensor.ts";

/** The parts of a GEMM call (matmul.ts PlanArgs) that decide its split. */
export interface PlanArgs {
  M: number;
  N: number;
  K: number;
  dtype: DType;
  batch?: number;
  heads?: number;
  activation?: string;
  label?: string;
}

export type Dim = "m" | "n" | "k";
export type Range = [number, number];

/** Part of a GEMM done by one dispatch: outer batch items, heads, and rows/columns/depth of C = A·B. */
export interface Tile {
  zo: Range;
  zi: Range;
  m: Range;
  n: Range;
  k: Range;
}

/** A stored operand: its rows run along one dimension of the product, its columns along another. */
export interface Operand {
  buf: GPUBuffer;
  off: number;
  s: [number, number];
  ld: number;
  rows: Dim;
  cols: Dim;
}

/** Element span [first, end) of an operand that a tile reads or writes. */
export function spanOf(x: Operand, t: Tile): { first: number; end: number } {
  const [r, c] = [t[x.rows], t[x.cols]];
  const first = x.off + t.zo[0] * x.s[0] + t.zi[0] * x.s[1] + r[0] * x.ld + c[0];
  const end = x.off + (t.zo[1] - 1) * x.s[0] + (t.zi[1] - 1) * x.s[1] + (r[1] - 1) * x.ld + c[1];
  return { first, end: Math.max(first, end) };
}

/**
 * The columns [c0, c1) of each stored row that an operand's tile reads, when they are the same columns in
 * every row it touches: batch items a whole number of rows apart, heads either whole rows apart or side by
 * side within a row (per-head views of a packed [B, L, 3·D] projection read a third of each row). The
 * texture path then copies only those columns. Undefined when the tile's columns are not one band.
 */
export function columnsOf(x: Operand, t: Tile): [number, number] | undefined {
  const ld = x.ld;
  if (x.s[0] % ld !== 0 && t.zo[1] - t.zo[0] > 1) return undefined;
  const heads = t.zi[1] - t.zi[0];
  const headShift = x.s[1] % ld === 0 ? 0 : x.s[1] < ld ? x.s[1] : undefined;
  if (headShift === undefined && heads > 1) return undefined;
  const c = t[x.cols];
  const base = (x.off + t.zo[0] * x.s[0] + t.zi[0] * x.s[1]) % ld;
  const c1 = base + (heads - 1) * (headShift ?? 0) + c[1];
  return c1 > ld ? undefined : [base + c[0], c1];
}

/**
 * Split a GEMM into tiles whose storage bindings fit maxStorageBufferBindingSize and, on the texture
 * path, whose operand rows fit a texture: whole outer batch items first, then heads of one item, then
 * rows of M, N or K (whichever is the rows of the operand that does not fit) in multiples of 4. A K
 * split accumulates into C. Returns undefined when only a K split would make the textures fit and
 * `kForTextures` is false (the caller then reads through storage instead).
 */
export function planTiles(
  rt: Runtime,
  g: PlanArgs,
  ops: [Operand, Operand, Operand],
  textures: boolean,
  kForTextures: boolean,
): Tile[] | undefined {
  const heads = g.heads ?? 1;
  const outer = (g.batch ?? 1) / heads;
  const D: Record<Dim, number> = { m: g.M, n: g.N, k: g.K };
  const eb = g.dtype === "f16" ? 2 : 4;
  const { limit, align } = bindingLimits(rt);
  const maxRows = rt.device.limits.maxTextureDimension2D;
  const maxZ = rt.gpu.limits.maxComputeWorkgroupsPerDimension;
  const overBinding = (x: Operand, t: Tile) => {
    const { first, end } = spanOf(x, t);
    return round4(Math.ceil(end / 4) * 4 * eb) - Math.floor((first * eb) / align) * align > limit;
  };
  const overTexture = (x: Operand, t: Tile) => {
    const { first, end } = spanOf(x, t);
    return Math.ceil(end / x.ld) - Math.floor(first / x.ld) > maxRows;
  };
  const misfit = (t: Tile) =>
    ops.find((x, i) => overBinding(x, t) || (textures && i < 2 && overTexture(x, t)));
  const whole = (zo: Range, zi: Range): Tile => ({ zo, zi, m: [0, g.M], n: [0, g.N], k: [0, g.K] });

  const split = (zo: Range, zi: Range): Tile[] => {
    const parts: Record<Dim, number> = { m: 1, n: 1, k: 1 };
    const size = (d: Dim) => Math.min(D[d], Math.ceil(Math.ceil(D[d] / parts[d]) / 4) * 4);
    const ranges = (d: Dim): Range[] => {
      const out: Range[] = [];
      for (let a = 0; a < D[d]; a += size(d)) out.push([a, Math.min(D[d], a + size(d))]);
      return out.length ? out : [[0, 0]];
    };
    for (;;) {
      const tiles = ranges("m").flatMap((m) =>
        ranges("n").flatMap((n) => ranges("k").map((k): Tile => ({ zo, zi, m, n, k })))
      );
      const bad = tiles.map((t) => [t, misfit(t)] as const).find(([, x]) => x);
      if (!bad) return tiles;
      const [t, x] = bad;
      const d = x!.rows;
      if (d === "k" && !kForTextures && !overBinding(x!, t)) return [];
      const before = size(d);
      while (size(d) === before && parts[d] < D[d]) parts[d]++;
      if (size(d) === before) {
        const { first, end } = spanOf(x!, { ...t, [d]: [0, Math.min(4, D[d])] });
        throw new Error(
          `vifi: ${g.label ?? "matmul"}: ${g.M}×${g.K}·${g.K}×${g.N} cannot be split into storage bindings ` +
            `of at most ${limit} bytes (maxStorageBufferBindingSize): ${
              (end - first) * eb
            } bytes for 4 rows of one operand`,
        );
      }
    }
  };

  const tiles: Tile[] = [];
  if (heads > maxZ) throw new Error(`vifi: matmul: ${heads} heads exceed ${maxZ} workgroups per dimension`);
  for (let z0 = 0; z0 < outer;) {
    const fitsZ = (z1: number) => (z1 - z0) * heads <= maxZ && !misfit(whole([z0, z1], [0, heads]));
    if (fitsZ(z0 + 1)) {
      let z1 = z0 + 1;
      while (z1 < outer && fitsZ(z1 + 1)) z1++;
      tiles.push(whole([z0, z1], [0, heads]));
      z0 = z1;
      continue;
    }
    for (let h0 = 0; h0 < heads;) {
      const fitsH = (h1: number) => !misfit(whole([z0, z0 + 1], [h0, h1]));
      if (!fitsH(h0 + 1)) {
        const parts = split([z0, z0 + 1], [h0, h0 + 1]);
        if (!parts.length) return undefined;
        tiles.push(...parts);
        h0++;
        continue;
      }
      let h1 = h0 + 1;
      while (h1 < heads && fitsH(h1 + 1)) h1++;
      tiles.push(whole([z0, z0 + 1], [h0, h1]));
      h0 = h1;
    }
    z0++;
  }
  const kSplit = tiles.some((t) => t.k[0] > 0);
  if (kSplit && (g.activation ?? "none") !== "none") {
    throw new Error(
      `vifi: ${g.label ?? "matmul"}: ${g.M}×${g.K}·${g.K}×${g.N} needs a split along K to fit ` +
        `maxStorageBufferBindingSize ${limit}, which an activation epilogue does not allow`,
    );
  }
  return tiles;
}
