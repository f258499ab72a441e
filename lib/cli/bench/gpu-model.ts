// The model section of `deno task bench --suite gpu`: ViFi-CLIP ViT-B/16 (random weights) at each batch ×
// frames of the plan, in every dtype the adapter has (f16 = mixed precision with a loss scaler): an
// eager forward pass and a compiled training step of the image tower. The text tower is frozen here
// (its class embeddings are cached), so these rows compute what bench/torch_reference.py's visual tower
// computes, and the FLOPs are counted by rowFlops for both.

import type { Precision } from "../../models/clip.ts";
import { clipConfig, initClipWeights, type Weights } from "../../models/config.ts";
import type { DType } from "../../tensor/tensor.ts";
import { skippedRow, type SuiteContext } from "./gpu-kernels.ts";
import { type ModelCase, modelShape, rowFlops } from "./gpu-shapes.ts";
import { disposeModelBench, forwardRow, modelBench, trainStepRow } from "./model.ts";

async function modelCase(c: SuiteContext, m: ModelCase, dtype: DType, weights: () => Weights): Promise<void> {
  const { rt, plan, budget, emit } = c;
  const shape = modelShape(m);
  const forward = rowFlops({ kind: "model", m, train: false });
  const train = rowFlops({ kind: "model", m, train: true });
  const runs = plan.reps > 1 ? 3 : 1;
  // forward: a warm-up and `runs`; step: an eager step, the recorded one and `runs` replays (×1.5 for the
  // eager steps' JavaScript), plus the model's creation and the text tower's one run (~1 forward)
  const fwdWork = forward * (runs + 2);
  const trainWork = train * (runs + 3);
  // The forward row goes first and is cheap next to the step: with no model rate yet it borrows the
  // fastest GEMM rate; the step is then estimated from the forward's own rate (compiles included).
  if (!budget.fits("model", fwdWork, { from: "gemm", factor: 1 })) {
    for (const op of ["vifi-forward", "vifi-train-step"]) {
      emit(skippedRow("model", op, shape, dtype, "budget"));
    }
    return;
  }
  const bench = modelBench(rt, clipConfig("ViT-B/16"), {
    B: m.batch,
    T: m.frames,
    C: m.classes,
    shape,
    precision: dtype as Precision,
    variant: "image",
    flops: { forward, train },
    weights: weights(),
  });
  try {
    emit({ section: "model", ...await budget.measure("model", fwdWork, () => forwardRow(bench, runs)) });
    if (!budget.fits("model", trainWork)) {
      emit(skippedRow("model", "vifi-train-step", shape, dtype, "budget"));
      return;
    }
    // wall time (with its one wait) so the row compares with PyTorch's synchronised step
    const row = await budget.measure("model", trainWork, () => trainStepRow(bench, runs, true));
    emit({ section: "model", ...row });
  } finally {
    disposeModelBench(bench);
    await rt.sync();
    // the next case's sizes differ: give this one's idle buffers back to the driver
    rt.pool.trim();
  }
}

export async function modelSection(c: SuiteContext): Promise<void> {
  // one set of random weights for every row (drawing ViT-B/16's ~150 M takes seconds), made when first needed
  let w: Weights | undefined;
  const weights = () => w ??= initClipWeights(clipConfig("ViT-B/16"), 3);
  for (const m of c.plan.model) for (const dtype of c.dtypes) await modelCase(c, m, dtype, weights);
}
