// The eager executor: ops record dispatches here; nothing reaches the GPU until flush() (or a read),
// because every submit+await costs ~11 ms in Deno. Uniforms go into a per-flush arena, released
// buffers are recycled only after the submit that last used them.

import { Tuning } from "./tuning.ts";
import { type Gpu, requestGpu } from "./device.ts";
import { BufferPool } from "./buffer-pool.ts";
import { PipelineCache, type Spec } from "./kernels.ts";
import { type KernelTiming, Profiler } from "./profiler.ts";
import { type RowFormat, TexturePool } from "./texture-pool.ts";
import type { CaptureScope } from "./buffer-pool.ts";
import { type Command, type DynamicUniform, Plan } from "./plan.ts";
import { BindingLimitError, GpuError } from "./errors.ts";
import { type Binding, UniformArena } from "./uniform-arena.ts";

export type { Binding };

interface Capture {
  commands: Command[];
  arena: UniformArena;
  dynamic: DynamicUniform[];
  scope: CaptureScope;
  textures: { owned: GPUTexture[]; free: Map<string, GPUTexture[]> };
  eagerUniforms: UniformArena;
}

export interface DispatchOptions {
  label?: string;
}

export class Runtime {
  readonly pipelines: PipelineCache;
  readonly pool: BufferPool;
  readonly textures: TexturePool;
  /** kernel choices measured on this adapter (lib/gpu/tuning.ts); empty until loaded or tuned */
  readonly tuning: Tuning = new Tuning();
  private uniforms: UniformArena;
  private encoder?: GPUCommandEncoder;
  private pass?: GPUComputePassEncoder;
  private profiler?: Profiler;
  private capture?: Capture;
  /** dispatches recorded since this Runtime was made */
  dispatches = 0;
  submits = 0;
  /** label of the last dispatch recorded: where an unscoped error is reported from */
  private lastOp?: string;
  /** the op behind each entry of gpu.errors that an error scope caught */
  private errorOps = new Map<number, string>();
  /** entries of gpu.errors already thrown as a GpuError */
  private reportedErrors = 0;

  constructor(readonly gpu: Gpu) {
    this.pipelines = new PipelineCache(gpu.device);
    this.pool = new BufferPool(gpu.device, gpu.limits.maxBufferSize);
    this.textures = new TexturePool(gpu.device);
    this.uniforms = new UniformArena(gpu.device, gpu.limits.minUniformBufferOffsetAlignment);
  }

  get device(): GPUDevice {
    return this.gpu.device;
  }

  pipeline(file: string, entry: string, spec: Spec = {}): Promise<GPUComputePipeline> {
    return this.pipelines.pipeline(file, entry, spec);
  }

  uniform(data: ArrayBuffer | ArrayBufferView): Binding {
    return this.uniforms.slot(data);
  }

  /**
   * A uniform whose bytes a compiled plan recomputes before every run (values that change per step,
   * such as the learning rate); in eager mode the same as uniform(produce()).
   */
  uniformFrom(produce: () => ArrayBuffer): Binding {
    const slot = this.uniforms.slot(produce()) as { buffer: GPUBuffer; offset: number };
    this.capture?.dynamic.push({ slot, produce });
    return slot;
  }

  /**
   * Start recording everything the runtime executes into a plan. The recorded work also runs now
   * (this is an ordinary eager step). Buffers the step allocates come from the plan's own lists and
   * are reused by liveness; free the step's intermediates before endCapture().
   */
  beginCapture(): void {
    if (this.capture) throw new Error("vifi: a capture is already in progress");
    this.flush();
    if (this.profiler) throw new Error("vifi: turn profiling off before capturing a plan");
    const scope: CaptureScope = {
      owned: new Set(),
      free: new Map(),
      released: new Set(),
      pinned: new Set(),
      adopted: new Set(),
      fresh: new Set(),
    };
    const textures = { owned: [] as GPUTexture[], free: new Map<string, GPUTexture[]>() };
    const arena = new UniformArena(this.device, this.gpu.limits.minUniformBufferOffsetAlignment, true);
    this.capture = { commands: [], arena, dynamic: [], scope, textures, eagerUniforms: this.uniforms };
    this.uniforms = arena;
    this.pool.scope = scope;
    this.textures.scope = textures;
  }

