// CLIP's patch embedding (conv1: kernel = stride = P, no bias) as im2col + matmul: im2col here, the
// matmul patches · Wᵀ with conv1.weight [D, C, P, P] viewed as [D, C·P·P] lives with the matmuls.

import { grid1d } from "../../gpu/grid.ts";
import { expectDtype, shapeStr, Tensor } from "../tensor.ts";
import { dtypeSpec, params, rowWindow, tensorRowChunks } from "./common.ts";

export type FramesShape = readonly [n: number, c: number, h: number, w: number];

function patchGrid(shape: FramesShape, patch: number, what: string): { gh: number; gw: number } {
  if (shape.length !== 4 || !shape.every((x) => Number.isInteger(x) && x >= 0)) {
    throw new Error(`vifi: ${what}: frames shape ${shapeStr(shape)} is not [N, C, H, W]`);
  }
  const [, , h, w] = shape;
  if (!Number.isInteger(patch) || patch <= 0) throw new Error(`vifi: ${what}: bad patch size ${patch}`);
  if (h % patch !== 0 || w % patch !== 0) {
    throw new Error(
      `vifi: ${what}: frames ${shapeStr(shape)} are not divisible into ${patch}×${patch} patches ` +
        `(H = ${h} and W = ${w} must be multiples of ${patch})`,
    );
  }
  return { gh: h / patch, gw: w / patch };
}

/**
 * frames [N, C, H, W] → patches [N·(H/P)·(W/P), C·P·P]: rows (n, gy, gx) in raster order, columns
 * (c, ky, kx), i.e. conv1.weight's own layout.
 */
export async function im2col(frames: Tensor, patch: number): Promise<Tensor> {
  const rt = frames.rt;
  frames.check();
  expectDtype(frames, ["f32", "f16"], "im2col");
  if (frames.shape.length !== 4) {
    throw new Error(`vifi: im2col: ${frames.name} must be [N, C, H, W] but has ${shapeStr(frames.shape)}`);
  }
  const shape = frames.shape as unknown as FramesShape;
  const [n, c] = shape;
  const { gh, gw } = patchGrid(shape, patch, `im2col(${frames.name})`);
  const out = Tensor.empty(rt, [n * gh * gw, c * patch * patch], frames.dtype, `im2col(${frames.name})`);
  const pipe = await rt.pipeline("patch_embed.wgsl", "im2col", dtypeSpec(frames.dtype));
  // Each image's pixels and patches are contiguous in both layouts: split by images.
  const img = c * shape[2] * shape[3];
  for (const ch of tensorRowChunks("im2col", n, [[frames, img], [out, img]])) {
    const u = rt.uniform(params(ch.count * img, c, shape[2], shape[3], patch, gh, gw, 0));
    const b = [u, rowWindow(frames, ch, img), rowWindow(out, ch, img)];
    rt.dispatch(pipe, b, grid1d(ch.count * img), { label: "im2col" });
  }
  return out;
}

/** The adjoint of im2col: dpatches [N·(H/P)·(W/P), C·P·P] → dframes [N, C, H, W] (a permutation). */
export async function col2im(dpatches: Tensor, framesShape: FramesShape, patch: number): Promise<Tensor> {
  const rt = dpatches.rt;
  dpatches.check();
  expectDtype(dpatches, ["f32", "f16"], "col2im");
  const [n, c, h, w] = framesShape;
  const { gh, gw } = patchGrid(framesShape, patch, `col2im(${dpatches.name})`);
  const rows = n * gh * gw;
  const cols = c * patch * patch;
  if (dpatches.shape.length !== 2 || dpatches.shape[0] !== rows || dpatches.shape[1] !== cols) {
    throw new Error(
      `vifi: col2im: frames ${shapeStr(framesShape)} with ${patch}×${patch} patches need ${dpatches.name} ` +
        `to be [${rows}, ${cols}] but it has ${shapeStr(dpatches.shape)}`,
    );
  }
  const out = Tensor.empty(rt, framesShape, dpatches.dtype, `col2im(${dpatches.name})`);
  const pipe = await rt.pipeline("patch_embed.wgsl", "col2im", dtypeSpec(dpatches.dtype));
  const img = c * h * w;
  for (const ch of tensorRowChunks("col2im", n, [[dpatches, img], [out, img]])) {
    const u = rt.uniform(params(ch.count * img, c, h, w, patch, gh, gw, 0));
    const b = [u, undefined, undefined, rowWindow(dpatches, ch, img), rowWindow(out, ch, img)];
    rt.dispatch(pipe, b, grid1d(ch.count * img), { label: "col2im" });
  }
  return out;
}

