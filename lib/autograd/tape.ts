// Reverse-mode autograd. Every differentiable function runs its forward kernel now and records a
// closure that runs the paired backward kernel later. Gradients accumulate in place (`addInto`, or
// GEMMs that add straight into a parameter's gradient). Frozen parameters and inputs have
// requiresGrad = false: no closure touches them and no gradient memory exists for them.

import { addInto } from "../tensor/ops/elementwise.ts";
import { Tensor } from "../tensor/tensor.ts";

export class Var {
  grad?: Tensor;
  constructor(readonly value: Tensor, protected needsGrad: boolean, readonly name = value.name) {}

  get requiresGrad(): boolean {
    return this.needsGrad;
  }

  /** The tensor the forward computes with (a parameter's f16 copy under mixed precision). */
  get compute(): Tensor {
    return this.value;
  }

  get shape(): readonly number[] {
    return this.value.shape;
  }

  /** grad += g, taking ownership of g. */
  async accumulate(g: Tensor): Promise<void> {
    if (!this.grad) {
      this.grad = g;
      return;
    }
    await addInto(this.grad, g);
    g.dispose();
  }
}

/** A trainable (or frozen) model parameter: an f32 master value with a persistent gradient buffer. */
export class Param extends Var {
  /** f16 copy used by the forward under mixed precision; the optimizer refreshes it after each update */
  half?: Tensor;

  constructor(value: Tensor, trainable: boolean, name: string) {
    super(value, trainable, name);
  }

  /**
   * Evaluation inside a training run: no gradient work is recorded, but the gradient buffer stays,
   * since compiled training plans are bound to it (freezing would release it into the pool).
   */
  paused = false;

  override get compute(): Tensor {
    return this.half ?? this.value;
  }

  override get requiresGrad(): boolean {
    return this.needsGrad && !this.paused;
  }

  get trainable(): boolean {
    return this.needsGrad;
  }

  /** Freezing drops the gradient buffer: frozen parameters hold no gradient memory. */
  set trainable(on: boolean) {
    this.needsGrad = on;
    if (!on) {
      this.grad?.dispose();
      this.grad = undefined;
    }
  }

  /** The gradient buffer, created zeroed on first use and kept across steps. */
  gradBuffer(): Tensor {
    this.grad ??= Tensor.zeros(this.value.rt, this.value.shape, "f32", `grad(${this.name})`);
    return this.grad;
  }

  override async accumulate(g: Tensor): Promise<void> {
    await addInto(this.gradBuffer(), g);
    g.dispose();
  }

  zeroGrad(): void {
    if (this.grad) this.value.rt.clear(this.grad.buffer);
  }

  /** Free the master value, the f16 copy and the gradient. */
  dispose(): void {
    this.half?.dispose();
    this.value.dispose();
    this.grad?.dispose();
  }
}

export class Tape {
  private nodes: { name: string; backward: () => Promise<void> }[] = [];
  private owned: Tensor[] = [];
  private vars: Var[] = [];

  /** A new intermediate whose value (and gradient) the tape frees in dispose(). */
  track(value: Tensor, requiresGrad: boolean, name?: string): Var {
    const v = new Var(value, requiresGrad, name);
    this.vars.push(v);
    return v;
  }

  /** Tensors saved for backward only (e.g. layernorm statistics). */
  keep(...ts: Tensor[]): void {
    this.owned.push(...ts);
  }

  record(name: string, backward: () => Promise<void>): void {
    this.nodes.push({ name, backward });
  }

  get size(): number {
    return this.nodes.length;
  }

  /**
   * Back-propagate from a scalar: d(root)/d(root) = `seed` (default 1), a number or a one-element
   * tensor read on the GPU (a loss scale that changes between replays of a compiled step).
   */
  async backward(root: Var, seed: number | Tensor = 1): Promise<void> {
    if (root.value.size !== 1) {
      throw new Error(`vifi: backward needs a scalar, ${root.name} has ${root.value.size} elements`);
    }
    const rt = root.value.rt;
    let d: Tensor;
    if (typeof seed === "number") {
      d = Tensor.from(rt, [seed], root.value.shape, "f32", `d(${root.name})`);
    } else {
      d = Tensor.empty(rt, root.value.shape, "f32", `d(${root.name})`);
      rt.copyBuffer(seed.buffer, 0, d.buffer, 0, 4);
    }
    await root.accumulate(d);
    for (let i = this.nodes.length - 1; i >= 0; i--) await this.nodes[i].backward();
  }

  /** Free every intermediate value, saved tensor and intermediate gradient. */
  dispose(): void {
    for (const v of this.vars) {
      v.value.dispose();
      v.grad?.dispose();
    }
    for (const t of this.owned) t.dispose();
    this.vars = [];
    this.owned = [];
    this.nodes = [];
  }
}
