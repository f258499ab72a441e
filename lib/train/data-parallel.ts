// Data-parallel training over a World (lib/dist/mpi.ts): every rank starts from rank 0's weights, computes
// the gradients of its own shard of the batch with the compiled step, and before each optimizer update
// the gradients are averaged over the ranks, so every rank applies the same AdamW update to the same
// parameters. In a world of one both are no-ops and nothing is copied.

import type { Param } from "../autograd/tape.ts";
import type { World } from "../dist/mpi.ts";
import type { Runtime } from "../gpu/runtime.ts";
import type { Weights } from "../models/config.ts";
import { Tensor } from "../tensor/tensor.ts";

/**
 * Overwrite `weights` on every rank with rank 0's, in place, in one broadcast. The names and shapes are
 * compared first: ranks that built different models fail here, naming the first difference, instead of
 * training on misaligned bytes.
 */
export async function broadcastWeights(world: World, weights: Weights): Promise<void> {
  if (!world.distributed) return;
  const names = [...weights.keys()].sort();
  const layout = new TextEncoder().encode(
    names.map((n) => `${n}:${weights.get(n)!.shape.join("x")}`).join("\n"),
  );
  const theirs = Float64Array.of(layout.length);
  await world.broadcast(theirs);
  const rootLayout = new Uint8Array(theirs[0]);
  if (world.rank === 0) rootLayout.set(layout);
  await world.broadcast(rootLayout);
  const root = new TextDecoder().decode(rootLayout);
  const mine = new TextDecoder().decode(layout);
  // every rank has rank 0's layout now, so every rank decides the same and none is left waiting
  if (root !== mine) {
    const a = root.split("\n"), b = mine.split("\n");
    const i = a.findIndex((x, k) => x !== b[k]);
    throw new Error(
      `vifi: data-parallel: rank ${world.rank}'s weights differ from rank 0's: ${b[i] ?? "(none)"} here, ` +
        `${a[i] ?? "(none)"} on rank 0`,
    );
  }
  let total = 0;
  for (const n of names) total += weights.get(n)!.data.length;
  const flat = new Float32Array(total);
  let o = 0;
  for (const n of names) {
    const d = weights.get(n)!.data;
    flat.set(d, o);
    o += d.length;
  }
  await world.broadcast(flat);
  o = 0;
  for (const n of names) {
    const d = weights.get(n)!.data;
    d.set(flat.subarray(o, o + d.length));
    o += d.length;
  }
}

/**
 * The gradients of `params` averaged over the world, in place on the device: copied into one device
 * buffer, read back in one transfer, summed over the ranks, divided by the world size, written back
 * in one transfer and copied into each gradient. Under mixed precision the scaled gradients travel: a
 * rank's overflow (±∞, NaN) makes the sum non-finite on every rank, so every rank's loss scaler skips
 * the same update.
 */
export class GradientAverager {
  private flat?: Tensor;
  private staging?: GPUBuffer;
  private host?: Float32Array;
  private readonly layout: { param: Param; offset: number; length: number }[] = [];
  readonly length: number;

  constructor(private readonly rt: Runtime, params: Param[], private readonly world: World) {
    let offset = 0;
    for (const param of params) {
      if (!param.trainable) continue;
      const length = param.value.shape.reduce((a, b) => a * b, 1);
      this.layout.push({ param, offset, length });
      offset += length;
    }
    this.length = offset;
  }

  /** Average the gradients over the ranks (one device→host and one host→device transfer). */
  async average(): Promise<void> {
    if (!this.world.distributed || this.length === 0) return;
    this.flat ??= Tensor.empty(this.rt, [this.length], "f32", "gradients (all-reduce)");
    const flat = this.flat.buffer;
    for (const { param, offset, length } of this.layout) {
      this.rt.copyBuffer(param.gradBuffer().buffer, 0, flat, offset * 4, length * 4);
    }
    const host = await this.download(flat);
    await this.world.allreduceSum(host);
    const inv = 1 / this.world.size;
    for (let i = 0; i < host.length; i++) host[i] *= inv;
    this.rt.write(flat, host);
    for (const { param, offset, length } of this.layout) {
      this.rt.copyBuffer(flat, offset * 4, param.gradBuffer().buffer, 0, length * 4);
    }
    // A compiled plan submits its own command buffer: these copies must be submitted before it.
    this.rt.flush();
  }

  /**
   * The flat gradients on the host, through a staging buffer kept across steps (Runtime.read makes
   * and destroys one per call: 600 MB of mappable memory each step for ViT-B/16). On lavapipe the
   * copy itself dominates (2.6–6 s for 600 MB, as long as Runtime.read), so there it gains nothing.
   */
  private async download(flat: GPUBuffer): Promise<Float32Array> {
    const bytes = this.length * 4;
    this.staging ??= this.rt.device.createBuffer({
      size: bytes,
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
      label: "gradients (all-reduce staging)",
    });
    this.host ??= new Float32Array(this.length);
    this.rt.copyBuffer(flat, 0, this.staging, 0, bytes);
    this.rt.flush();
    try {
      await this.staging.mapAsync(GPUMapMode.READ);
    } catch (e) {
      this.rt.checkErrors(); // the error that made the map fail, named, before the map's own
      throw e;
    }
    this.host.set(new Float32Array(this.staging.getMappedRange(0, bytes)));
    this.staging.unmap();
    this.rt.checkErrors();
    return this.host;
  }

  dispose(): void {
    this.flat?.dispose();
    this.flat = undefined;
    this.staging?.destroy();
    this.staging = undefined;
    this.host = undefined;
  }
}