  /** Stop recording; the plan owns the step's intermediates, constants and uniforms. */
  endCapture(): Plan {
    const c = this.capture;
    if (!c) throw new Error("vifi: endCapture without beginCapture");
    this.flush();
    this.capture = undefined;
    this.uniforms = c.eagerUniforms;
    this.pool.scope = undefined;
    this.textures.scope = undefined;
    // Buffers the step released (or pinned, or adopted) belong to the plan; ones still alive belong
    // to their tensors (parameter gradients, optimizer moments made during the step).
    const held = new Set<GPUBuffer>([...c.scope.released, ...c.scope.adopted]);
    for (const b of c.scope.pinned) if (c.scope.released.has(b)) held.add(b);
    return new Plan(
      this.device,
      this.pool,
      c.commands,
      c.arena,
      c.dynamic,
      held,
      c.textures.owned,
      this.gpu.features.timestamps,
      () => this.flush(),
    );
  }

  /** Copy bytes between buffers, in order with the dispatches. */
  copyBuffer(src: GPUBuffer, srcOffset: number, dst: GPUBuffer, dstOffset: number, size: number): void {
    this.copyEncoder().copyBufferToBuffer(src, srcOffset, dst, dstOffset, size);
    this.capture?.commands.push({ k: "copy", src, srcOffset, dst, dstOffset, size });
  }

  /** Zero bytes of a buffer, in order with the dispatches. */
  clear(buffer: GPUBuffer, offset = 0, size = buffer.size - offset): void {
    this.copyEncoder().clearBuffer(buffer, offset, size);
    this.capture?.commands.push({ k: "clear", buffer, offset, size });
  }

  /**
   * Write CPU data into a buffer, ordered after everything recorded so far: queue writes overtake
   * commands that are recorded but not submitted, so those are submitted first (a clear recorded by
   * Tensor.zeros would otherwise wipe the data afterwards). During a capture the buffer becomes a
   * constant of the plan and is never reused.
   */
  write(buffer: GPUBuffer, data: ArrayBufferView, offset = 0): void {
    const scope = this.capture?.scope;
    if (scope && scope.owned.has(buffer) && !scope.fresh.has(buffer)) {
      throw new Error("vifi: a CPU write into a buffer the captured step already used would land too early");
    }
    if (this.encoder && !scope?.fresh.has(buffer)) this.flush();
    writePadded(this.device.queue, buffer, data, offset);
    scope?.pinned.add(buffer);
  }

  /** Turn per-dispatch timestamp profiling on (no-op without `timestamp-query`). */
  enableProfiling(pairs = 2048): boolean {
    if (!this.gpu.features.timestamps) return false;
    this.flush();
    this.profiler ??= new Profiler(this.device, pairs);
    return true;
  }

  /** Device time of each profiled dispatch since the last call. */
  async timings(): Promise<KernelTiming[]> {
    if (!this.profiler) return [];
    this.flush();
    const timings = await this.profiler.collect();
    this.checkErrors();
    return timings;
  }

  private encoderNow(): GPUCommandEncoder {
    return this.encoder ??= this.device.createCommandEncoder();
  }

