// The eager executor: ops record dispatches here; nothing reaches the GPU until flush() (or a read),
// because every submit+await costs ~11 ms in Deno. Uniforms go into a per-flush arena, released
// buffers are recycled only after the submit that last used them.

import { type Gpu, requestGpu } from "./device.ts";
import { BufferPool } from "./buffer-pool.ts";
import { PipelineCache, type Spec } from "./kernels.ts";
import { type KernelTiming, Profiler } from "./profiler.ts";
import { type RowFormat, TexturePool } from "./texture-pool.ts";

export type Binding = GPUBuffer | GPUTextureView | { buffer: GPUBuffer; offset?: number; size?: number };

const UNIFORM_CHUNK = 64 * 1024;

class UniformArena {
  private chunks: { buf: GPUBuffer; mirror: Uint8Array<ArrayBuffer>; used: number }[] = [];
  private current = 0;
  private align: number;

  constructor(private device: GPUDevice, minAlign: number) {
    this.align = Math.max(16, minAlign);
  }

  slot(data: ArrayBuffer | ArrayBufferView): Binding {
    const bytes = data instanceof ArrayBuffer
      ? new Uint8Array(data)
      : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    const size = Math.max(16, Math.ceil(bytes.byteLength / 16) * 16);
    if (size > UNIFORM_CHUNK) {
      throw new Error(`vifi: uniform block of ${bytes.byteLength} bytes is too large`);
    }
    let c = this.chunks[this.current];
    if (!c || Math.ceil(c.used / this.align) * this.align + size > UNIFORM_CHUNK) {
      if (c) this.current++;
      c = this.chunks[this.current];
      if (!c) {
        c = {
          buf: this.device.createBuffer({
            size: UNIFORM_CHUNK,
            usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
          }),
          mirror: new Uint8Array(UNIFORM_CHUNK),
          used: 0,
        };
        this.chunks.push(c);
      }
    }
    const offset = Math.ceil(c.used / this.align) * this.align;
    c.mirror.set(bytes, offset);
    c.used = offset + size;
    return { buffer: c.buf, offset, size };
  }

  /** Upload what was written; chunks are reusable once the submit that follows is queued. */
  upload(queue: GPUQueue): void {
    for (let i = 0; i <= this.current && i < this.chunks.length; i++) {
      const c = this.chunks[i];
      if (c.used) queue.writeBuffer(c.buf, 0, c.mirror, 0, c.used);
      c.used = 0;
    }
    this.current = 0;
  }
}

export interface DispatchOptions {
  label?: string;
}

export class Runtime {
  readonly pipelines: PipelineCache;
  readonly pool: BufferPool;
  readonly textures: TexturePool;
  private uniforms: UniformArena;
  private encoder?: GPUCommandEncoder;
  private pass?: GPUComputePassEncoder;
  private profiler?: Profiler;
  /** dispatches recorded since this Runtime was made */
  dispatches = 0;
  submits = 0;

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
    return await this.profiler.collect();
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
    const entries: GPUBindGroupEntry[] = [];
    bindings.forEach((b, binding) => {
      if (!b) return;
      const resource = b instanceof GPUBuffer ? { buffer: b } : b;
      entries.push({ binding, resource });
    });
    const bindGroup = this.device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries });
    const label = opts.label ?? pipeline.label;
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

  /** Encoder for copies between dispatches (ends the open compute pass). */
  copyEncoder(): GPUCommandEncoder {
    this.endPass();
    return this.encoderNow();
  }

  /** Submit everything recorded. Cheap when nothing is pending. */
  flush(): void {
    this.endPass();
    this.uniforms.upload(this.device.queue);
    if (this.encoder) {
      this.device.queue.submit([this.encoder.finish()]);
      this.encoder = undefined;
      this.submits++;
    }
    this.pool.recycle();
    this.textures.recycle();
  }

  /**
   * A texture holding rows firstRow.. of `rowLength` elements of `buffer` (4 per texel), copied in order
   * with the dispatches; released at the next flush. Undefined when the copy's alignment rules
   * (bytes per row a multiple of 256) or the texture size limit are not met.
   */
  rowsTexture(
    buffer: GPUBuffer,
    rowLength: number,
    firstRow: number,
    rows: number,
    format: RowFormat,
  ): GPUTextureView | undefined {
    const bytes = format === "rgba32float" ? 4 : 2;
    const bytesPerRow = rowLength * bytes;
    const maxDim = this.device.limits.maxTextureDimension2D;
    if (rowLength % 4 || bytesPerRow % 256 || rows > maxDim || rowLength / 4 > maxDim || rows < 1) {
      return undefined;
    }
    if (bytesPerRow * (firstRow + rows) > buffer.size) return undefined;
    const tex = this.textures.acquire(rowLength / 4, rows, format);
    this.copyEncoder().copyBufferToTexture(
      { buffer, offset: firstRow * bytesPerRow, bytesPerRow, rowsPerImage: rows },
      { texture: tex },
      [rowLength / 4, rows],
    );
    this.textures.release(tex);
    return tex.createView();
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
    await staging.mapAsync(GPUMapMode.READ);
    const out = staging.getMappedRange().slice(0, byteLength);
    staging.unmap();
    staging.destroy();
    return out;
  }

  /** Wait until the GPU has finished everything submitted (flushes first). */
  async sync(): Promise<void> {
    this.flush();
    await this.device.queue.onSubmittedWorkDone();
  }

  /** A buffer from the pool holding `data`. */
  upload(data: ArrayBufferView, label?: string): GPUBuffer {
    const buf = this.pool.acquire(data.byteLength, label);
    writePadded(this.device.queue, buf, data);
    return buf;
  }
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

/** The process-wide runtime on the process-wide GPU. */
export function getRuntime(): Promise<Runtime> {
  shared ??= requestGpu().then((gpu) => new Runtime(gpu)).catch((e) => {
    shared = undefined;
    throw e;
  });
  return shared;
}
