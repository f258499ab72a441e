// Row softmax over the last dimension with the pieces attention needs: a logit scale, a causal mask
// and a key-padding mask. Scores are laid out [B, H, Lq, Lk] (or [B·H, Lq, Lk]: only the element
// order matters). Masked keys get probability 0 and a row with no visible key is all zeros.

import type { Binding, Runtime } from "../../gpu/runtime.ts";
import { splitChunks } from "../../gpu/chunks.ts";
import { BYTES, expectDtype, expectShape, type Shape, shapeStr, Tensor } from "../tensor.ts";
import { dtypeSpec, params, rowWindow, tensorRowChunks, whole } from "./common.ts";
import { rowLaunch } from "./reduce.ts";

export interface KeyPadding {
  /**
   * i32 or u32, either [B] valid lengths (key k of batch item b is kept iff k < mask[b]) or [B, Lk]
   * flags (kept iff nonzero; note this is the opposite polarity of PyTorch's key_padding_mask).
   */
  mask: Tensor;
  /** heads per batch item: row r of the scores belongs to batch item r / (heads · Lq) */
  heads: number;
}

export interface SoftmaxOptions {
  /** multiplies the logits before the softmax (1/√d for attention); default 1 */
  scale?: number;
  /**
   * query q sees keys 0..q only (top-left aligned, as PyTorch's is_causal). Lq is x.shape[-2], so
   * the scores must keep their [..., Lq, Lk] shape (not be flattened to [rows, Lk]).
   */
  causal?: boolean;
  keyPadding?: KeyPadding;
  /**
   * Logical row length when rows are padded: only the first `columns` entries of each row are read
   * and written (attention pads score rows so its GEMMs can use vector loads). Default: last dim.
   */
  columns?: number;
}

interface Layout {
  rows: number;
  width: number;
  ld: number;
  lq: number;
  batchRows: number;
  lengths: boolean;
}

function layout(x: Tensor, opts: SoftmaxOptions, what: string): Layout {
  if (x.shape.length === 0) {
    throw new Error(`vifi: ${what}: ${x.name} is a scalar; it needs a last dimension`);
  }
  const ld = x.shape[x.shape.length - 1];
  const width = opts.columns ?? ld;
  if (!Number.isInteger(width) || width < 0 || width > ld) {
    throw new Error(
      `vifi: ${what}: columns ${opts.columns} must be an integer in [0, ${ld}] for ${x.name} ${
        shapeStr(x.shape)
      }`,
    );
  }
  const rows = ld === 0 ? 0 : x.size / ld;
  const lq = x.shape.length >= 2 ? x.shape[x.shape.length - 2] : 1;
  if (opts.causal && x.shape.length < 2) {
    throw new Error(
      `vifi: ${what}: a causal mask needs [..., Lq, Lk] scores but ${x.name} is ${shapeStr(x.shape)}`,
    );
  }
  let batchRows = Math.max(rows, 1);
  let lengths = false;
  const kp = opts.keyPadding;
  if (kp) {
    const m = kp.mask;
    m.check();
    expectDtype(m, ["i32", "u32"], `${what} key padding`);
    if (!Number.isInteger(kp.heads) || kp.heads < 1) {
      throw new Error(`vifi: ${what}: key padding heads must be a positive integer, got ${kp.heads}`);
    }
    const batch = m.shape[0];
    lengths = m.shape.length === 1;
    if (!(lengths || (m.shape.length === 2 && m.shape[1] === width))) {
      throw new Error(
        `vifi: ${what}: key padding ${m.name} is ${shapeStr(m.shape)}; expected [B] lengths` +
          ` or [B, ${width}] flags for ${x.name} ${shapeStr(x.shape)}`,
      );
    }
    if (batch * kp.heads * lq !== rows) {
      throw new Error(
        `vifi: ${what}: ${x.name} ${shapeStr(x.shape)} has ${rows} rows but key padding ${m.name}` +
          ` ${shapeStr(m.shape)} with ${kp.heads} heads and Lq = ${lq} describes ${batch * kp.heads * lq}`,
      );
    }
    batchRows = kp.heads * lq;
  }
  return { rows, width, ld, lq: Math.max(lq, 1), batchRows: Math.max(batchRows, 1), lengths };
}

