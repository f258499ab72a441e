// A compiled step: the GPU commands one eager run recorded (dispatches with their prepared
// pipelines and bind groups, copies, clears), the uniforms they read, and the buffers they touched,
// assigned by liveness during the recording. run() re-encodes the list into one command buffer and
// submits it: no JavaScript op code, no pipeline lookups, no bind-group creation, no allocation. Asked
// to, it submits the list in several pieces with a hook between them, so that work on results already
// final (a data-parallel step's first gradients) can start while the rest still runs.

import type { BufferPool } from "./buffer-pool.ts";
import type { UniformArena } from "./uniform-arena.ts";

export type Command =
  | {
    k: "dispatch";
    pipeline: GPUComputePipeline;
    bindGroup: GPUBindGroup;
    x: number;
    y: number;
    z: number;
    /** the buffers the bind group binds (a GPUBindGroup does not say): what lastUse() knows of */
    buffers?: readonly GPUBuffer[];
  }
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

/** Where run() splits the step into several submits, and what runs between them. */
export interface PlanSegments {
  /**
   * Command indices, strictly increasing, each in 0..commands.length: a submit ends before each, so
   * commands [at[i-1], at[i]) go in one command buffer (0 = before the first command).
   */
  at: readonly number[];
  /**
   * Called once the commands before at[i] are submitted (queued, maybe still running) and before the
   * next are encoded: work it submits runs after them and before the rest of the plan.
   */
  between: (i: number) => void;
}

export interface PlanStats {
  dispatches: number;
  commands: number;
  /** CPU time of the last run(): writing dynamic uniforms, encoding, submitting (not the hooks) */
  hostMs: number;
  /** bytes of the buffers and textures the plan holds (its activations and scratch) */
  planBytes: number;
}

export class Plan {
  private querySet?: GPUQuerySet;
  private resolveBuf?: GPUBuffer;
  private readBuf?: GPUBuffer;
  /** the last command index using each buffer, built on the first lastUse() */
  private uses?: Map<GPUBuffer, number>;
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

  /**
   * Encode and submit the whole step: one command buffer, or with `segments` one per piece and the
   * hook between them. Returns without waiting for the GPU.
   */
  run(segments?: PlanSegments): void {
    for (const i of this.submitPieces(segments?.at ?? [])) segments!.between(i);
  }

  /** Submits the commands in pieces ending before each split, yielding each split's index after its submit. */
  private *submitPieces(at: readonly number[]): Generator<number> {
    this.checkSplits(at);
    // eager copies and dispatches recorded before this run are still in the runtime's open encoder; the
    // plan's own submit would overtake them, so a plan would read what its inputs held before them
    this.submitPending();
    let t0 = performance.now();
    let hostMs = 0;
    for (const d of this.dynamic) this.uniforms.rewrite(this.device.queue, d.slot, d.produce());
    let enc = this.device.createCommandEncoder();
    const lastPassStart = this.lastPassStart(at);
    let pass: GPUComputePassEncoder | undefined;
    let first = true;
    let next = 0; // the next split
    for (let i = 0; i <= this.commands.length; i++) {
      while (next < at.length && at[next] === i) {
        pass?.end();
        pass = undefined;
        this.device.queue.submit([enc.finish()]);
        hostMs += performance.now() - t0;
        yield next++;
        t0 = performance.now();
        enc = this.device.createCommandEncoder();
      }
      if (i === this.commands.length) break;
      const c = this.commands[i];
      if (c.k === "dispatch") {
        if (!pass) {
          const writes: GPUComputePassTimestampWrites | undefined = this.querySet
            ? {
              querySet: this.querySet,
              beginningOfPassWriteIndex: first ? 0 : undefined,
              endOfPassWriteIndex: i === lastPassStart ? 1 : undefined,
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
      pass?.end();
      pass = undefined;
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
    this.hostMs = hostMs + performance.now() - t0;
    this.runs++;
  }

  /** Splits must be increasing command indices: a wrong one would run the hook at the wrong place. */
  private checkSplits(at: readonly number[]): void {
    for (let i = 0; i < at.length; i++) {
      const s = at[i];
      if (!Number.isInteger(s) || s < 0 || s > this.commands.length || (i > 0 && s <= at[i - 1])) {
        throw new Error(
          `vifi: plan segments: split ${i} at ${s} is not an increasing command index in ` +
            `0..${this.commands.length} (splits ${at.join(", ")})`,
        );
      }
    }
  }

  /**
   * The command the last compute pass of run() opens at (its end gets the closing timestamp): passes
   * are split by copies, clears and the segments' submits. -1 when the plan has no dispatch.
   */
  private lastPassStart(at: readonly number[]): number {
    let last = this.commands.length - 1;
    while (last >= 0 && this.commands[last].k !== "dispatch") last--;
    if (last < 0) return -1;
    let start = last;
    while (start > 0 && this.commands[start - 1].k === "dispatch") start--;
    for (const s of at) if (s > start && s <= last) start = s;
    return start;
  }

  /**
   * Index of the last command that reads or writes `buffer` (-1: none). Past it the plan leaves the
   * buffer alone, so a result read there is final. Every dispatch must carry its buffer list.
   */
  lastUse(buffer: GPUBuffer): number {
    if (!this.uses) {
      const uses = new Map<GPUBuffer, number>();
      this.commands.forEach((c, i) => {
        if (c.k === "dispatch") {
          if (!c.buffers) {
            throw new Error(`vifi: plan: dispatch ${i} was recorded without its buffers (lastUse)`);
          }
          for (const b of c.buffers) uses.set(b, i);
        } else if (c.k === "copy") {
          uses.set(c.src, i);
          uses.set(c.dst, i);
        } else if (c.k === "clear") uses.set(c.buffer, i);
        else uses.set(c.src, i);
      });
      this.uses = uses;
    }
    return this.uses.get(buffer) ?? -1;
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
