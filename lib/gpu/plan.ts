// A compiled step: the GPU commands one eager run recorded (dispatches with their prepared
// pipelines and bind groups, copies, clears), the uniforms they read, and the buffers they touched,
// assigned by liveness during the recording. run() re-encodes the list into one command buffer and
// submits it: no JavaScript op code, no pipeline lookups, no bind-group creation, no allocation.

import type { BufferPool } from "./buffer-pool.ts";
import type { UniformArena } from "./uniform-arena.ts";

export type Command =
  | { k: "dispatch"; pipeline: GPUComputePipeline; bindGroup: GPUBindGroup; x: number; y: number; z: number }
  | { k: "copy"; src: GPUBuffer; srcOffset: number; dst: GPUBuffer; dstOffset: number; size: number }
  | { k: "clear"; buffer: GPUBuffer; offset: number; size: number }
  | {
    k: "texture";
    src: GPUBuffer;
    offset: number;
    bytesPerRow: number;
    rows: number;
    width: number;
    texture: GPUTexture;
  };

/** A uniform slot whose bytes are recomputed before every run (learning rate, step count). */
export interface DynamicUniform {
  slot: { buffer: GPUBuffer; offset: number };
  produce: () => ArrayBuffer;
}

export interface PlanStats {
  dispatches: number;
  commands: number;
  /** CPU time of the last run(): writing dynamic uniforms, encoding, submitting */
  hostMs: number;
  /** bytes of the buffers and textures the plan holds (its activations and scratch) */
  planBytes: number;
}

export class Plan {
  private querySet?: GPUQuerySet;
  private resolveBuf?: GPUBuffer;
  private readBuf?: GPUBuffer;
  hostMs = 0;
  runs = 0;

  constructor(
    private device: GPUDevice,
    private pool: BufferPool,
    readonly commands: Command[],
    private uniforms: UniformArena,
    private dynamic: DynamicUniform[],
    private buffers: Set<GPUBuffer>,
    private textures: GPUTexture[],
    timestamps: boolean,
    /** submits the eager work recorded before run() (the runtime's flush), so it runs first */
    private submitPending: () => void = () => {},
  ) {
    if (timestamps) {
      this.querySet = device.createQuerySet({ type: "timestamp", count: 2 });
      this.resolveBuf = device.createBuffer({
        size: 256,
        usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC,
      });
      this.readBuf = device.createBuffer({
        size: 16,
        usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
      });
    }
  }

  get dispatches(): number {
    return this.commands.filter((c) => c.k === "dispatch").length;
  }

  stats(): PlanStats {
    let planBytes = 0;
    for (const b of this.buffers) planBytes += this.pool.sizeOf(b);
    for (const t of this.textures) planBytes += t.width * t.height * (t.format === "rgba32float" ? 16 : 8);
    return { dispatches: this.dispatches, commands: this.commands.length, hostMs: this.hostMs, planBytes };
  }

  /** Encode and submit the whole step (one command buffer). Returns without waiting for the GPU. */
  run(): void {
    // eager copies and dispatches recorded before this run are still in the runtime's open encoder; the
    // plan's own submit would overtake them, so a plan would read what its inputs held before them
    this.submitPending();
    const t0 = performance.now();
    for (const d of this.dynamic) this.uniforms.rewrite(this.device.queue, d.slot, d.produce());
    const enc = this.device.createCommandEncoder();
    const lastPass = this.lastDispatchRun();
    let pass: GPUComputePassEncoder | undefined;
    let passIndex = 0;
    let first = true;
    for (let i = 0; i < this.commands.length; i++) {
      const c = this.commands[i];
      if (c.k === "dispatch") {
        if (!pass) {
          const writes: GPUComputePassTimestampWrites | undefined = this.querySet
            ? {
              querySet: this.querySet,
              beginningOfPassWriteIndex: first ? 0 : undefined,
              endOfPassWriteIndex: passIndex === lastPass ? 1 : undefined,
            }
            : undefined;
          const useWrites = writes && (writes.beginningOfPassWriteIndex !== undefined ||
            writes.endOfPassWriteIndex !== undefined);
          pass = enc.beginComputePass(useWrites ? { timestampWrites: writes } : {});
          first = false;
        }
        pass.setPipeline(c.pipeline);
        pass.setBindGroup(0, c.bindGroup);
        pass.dispatchWorkgroups(c.x, c.y, c.z);
        continue;
      }
      if (pass) {
        pass.end();
        pass = undefined;
        passIndex++;
      }
      if (c.k === "copy") enc.copyBufferToBuffer(c.src, c.srcOffset, c.dst, c.dstOffset, c.size);
      else if (c.k === "clear") enc.clearBuffer(c.buffer, c.offset, c.size);
      else {
        enc.copyBufferToTexture(
          { buffer: c.src, offset: c.offset, bytesPerRow: c.bytesPerRow, rowsPerImage: c.rows },
          { texture: c.texture },
          [c.width, c.rows],
        );
      }
    }
    pass?.end();
    if (this.querySet) enc.resolveQuerySet(this.querySet, 0, 2, this.resolveBuf!, 0);
    this.device.queue.submit([enc.finish()]);
    this.hostMs = performance.now() - t0;
    this.runs++;
  }

  /** Index of the last compute pass run() opens (passes are split by copies and clears). */
  private lastDispatchRun(): number {
    let passes = 0;
    let open = false;
    for (const c of this.commands) {
      if (c.k === "dispatch") open = true;
      else if (open) {
        passes++;
        open = false;
      }
    }
    return open ? passes : passes - 1;
  }

  /** GPU time of the last run, first dispatch to last (includes copies between them); one await. */
  async deviceMs(): Promise<number | null> {
    if (!this.querySet || this.runs === 0) return null;
    const enc = this.device.createCommandEncoder();
    enc.copyBufferToBuffer(this.resolveBuf!, 0, this.readBuf!, 0, 16);
    this.device.queue.submit([enc.finish()]);
    await this.readBuf!.mapAsync(GPUMapMode.READ);
    const t = new BigUint64Array(this.readBuf!.getMappedRange().slice(0));
    this.readBuf!.unmap();
    return Number(t[1] - t[0]) / 1e6;
  }

  dispose(): void {
    this.pool.returnBuffers(this.buffers);
    this.buffers.clear();
    for (const t of this.textures) t.destroy();
    this.textures = [];
    this.uniforms.destroy();
    this.querySet?.destroy();
    this.resolveBuf?.destroy();
    this.readBuf?.destroy();
  }
}