/**
 * One dispatch per chunk of rows that fits a storage binding; `tensors` are bound as row windows at
 * the given binding slots, the key-padding mask whole.
 */
async function launch(
  rt: Runtime,
  entry: string,
  dtype: "f32" | "f16",
  l: Layout,
  opts: SoftmaxOptions,
  tensors: [slot: number, t: Tensor][],
  label: string,
): Promise<void> {
  const { spec } = rowLaunch(rt, l.rows, l.width);
  const base = {
    ...dtypeSpec(dtype),
    ...spec,
    CAUSAL: !!opts.causal,
    PAD: !!opts.keyPadding,
    PAD_LENGTHS: l.lengths,
  };
  const pipe = await rt.pipeline("softmax.wgsl", entry, { ...base, TEX: false });
  // Software adapters read rows through textures where rows copy into one (256-byte rows: attention
  // pads its score rows to that there).
  const texOk = rt.gpu.info.software && (l.ld * BYTES[dtype]) % 256 === 0 && l.rows > 0;
  const texPipe = texOk ? await rt.pipeline("softmax.wgsl", entry, { ...base, TEX: true }) : undefined;
  const mask = opts.keyPadding && whole(opts.keyPadding.mask, label);
  const maxRows = rt.device.limits.maxTextureDimension2D;
  // A texture holds at most maxTextureDimension2D rows: split the chunks further for those.
  const chunks = tensorRowChunks(label, l.rows, tensors.map(([, t]) => [t, l.ld]));
  for (const c of splitChunks(chunks, texPipe ? maxRows : 0)) {
    const u = rt.uniform(
      params(c.count, l.width, l.lq, l.batchRows, { f: opts.scale ?? 1 }, l.ld, c.first),
    );
    const bindings: (Binding | undefined)[] = [u, undefined, undefined, mask];
    const grid = rowLaunch(rt, c.count, l.width).grid;
    const textures = texPipe
      ? tensors.filter(([slot]) => TEX_SLOT[slot]).map(([slot, t]) => {
        const tex = rt.rowsTexture(
          t.buffer,
          l.ld,
          c.first,
          c.count,
          dtype === "f16" ? "rgba16float" : "rgba32float",
        );
        return [slot, tex] as const;
      })
      : [];
    if (texPipe && textures.every(([, tex]) => tex)) {
      for (const [slot, t] of tensors) if (!TEX_SLOT[slot]) bindings[slot] = rowWindow(t, c, l.ld);
      for (const [slot, tex] of textures) bindings[TEX_SLOT[slot]] = tex!.view;
      rt.dispatch(texPipe, bindings, grid, { label });
    } else {
      for (const [slot, t] of tensors) bindings[slot] = rowWindow(t, c, l.ld);
      rt.dispatch(pipe, bindings, grid, { label });
    }
    for (const [, tex] of textures) if (tex) rt.textures.release(tex.texture);
  }
}

/** Storage slot of an input → its texture slot in softmax.wgsl's TEX kernels (x, y_in, dy). */
const TEX_SLOT: Record<number, number> = { 1: 7, 4: 8, 5: 9 };

/** y = softmax(scale · x) over the last dimension, restricted to the keys the masks leave visible. */
export async function softmax(x: Tensor, opts: SoftmaxOptions = {}): Promise<Tensor> {
  const rt = x.rt;
  x.check();
  expectDtype(x, ["f32", "f16"], "softmax");
  const l = layout(x, opts, "softmax");
  const y = Tensor.empty(rt, x.shape, x.dtype, `softmax(${x.name})`);
  await launch(rt, "forward", x.dtype as "f32" | "f16", l, opts, [[1, x], [2, y]], "softmax");
  return y;
}

