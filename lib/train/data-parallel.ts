// Data-parallel training over a World (lib/dist/mpi.ts): every rank starts from rank 0's weights, computes
// the gradients of its own shard of the batch with the compiled step, and before each optimizer update
// the gradients are averaged over the ranks, so every rank applies the same AdamW update to the same
// parameters. In a world of one both are no-ops and nothing is copied.
//
// The average can overlap the backward (averageDuring): the compiled gradients plan is submitted in
// pieces, and after each piece the buckets of gradients it made final are read back and their
// all-reduce started, while the GPU goes on with the next piece.

import type { Param } from "../autograd/tape.ts";
import type { World } from "../dist/mpi.ts";
import { readEnv } from "../io/env.ts";
import type { Plan } from "../gpu/plan.ts";
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

/** Gradients per bucket of the overlapped exchange (PyTorch DDP's default bucket is 25 MiB too). */
const BUCKET_BYTES = 25 << 20;

export interface AveragerOptions {
  /**
   * Overlap the exchange with the backward when averageDuring() is given the gradients plan; default
   * VIFI_DP_OVERLAP (0 or 1), else on.
   */
  overlap?: boolean;
  /** bytes of gradients per bucket of the overlapped exchange (default 25 MiB; one tensor may exceed it) */
  bucketBytes?: number;
}

/** VIFI_DP_OVERLAP: 1 overlaps the gradient exchange with the backward, 0 averages after it. */
export function overlapFromEnv(fallback = true): boolean {
  const v = readEnv("VIFI_DP_OVERLAP");
  if (v === undefined || v === "") return fallback;
  if (v === "0" || v === "1") return v === "1";
  throw new Error(`vifi: data-parallel: VIFI_DP_OVERLAP=${JSON.stringify(v)} is not 0 or 1`);
}

/** Gradients that the same piece of the plan makes final, exchanged together. */
interface Bucket {
  /** each gradient's buffer and its place in the bucket (floats) */
  grads: { buffer: GPUBuffer; offset: number; length: number }[];
  length: number;
  /** one past the last command of the plan that uses any of them: the plan is split there */
  split: number;
  staging: GPUBuffer;
  host: Float32Array;
}

/** The buckets of one plan, and the plan's split points with the buckets each one ends. */
interface Exchange {
  plan: Plan;
  buckets: Bucket[];
  at: number[];
  ending: Bucket[][];
}

/**
 * The gradients of `params` averaged over the world, in place on the device.
 *
 * average(), after the backward: copied into one device buffer, read back in one transfer, summed
 * over the ranks, divided by the world size, written back in one transfer and copied into each
 * gradient.
 *
 * averageDuring(plan), with it: the gradients are grouped in buckets of about 25 MiB in the order
 * rank 0's plan makes them final (the last command that uses each); the plan is submitted in pieces,
 * each followed by a copy of the buckets it made final to their own staging buffers and a request to
 * map them. The maps resolve in queue order while the GPU runs the later pieces (Deno 2.9: a map
 * resolves with its own submission, measured), and each bucket's all-reduce (a non-blocking FFI call
 * on another thread) starts as soon as it is read, so the exchange of the last layers' gradients runs
 * while the GPU computes the first layers'. Each bucket, once summed, is scaled and written straight
 * into its gradients (nothing later in the plan uses them). On lavapipe a submit waits for the one
 * before it to finish (measured), so there the pieces barely overlap anything.
 *
 * Under mixed precision the scaled gradients travel: a rank's overflow (±∞, NaN) makes the sum
 * non-finite on every rank, so every rank's loss scaler skips the same update.
 */
export class GradientAverager {
  private flat?: Tensor;
  private staging?: GPUBuffer;
  private host?: Float32Array;
  private exchange?: Exchange;
  private readonly layout: { param: Param; offset: number; length: number }[] = [];
  readonly length: number;
  /** whether averageDuring() overlaps (else it runs the plan, then average()) */
  readonly overlap: boolean;
  private readonly bucketBytes: number;