  /**
   * Record one dispatch. `bindings[i]` is bound at @binding(i) of group 0; holes (undefined) are
   * bindings the entry point does not use (auto layouts drop them).
   */
  dispatch(
    pipeline: GPUComputePipeline,
    bindings: (Binding | undefined)[],
    workgroups: readonly [number, number?, number?],
    opts: DispatchOptions = {},
  ): void {
    const [x, y = 1, z = 1] = workgroups;
    const maxWg = this.gpu.limits.maxComputeWorkgroupsPerDimension;
    if (x > maxWg || y > maxWg || z > maxWg) {
      throw new Error(
        `vifi: ${opts.label ?? pipeline.label}: grid ${x}×${y}×${z} exceeds ${maxWg} per dimension`,
      );
    }
    if (x === 0 || y === 0 || z === 0) return;
    const label = opts.label ?? pipeline.label;
    const maxBinding = this.gpu.limits.maxStorageBufferBindingSize;
    const entries: GPUBindGroupEntry[] = [];
    bindings.forEach((b, binding) => {
      if (!b) return;
      const gen = this.uniforms.issued.get(b);
      if (gen !== undefined && gen !== this.uniforms.generation) {
        // A flush (a CPU write or read) between rt.uniform() and this dispatch recycled the slot.
        throw new Error(
          `vifi: ${opts.label ?? pipeline.label}: uniform slot made before a flush; make it after`,
        );
      }
      const bytes = bindingBytes(b);
      if (bytes > maxBinding) throw new BindingLimitError(label, binding, bytes, maxBinding);
      const resource = b instanceof GPUBuffer ? { buffer: b } : b;
      entries.push({ binding, resource });
    });
    const bindGroup = this.scoped(
      label,
      () => this.device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries }),
    );
    // the buffers go with the recorded command: a plan split into pieces needs to know what each uses
    this.capture?.commands.push({
      k: "dispatch",
      pipeline,
      bindGroup,
      x,
      y,
      z,
      buffers: boundBuffers(bindings),
    });
    this.lastOp = label;
    const writes = this.profiler?.passWrites(label);
    if (writes) {
      this.endPass();
      const pass = this.encoderNow().beginComputePass({ timestampWrites: writes });
      pass.setPipeline(pipeline);
      pass.setBindGroup(0, bindGroup);
      pass.dispatchWorkgroups(x, y, z);
      pass.end();
    } else {
      this.pass ??= this.encoderNow().beginComputePass();
      this.pass.setPipeline(pipeline);
      this.pass.setBindGroup(0, bindGroup);
      this.pass.dispatchWorkgroups(x, y, z);
    }
    this.dispatches++;
  }

  private endPass(): void {
    this.pass?.end();
    this.pass = undefined;
  }

  /**
   * Encoder for copies between dispatches (ends the open compute pass). Private: copies must go
   * through copyBuffer/clear so that a capture records them.
   */
  private copyEncoder(): GPUCommandEncoder {
    this.endPass();
    return this.encoderNow();
  }

  /** Submit everything recorded. Cheap when nothing is pending. */
  flush(): void {
    this.endPass();
    this.uniforms.upload(this.device.queue);
    const encoder = this.encoder;
    if (encoder) {
      this.encoder = undefined;
      // Encoder-level validation (a dispatch the pass rejected) surfaces at finish/submit.
      this.scoped(`the submit ending with ${this.lastOp ?? "no dispatch"}`, () => {
        this.device.queue.submit([encoder.finish()]);
      });
      this.submits++;
    }
    this.pool.recycle();
    this.textures.recycle();
  }

  /**
   * A texture holding rows firstRow.. of `rowLength` elements of `buffer` (4 per texel), or only their
   * `columns` [c0, c1) (multiples of 4), copied in order with the dispatches. Undefined when the copy's alignment rules (bytes per row a multiple of 256)
   * or the texture size limit are not met. Release the texture after recording its last reader.
   */
  rowsTexture(
    buffer: GPUBuffer,
    rowLength: number,
    firstRow: number,
    rows: number,
    format: RowFormat,
    columns: [number, number] = [0, rowLength],
  ): { view: GPUTextureView; texture: GPUTexture } | undefined {
    const bytes = format === "rgba32float" ? 4 : 2;
    const bytesPerRow = rowLength * bytes;
    const maxDim = this.device.limits.maxTextureDimension2D;
    // only columns [c0, c1) of each row are copied (per-head views of a packed projection read part of
    // each row); the texture's texel x = (column − c0) / 4
    const [c0, c1] = columns;
    const width = (c1 - c0) / 4;
    if (rowLength % 4 || bytesPerRow % 256 || rows > maxDim || width > maxDim || rows < 1) return undefined;
    if (c0 % 4 || c1 % 4 || c0 < 0 || c1 > rowLength || width < 1) return undefined;
    const offset = firstRow * bytesPerRow + c0 * bytes;
    if (offset + bytesPerRow * (rows - 1) + width * 4 * bytes > buffer.size) return undefined;
    const texture = this.textures.acquire(width, rows, format);
    this.copyEncoder().copyBufferToTexture(
      { buffer, offset, bytesPerRow, rowsPerImage: rows },
      { texture },
      [width, rows],
    );
    this.capture?.commands.push({
      k: "texture",
      src: buffer,
      offset,
      bytesPerRow,
      rows,
      width,
      texture,
    });
    return { view: texture.createView(), texture };
  }

  /** Copy `byteLength` bytes of a buffer back to the CPU (flushes; one await). */
  async read(buffer: GPUBuffer, byteOffset = 0, byteLength = buffer.size - byteOffset): Promise<ArrayBuffer> {
    const size = Math.ceil(byteLength / 4) * 4;
    const staging = this.device.createBuffer({
      size,
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
    });
    this.copyEncoder().copyBufferToBuffer(buffer, byteOffset, staging, 0, size);
    this.flush();
    try {
      await staging.mapAsync(GPUMapMode.READ);
    } catch (e) {
      // A device lost or an invalid copy rejects the map: report the error that caused it first.
      this.checkErrors();
      throw e;
    }
    const out = staging.getMappedRange().slice(0, byteLength);
    staging.unmap();
    staging.destroy();
    this.checkErrors();
    return out;
  }

  /** Wait until the GPU has finished everything submitted (flushes first), then check for errors. */
  async sync(): Promise<void> {
    this.flush();
    await this.device.queue.onSubmittedWorkDone();
    this.checkErrors();
  }

  /**
   * Throw a GpuError for the first WebGPU error not reported yet, naming the op that caused it. The
   * errors arrive asynchronously, so this sees everything recorded before the last await; read() and
   * sync() call it, so a result computed after an invalid dispatch never reaches the caller.
   */
  checkErrors(): void {
    const errors = this.gpu.errors;
    if (errors.length <= this.reportedErrors) return;
    const first = this.reportedErrors;
    this.reportedErrors = errors.length;
    const op = this.errorOps.get(first) ?? (this.lastOp && `an op recorded up to ${this.lastOp}`);
    throw new GpuError(op, errors[first], errors.length - first);
  }

  /** Run `make` inside validation and out-of-memory error scopes; an error is filed under `op`. */
  private scoped<T>(op: string, make: () => T): T {
    const device = this.device;
    device.pushErrorScope("validation");
    device.pushErrorScope("out-of-memory");
    try {
      return make();
    } finally {
      const record = (e: GPUError | null) => {
        if (!e) return;
        this.errorOps.set(this.gpu.errors.length, op);
        this.gpu.errors.push(e.message);
      };
      device.popErrorScope().then(record, () => {});
      device.popErrorScope().then(record, () => {});
    }
  }

  /** A buffer from the pool holding `data`. */
  upload(data: ArrayBufferView, label?: string): GPUBuffer {
    const buf = this.pool.acquire(data.byteLength, label, true);
    this.write(buf, data);
    return buf;
  }
}