/** dx = scale · y ⊙ (dy − Σ dy ⊙ y) from the forward output y; pass the forward's options. */
export async function softmaxBackward(y: Tensor, dy: Tensor, opts: SoftmaxOptions = {}): Promise<Tensor> {
  const rt = y.rt;
  y.check();
  dy.check();
  expectDtype(y, ["f32", "f16"], "softmaxBackward");
  expectShape(dy, y.shape, "softmaxBackward dy");
  expectDtype(dy, [y.dtype], "softmaxBackward dy");
  const l = layout(y, opts, "softmaxBackward");
  const dx = Tensor.empty(rt, y.shape, y.dtype, `d(${y.name})`);
  const tensors: [number, Tensor][] = [[4, y], [5, dy], [6, dx]];
  await launch(rt, "backward", y.dtype as "f32" | "f16", l, opts, tensors, "softmax_bwd");
  return dx;
}

// ---- float64 references ----

export interface SoftmaxReferenceOptions {
  scale?: number;
  causal?: boolean;
  /** mask values and shape ([B] lengths or [B, Lk] flags) */
  keyPadding?: { mask: ArrayLike<number>; shape: Shape; heads: number };
}

/** visible[r·Lk + k]: whether key k is visible from row r of scores of `shape`. */
export function softmaxVisibility(shape: Shape, opts: SoftmaxReferenceOptions): Uint8Array {
  const width = shape[shape.length - 1];
  const lq = shape.length >= 2 ? shape[shape.length - 2] : 1;
  const rows = shape.reduce((a, b) => a * b, 1) / width;
  const vis = new Uint8Array(rows * width);
  const kp = opts.keyPadding;
  for (let r = 0; r < rows; r++) {
    const q = r % lq;
    const b = kp ? Math.floor(r / (kp.heads * lq)) : 0;
    for (let k = 0; k < width; k++) {
      let ok = !opts.causal || k <= q;
      if (kp) ok &&= kp.shape.length === 1 ? k < kp.mask[b] : kp.mask[b * width + k] !== 0;
      vis[r * width + k] = ok ? 1 : 0;
    }
  }
  return vis;
}

export function softmaxReference(
  x: ArrayLike<number>,
  shape: Shape,
  opts: SoftmaxReferenceOptions = {},
): Float64Array {
  const width = shape[shape.length - 1];
  const vis = softmaxVisibility(shape, opts);
  const scale = opts.scale ?? 1;
  const y = new Float64Array(x.length);
  for (let base = 0; base < x.length; base += width) {
    let m = -Infinity;
    for (let k = 0; k < width; k++) if (vis[base + k]) m = Math.max(m, scale * x[base + k]);
    let s = 0;
    for (let k = 0; k < width; k++) if (vis[base + k]) s += Math.exp(scale * x[base + k] - m);
    for (let k = 0; k < width; k++) y[base + k] = vis[base + k] ? Math.exp(scale * x[base + k] - m) / s : 0;
  }
  return y;
}

/** Like the kernel, from the forward output y (pass the y the kernel saw, i.e. rounded to its storage). */
export function softmaxBackwardReference(
  y: ArrayLike<number>,
  dy: ArrayLike<number>,
  shape: Shape,
  opts: SoftmaxReferenceOptions = {},
): Float64Array {
  const width = shape[shape.length - 1];
  const vis = softmaxVisibility(shape, opts);
  const scale = opts.scale ?? 1;
  const dx = new Float64Array(y.length);
  for (let base = 0; base < y.length; base += width) {
    let s = 0;
    for (let k = 0; k < width; k++) if (vis[base + k]) s += dy[base + k] * y[base + k];
    for (let k = 0; k < width; k++) {
      dx[base + k] = vis[base + k] ? scale * y[base + k] * (dy[base + k] - s) : 0;
    }
  }
  return dx;
}
