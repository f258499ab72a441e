// AdamW over a model's trainable parameters (ViFi-CLIP uses one group: β 0.9/0.98, eps 1e-8, weight
// decay on every parameter). Moments live on the GPU beside the parameters.

import type { Param } from "../autograd/tape.ts";
import { adamw } from "../tensor/ops/adamw.ts";
import { Tensor } from "../tensor/tensor.ts";

export interface AdamWConfig {
  beta1?: number;
  beta2?: number;
  eps?: number;
  weightDecay?: number;
}

export class AdamW {
  /** updates applied so far (the t of the bias corrections) */
  step = 0;
  /** learning rate of the current update */
  lr = 0;
  private moments = new Map<Param, { m: Tensor; v: Tensor }>();

  constructor(readonly params: Param[], readonly config: AdamWConfig = {}) {}

  private state(p: Param) {
    let s = this.moments.get(p);
    if (!s) {
      s = {
        m: Tensor.zeros(p.value.rt, p.value.shape, "f32", `m(${p.name})`),
        v: Tensor.zeros(p.value.rt, p.value.shape, "f32", `v(${p.name})`),
      };
      this.moments.set(p, s);
    }
    return s;
  }

  /**
   * Create the moments of every trainable parameter now. A compiled step must find them existing: made
   * while recording, they would be the plan's own scratch, cleared to zero on every replay.
   */
  prepare(): void {
    for (const p of this.params) if (p.trainable) this.state(p);
  }

  /**
   * Move to the next step at learning rate `lr` without recording anything: what a compiled plan
   * calls before each run, since its AdamW uniforms read `lr` and `step` from here.
   */
  advance(lr: number): void {
    this.step++;
    this.lr = lr;
  }

  /**
   * Take back the latest advance(): its update was skipped on the GPU (a loss-scale overflow), so
   * like torch.optim.AdamW under apex, whose step() never ran, the bias corrections of the next
   * update use the same t that the skipped one would have.
   */
  unstep(): void {
    if (this.step > 0) this.step--;
  }

  /**
   * One update at learning rate `lr`, then gradients are zeroed for the next step. `gradScale`
   * (a function, so compiled steps re-read it) divides out a loss scale; `skipIf` skips on the GPU.
   * Parameters with an f16 copy get it refreshed from the updated master.
   */
  async update(lr: number, opts: { gradScale?: () => number; skipIf?: Tensor } = {}): Promise<void> {
    this.advance(lr);
    const c = this.config;
    const schedule = () => ({ lr: this.lr, step: this.step, gradScale: opts.gradScale?.() ?? 1 });
    for (const p of this.params) {
      if (!p.trainable) continue;
      const { m, v } = this.state(p);
      // Getters, so a plan that recorded this update sees the current values on every replay.
      await adamw(p.value, p.gradBuffer(), m, v, {
        get lr() {
          return schedule().lr;
        },
        get step() {
          return schedule().step;
        },
        get gradScale() {
          return schedule().gradScale;
        },
        beta1: c.beta1 ?? 0.9,
        beta2: c.beta2 ?? 0.98,
        eps: c.eps ?? 1e-8,
        weightDecay: c.weightDecay ?? 0.001,
        skipIf: opts.skipIf,
        half: p.half,
      });
      p.zeroGrad();
    }
  }

  /** The moments by parameter name (for checkpoints). */
  momentTensors(): Map<string, { m: Tensor; v: Tensor }> {
    return new Map([...this.moments].map(([p, s]) => [p.name, s]));
  }

  /** Restore a checkpointed state: the step count and each parameter's moments. */
  restore(step: number, moments: Map<string, { m: Float32Array; v: Float32Array }>): void {
    this.step = step;
    for (const p of this.params) {
      const saved = moments.get(p.name);
      if (!saved) continue;
      const { m, v } = this.state(p);
      if (saved.m.length !== m.size || saved.v.length !== v.size) {
        throw new Error(
          `vifi: optimizer state for ${p.name} has ${saved.m.length} values, the parameter ${m.size}`,
        );
      }
      p.value.rt.write(m.buffer, saved.m);
      p.value.rt.write(v.buffer, saved.v);
    }
  }

  dispose(): void {
    for (const { m, v } of this.moments.values()) {
      m.dispose();
      v.dispose();
    }
    this.moments.clear();
  }
}