/** The buffers of a dispatch's bindings (its uniform slots' too; not textures). */
function boundBuffers(bindings: (Binding | undefined)[]): GPUBuffer[] {
  const out: GPUBuffer[] = [];
  for (const b of bindings) {
    if (b instanceof GPUBuffer) out.push(b);
    else if (b && !(b instanceof GPUTextureView)) out.push(b.buffer);
  }
  return out;
}

/** Bytes a binding exposes to the shader (a whole buffer, or its offset/size window). */
function bindingBytes(b: Binding): number {
  if (b instanceof GPUBuffer) return b.size;
  if (b instanceof GPUTextureView) return 0;
  return b.size ?? b.buffer.size - (b.offset ?? 0);
}

/** queue.writeBuffer needs a multiple of 4 bytes; odd-length f16 data is padded with a zero. */
export function writePadded(queue: GPUQueue, buf: GPUBuffer, data: ArrayBufferView, offset = 0): void {
  const bytes = new Uint8Array(data.buffer as ArrayBuffer, data.byteOffset, data.byteLength);
  if (bytes.byteLength % 4 === 0) {
    queue.writeBuffer(buf, offset, bytes);
  } else {
    const padded = new Uint8Array(Math.ceil(bytes.byteLength / 4) * 4);
    padded.set(bytes);
    queue.writeBuffer(buf, offset, padded);
  }
}

let shared: Promise<Runtime> | undefined;

/**
 * The process-wide runtime on the process-wide GPU, with this adapter's tuned kernel choices loaded
 * (lib/gpu/tuning.ts; VIFI_TUNING=off leaves them to the heuristics).
 */
export function getRuntime(): Promise<Runtime> {
  shared ??= requestGpu().then(async (gpu) => {
    const rt = new Runtime(gpu);
    await loadTuningCache(rt);
    return rt;
  }).catch((e) => {
    shared = undefined;
    throw e;
  });
  return shared;
}

/**
 * Under Deno, read this adapter's tuning cache into `rt.tuning` (tuning-cache.ts: VIFI_TUNING=off skips
 * it, a corrupt or stale file is ignored with a warning); in a browser nothing is loaded. The module is
 * imported by a URL the bundler does not follow, so browser bundles stay free of file I/O.
 */
async function loadTuningCache(rt: Runtime): Promise<void> {
  if (typeof Deno === "undefined") return;
  let mod: { loadTuning(rt: Runtime): Promise<unknown> };
  try {
    mod = await import(new URL("./tuning-cache.ts", import.meta.url).href);
  } catch (e) {
    console.warn(`vifi: tuning cache not loaded: ${e instanceof Error ? e.message.split("\n")[0] : e}`);
    return;
  }
  await mod.loadTuning(rt);
}
