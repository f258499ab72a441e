// The LayerNorm family for the tuner: the launch layouts of layerNormCandidates (an invocation per row,
// the same through textures, N lanes per row reducing in workgroup memory), forward and backward together
// as a training step runs them, every output checked against the float64 reference of the whole shape.

import type { Runtime } from "../../gpu/runtime.ts";
import type { Rng } from "../../random/rng.ts";
import { relErr, worst } from "../../selftest/check.ts";
import {
  layerNorm,
  layerNormBackward,
  layerNormBackwardReference,
  layerNormCandidates,
  layerNormReference,
  layerNormShapeClass,
} from "../../tensor/ops/layernorm.ts";
import { Tensor } from "../../tensor/tensor.ts";
import type { CheckResult, OpFamily, Trial } from "../family.ts";

export interface LayerNormShape {
  rows: number;
  width: number;
  dtype: "f32" | "f16";
}

/** Relative error allowed against float64: the selftest's LayerNorm tolerances, loosened for long rows. */
const TOL = { f32: 2e-5, f16: 5e-3 };

function label(s: LayerNormShape): string {
  return `${s.rows}x${s.width} ${s.dtype} fwd+bwd`;
}

/** Counted as memory-bound work: about 8 operations per element forward and 12 backward. */
function flop(s: LayerNormShape): number {
  return 20 * s.rows * s.width;
}

function prepare(rt: Runtime, s: LayerNormShape, rng: Rng): Trial {
  const f16 = s.dtype === "f16";
  const n = s.rows * s.width;
  // an offset mean per row, so a layout that skips the centring shows
  const host = {
    x: rng.array(n, -1, 3, f16),
    w: rng.array(s.width, 0.5, 1.5, f16),
    b: rng.array(s.width, -0.5, 0.5, f16),
    dy: rng.array(n, -1, 1, f16),
  };
  const x = Tensor.from(rt, host.x, [s.rows, s.width], s.dtype, "tune.ln.x");
  const w = Tensor.from(rt, host.w, [s.width], s.dtype, "tune.ln.weight");
  const b = Tensor.from(rt, host.b, [s.width], s.dtype, "tune.ln.bias");
  const dy = Tensor.from(rt, host.dy, [s.rows, s.width], s.dtype, "tune.ln.dy");
  const step = async (variant: string) => {
    const f = await layerNorm(x, w, b, { variant });
    const g = await layerNormBackward(x, w, f.mean, f.rstd, dy, { variant });
    return [f.y, f.mean, f.rstd, g.dx, g.dweight, g.dbias];
  };
  let ref: { y: Float64Array; dx: Float64Array; dweight: Float64Array; dbias: Float64Array } | undefined;
  return {
    async run(variant) {
      for (const t of await step(variant)) t.dispose();
    },
    async check(variant): Promise<CheckResult> {
      const out = await step(variant);
      try {
        // the same inputs for every candidate: one reference serves all
        ref ??= {
          y: layerNormReference(host.x, host.w, host.b, s.width).y,
          ...layerNormBackwardReference(host.x, host.w, host.dy, s.width),
        };
        const [y, , , dx, dweight, dbias] = await Promise.all(out.map((t) => t.read()));
        const err = worst(
          relErr(y, ref.y),
          relErr(dx, ref.dx),
          relErr(dweight, ref.dweight),
          relErr(dbias, ref.dbias),
        );
        return {
          err: err / TOL[s.dtype],
          what: `y, dx, dweight, dbias of all rows against float64 (relative, tol ${TOL[s.dtype]})`,
        };
      } finally {
        for (const t of out) t.dispose();
      }
    },
    dispose() {
      for (const t of [x, w, b, dy]) t.dispose();
    },
  };
}

export const LAYERNORM_FAMILY: OpFamily<LayerNormShape> = {
  name: "layernorm",
  candidates: (rt, s) => layerNormCandidates(rt, s.width, s.dtype),
  shapeClass: (s) => layerNormShapeClass(s.width, s.dtype),
  label,
  flop,
  prepare,
};
