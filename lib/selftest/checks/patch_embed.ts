// Checks for the patch embedding's data movement: im2col (frames -> patch rows, forward) and
// col2im (patch-row gradients -> frame gradients, backward), against float64 references and a
// direct convolution.

import {
  col2im,
  col2imReference,
  im2col,
  im2colReference,
  patchEmbedReference,
} from "../../tensor/ops/patch_embed.ts";
import { Tensor } from "../../tensor/tensor.ts";
import { type CheckCase, type CheckDtype, type KernelCheck, relErr, tolFor, worst } from "../check.ts";
import { take, upload } from "../tensors.ts";
import { rejects } from "./rejects.ts";

type PatchShape = [n: number, c: number, h: number, w: number, p: number];

const PATCH_SHAPES: PatchShape[] = [
  [2, 3, 32, 32, 16],
  [3, 3, 48, 16, 16],
  [1, 3, 4, 6, 2],
  [2, 3, 224, 224, 32],
];

// ---- forward: im2col ----

function im2colCase(dtype: CheckDtype, [n, c, h, w, p]: PatchShape): CheckCase {
  return {
    label: `frames [${n}, ${c}, ${h}, ${w}], P=${p}`,
    async run(rt, rng) {
      const x = rng.array(n * c * h * w, -2, 2, dtype === "f16");
      const tx = upload(rt, x, [n, c, h, w], dtype, "frames");
      const out = await im2col(tx, p);
      const shapeOk = out.shape.join() === `${n * (h / p) * (w / p)},${c * p * p}`;
      const err = relErr(await take(out), im2colReference(x, n, c, h, w, p));
      tx.dispose();
      return worst(err, shapeOk ? 0 : 1);
    },
  };
}

/** The column order must be conv1.weight's (c, ky, kx): check against a direct convolution. */
function directConvCase(dtype: CheckDtype): CheckCase {
  return {
    label: "im2col · Wᵀ equals the direct conv1, frames [2, 3, 32, 48], P=16, D=5",
    async run(rt, rng) {
      const [n, c, h, w, p, d] = [2, 3, 32, 48, 16, 5];
      const x = rng.array(n * c * h * w, -2, 2, dtype === "f16");
      const wt = rng.array(d * c * p * p, -1, 1);
      const tx = upload(rt, x, [n, c, h, w], dtype, "frames");
      const patches = await take(await im2col(tx, p));
      tx.dispose();
      const k = c * p * p;
      const rows = patches.length / k;
      const out = new Float64Array(rows * d);
      for (let r = 0; r < rows; r++) {
        for (let o = 0; o < d; o++) {
          let acc = 0;
          for (let j = 0; j < k; j++) acc += patches[r * k + j] * wt[o * k + j];
          out[r * d + o] = acc;
        }
      }
      return relErr(out, patchEmbedReference(x, wt, n, c, h, w, p, d));
    },
  };
}

/** Both directions refuse frames that do not tile into whole patches, and say which shapes. */
function indivisibleFramesCase(dtype: CheckDtype): CheckCase {
  return {
    label: "H or W not a multiple of P is rejected",
    async run(rt) {
      const tx = Tensor.zeros(rt, [1, 3, 30, 32], dtype, "frames");
      const err = worst(
        await rejects(() => im2col(tx, 16), "frames", "[1, 3, 30, 32]", "16"),
        await rejects(() => col2im(tx.reshape([1, 2880]), [1, 3, 30, 32], 16), "[1, 3, 30, 32]"),
        await rejects(
          () => col2im(tx.reshape([2, 1440]), [1, 3, 32, 30], 2),
          "[1, 3, 32, 30]",
          "[240, 12]",
        ),
      );
      tx.dispose();
      return err;
    },
  };
}

function im2colCheck(dtype: CheckDtype): KernelCheck {
  return {
    name: "im2col",
    dtype,
    direction: "forward",
    tol: tolFor(dtype),
    cases: [
      ...PATCH_SHAPES.map((shape) => im2colCase(dtype, shape)),
      directConvCase(dtype),
      indivisibleFramesCase(dtype),
    ],
  };
}

// ---- backward: col2im ----

function col2imCase(dtype: CheckDtype, [n, c, h, w, p]: PatchShape): CheckCase {
  return {
    label: `col2im to frames [${n}, ${c}, ${h}, ${w}], P=${p}`,
    async run(rt, rng) {
      const rows = n * (h / p) * (w / p);
      const k = c * p * p;
      const dy = rng.array(rows * k, -2, 2, dtype === "f16");
      const tdy = upload(rt, dy, [rows, k], dtype, "dpatches");
      const out = await col2im(tdy, [n, c, h, w], p);
      const shapeOk = out.shape.join() === `${n},${c},${h},${w}`;
      const err = relErr(await take(out), col2imReference(dy, n, c, h, w, p));
      tdy.dispose();
      return worst(err, shapeOk ? 0 : 1);
    },
  };
}

function col2imCheck(dtype: CheckDtype): KernelCheck {
  return {
    name: "im2col",
    dtype,
    direction: "backward",
    tol: tolFor(dtype),
    cases: PATCH_SHAPES.map((shape) => col2imCase(dtype, shape)),
  };
}

export const patchEmbedChecks: KernelCheck[] = [
  im2colCheck("f32"),
  col2imCheck("f32"),
  im2colCheck("f16"),
  col2imCheck("f16"),
];