// ---- float64 references ----

export function im2colReference(
  frames: ArrayLike<number>,
  n: number,
  c: number,
  h: number,
  w: number,
  p: number,
): Float64Array {
  const gh = h / p;
  const gw = w / p;
  const k = c * p * p;
  const out = new Float64Array(n * gh * gw * k);
  for (let img = 0; img < n; img++) {
    for (let gy = 0; gy < gh; gy++) {
      for (let gx = 0; gx < gw; gx++) {
        const row = (img * gh + gy) * gw + gx;
        for (let ch = 0; ch < c; ch++) {
          for (let ky = 0; ky < p; ky++) {
            for (let kx = 0; kx < p; kx++) {
              out[row * k + (ch * p + ky) * p + kx] =
                frames[((img * c + ch) * h + gy * p + ky) * w + gx * p + kx];
            }
          }
        }
      }
    }
  }
  return out;
}

/** The adjoint of im2colReference, written as a scatter-add so it does not assume non-overlap. */
export function col2imReference(
  dpatches: ArrayLike<number>,
  n: number,
  c: number,
  h: number,
  w: number,
  p: number,
): Float64Array {
  const gh = h / p;
  const gw = w / p;
  const k = c * p * p;
  const out = new Float64Array(n * c * h * w);
  for (let img = 0; img < n; img++) {
    for (let gy = 0; gy < gh; gy++) {
      for (let gx = 0; gx < gw; gx++) {
        const row = (img * gh + gy) * gw + gx;
        for (let ch = 0; ch < c; ch++) {
          for (let ky = 0; ky < p; ky++) {
            for (let kx = 0; kx < p; kx++) {
              out[((img * c + ch) * h + gy * p + ky) * w + gx * p + kx] +=
                dpatches[row * k + (ch * p + ky) * p + kx];
            }
          }
        }
      }
    }
  }
  return out;
}

/**
 * Direct convolution, CLIP's conv1: frames [N, C, H, W], weight [D, C, P, P], stride P, no bias →
 * [N·(H/P)·(W/P), D] with rows (n, gy, gx), i.e. the layout of im2col(frames) · weightᵀ.
 */
export function patchEmbedReference(
  frames: ArrayLike<number>,
  weight: ArrayLike<number>,
  n: number,
  c: number,
  h: number,
  w: number,
  p: number,
  d: number,
): Float64Array {
  const gh = h / p;
  const gw = w / p;
  const out = new Float64Array(n * gh * gw * d);
  for (let img = 0; img < n; img++) {
    for (let gy = 0; gy < gh; gy++) {
      for (let gx = 0; gx < gw; gx++) {
        const row = (img * gh + gy) * gw + gx;
        for (let o = 0; o < d; o++) {
          let acc = 0;
          for (let ch = 0; ch < c; ch++) {
            for (let ky = 0; ky < p; ky++) {
              for (let kx = 0; kx < p; kx++) {
                acc += weight[((o * c + ch) * p + ky) * p + kx] *
                  frames[((img * c + ch) * h + gy * p + ky) * w + gx * p + kx];
              }
            }
          }
          out[row * d + o] = acc;
        }
      }
    }
  }
  return out;
}
