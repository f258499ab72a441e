// Dynamic loss scaling for mixed precision: the backward starts from `scale` instead of 1 so small
// f16 gradients do not flush to zero; AdamW divides it out. A non-finite gradient skips the step on
// the GPU (no read needed to skip) and halves the scale; `growEvery` clean steps double it. As apex
// O1 (the upstream's `--opt-level O1`): the scale starts at 2^16, and a skipped step is no optimizer
// step — the caller rolls AdamW's step counter back when update() reports the overflow.

import type { Param } from "../autograd/tape.ts";
import type { Runtime } from "../gpu/runtime.ts";
import { nonFinite } from "../tensor/ops/adamw.ts";
import { Tensor } from "../tensor/tensor.ts";

export class LossScaler {
  /** the backward seed, read by the GPU (a compiled step sees changes) */
  readonly seed: Tensor;
  /** u32 [1], set when any gradient of the step is NaN or ±∞ */
  readonly overflow: Tensor;
  scale: number;
  cleanSteps = 0;
  skipped = 0;

  constructor(readonly rt: Runtime, initial = 2 ** 16, readonly growEvery = 2000) {
    this.scale = initial;
    this.seed = Tensor.from(rt, [initial], [1], "f32", "loss scale");
    this.overflow = Tensor.zeros(rt, [1], "u32", "overflow");
  }

  /** Record: clear the flag, then raise it if any trainable parameter's gradient is non-finite. */
  async check(params: Param[]): Promise<void> {
    this.rt.clear(this.overflow.buffer);
    const grads = params.filter((p) => p.trainable).map((p) => p.gradBuffer());
    if (grads.length) await nonFinite(grads, this.overflow);
  }

  /**
   * After the step ran: read the flag (one GPU round trip) and adapt the scale. True when the step
   * was skipped: then call the optimizer's unstep(), since the GPU left its moments untouched.
   */
  async update(): Promise<boolean> {
    const overflowed = (await this.overflow.read())[0] !== 0;
    if (overflowed) {
      this.scale = Math.max(1, this.scale / 2);
      this.cleanSteps = 0;
      this.skipped++;
    } else if (++this.cleanSteps >= this.growEvery) {
      this.scale *= 2;
      this.cleanSteps = 0;
    }
    this.rt.write(this.seed.buffer, new Float32Array([this.scale]));
    return overflowed;
  }

  dispose(): void {
    this.seed.dispose();
    this.overflow.dispose();
  }
}