  constructor(
    private readonly rt: Runtime,
    params: Param[],
    private readonly world: World,
    opts: AveragerOptions = {},
  ) {
    let offset = 0;
    for (const param of params) {
      if (!param.trainable) continue;
      const length = param.value.shape.reduce((a, b) => a * b, 1);
      this.layout.push({ param, offset, length });
      offset += length;
    }
    this.length = offset;
    this.overlap = opts.overlap ?? overlapFromEnv();
    this.bucketBytes = opts.bucketBytes ?? BUCKET_BYTES;
    if (!(this.bucketBytes >= 4)) {
      throw new Error(`vifi: data-parallel: bucketBytes ${opts.bucketBytes} is not a byte count ≥ 4`);
    }
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
   * Run `plan`, the compiled gradients step, and average the gradients it accumulates into: during it
   * when overlapping, after it otherwise. Resolves when every rank's gradients hold the average.
   */
  async averageDuring(plan: Plan): Promise<void> {
    if (!this.world.distributed || this.length === 0) return plan.run();
    if (!this.overlap) {
      plan.run();
      return await this.average();
    }
    const ex = await this.exchangeFor(plan);
    // every piece is submitted at once: a hook that waited for its bucket's read would idle the GPU
    const mapped: Promise<void>[] = [];
    plan.run({ at: ex.at, between: (i) => ex.ending[i].forEach((b) => mapped.push(this.copyOut(b))) });
    // the buckets are read in the order the queue runs them; each one's all-reduce starts once it is
    const inv = 1 / this.world.size;
    const reduced: Promise<void>[] = [];
    try {
      for (const [k, b] of ex.buckets.entries()) {
        await mapped[k];
        b.host.set(new Float32Array(b.staging.getMappedRange(0, b.length * 4)));
        b.staging.unmap();
        const r = this.world.allreduceSum(b.host).then(() => {
          const h = b.host;
          for (let i = 0; i < h.length; i++) h[i] *= inv;
          // straight into the gradients: the plan's later pieces never touch them
          for (const g of b.grads) this.rt.write(g.buffer, h.subarray(g.offset, g.offset + g.length));
        });
        r.catch(() => {}); // awaited below; not an unhandled rejection meanwhile
        reduced.push(r);
      }
    } finally {
      // after a failed read: the reductions already started still end (or time out) on every rank,
      // and the buckets mapped meanwhile are unmapped for the next step
      await Promise.allSettled(reduced);
      for (let k = reduced.length; k < mapped.length; k++) {
        await mapped[k].then(() => ex.buckets[k].staging.unmap(), () => {});
      }
    }
    await Promise.all(reduced);
    this.rt.flush();
    this.rt.checkErrors();
  }

  /** How the last overlapped average went: its buckets, the plan's pieces and where they were cut. */
  get buckets(): { count: number; pieces: number; at: number[] } {
    const ex = this.exchange;
    return { count: ex?.buckets.length ?? 0, pieces: (ex?.at.length ?? 0) + 1, at: [...(ex?.at ?? [])] };
  }

  /** Copies bucket `b`, final now, to its staging buffer and asks for it to be mapped (not awaited). */
  private copyOut(b: Bucket): Promise<void> {
    for (const g of b.grads) this.rt.copyBuffer(g.buffer, 0, b.staging, g.offset * 4, g.length * 4);
    this.rt.flush();
    const mapped = this.mapRead(b.staging);
    mapped.catch(() => {}); // awaited in order by averageDuring
    return mapped;
  }

  /**
   * The buckets for `plan`, made on its first run (a new plan replaces them). Rank 0 decides what goes
   * in which bucket, in which order, and tells the others (one broadcast): a rank whose plan differs
   * (kernels tuned otherwise on its GPU) must still reduce the same gradients in the same calls. Each
   * rank splits its own plan where its own copy of a bucket is final.
   */
  private async exchangeFor(plan: Plan): Promise<Exchange> {
    if (this.exchange?.plan === plan) return this.exchange;
    this.disposeBuffers();
    const last = this.layout.map(({ param }) => plan.lastUse(param.gradBuffer().buffer));
    // [order…, bucket of each…]: the gradients in the order rank 0's plan makes them final (one the
    // plan never touches is final from the start), cut into buckets of at most bucketBytes
    const shared = new Float64Array(2 * this.layout.length);
    if (this.world.rank === 0) {
      const order = this.layout.map((_, i) => i).sort((a, b) => last[a] - last[b]);
      const maxFloats = Math.max(1, Math.floor(this.bucketBytes / 4));
      let bucket = 0, filled = 0;
      order.forEach((i, k) => {
        const n = this.layout[i].length;
        if (filled > 0 && filled + n > maxFloats) [bucket, filled] = [bucket + 1, 0];
        filled += n;
        shared[k] = i;
        shared[this.layout.length + k] = bucket;
      });
    }
    await this.world.broadcast(shared);
    const buckets: Bucket[] = [];
    let split = 0;
    for (let k = 0; k < this.layout.length; k++) {
      const id = shared[this.layout.length + k];
      if (!buckets[id]) {
        const b: Bucket = { grads: [], length: 0, split, staging: undefined!, host: undefined! };
        buckets.push(b);
      }
      const b = buckets[id];
      const { param, length } = this.layout[shared[k]];
      b.grads.push({ buffer: param.gradBuffer().buffer, offset: b.length, length });
      b.length += length;
      // never before the bucket ahead of it: the buckets are read and reduced in order
      split = b.split = Math.max(b.split, last[shared[k]] + 1);
    }
    for (const [i, b] of buckets.entries()) {
      b.staging = this.rt.device.createBuffer({
        size: b.length * 4,
        usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
        label: `gradients bucket ${i} (all-reduce staging)`,
      });
      b.host = new Float32Array(b.length);
    }
    const at: number[] = [];
    const ending: Bucket[][] = [];
    for (const b of buckets) {
      if (at.at(-1) !== b.split) {
        at.push(b.split);
        ending.push([]);
      }
      ending.at(-1)!.push(b);
    }
    this.exchange = { plan, buckets, at, ending };
    return this.exchange;
  }

  private async mapRead(staging: GPUBuffer): Promise<void> {
    try {
      await staging.mapAsync(GPUMapMode.READ);
    } catch (e) {
      this.rt.checkErrors(); // the error that made the map fail, named, before the map's own
      throw e;
    }
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
    await this.mapRead(this.staging);
    this.host.set(new Float32Array(this.staging.getMappedRange(0, bytes)));
    this.staging.unmap();
    this.rt.checkErrors();
    return this.host;
  }

  /** Frees every buffer of both ways (the next call makes what it needs again). */
  private disposeBuffers(): void {
    this.flat?.dispose();
    this.flat = undefined;
    this.staging?.destroy();
    this.staging = undefined;
    this.host = undefined;
    for (const b of this.exchange?.buckets ?? []) b.staging.destroy();
    this.exchange = undefined;
  }

  dispose(): void {
    this.disposeBuffers();
  }
}
