// Size-bucketed storage buffers. Training allocates the same shapes every step, so buffers come
// back to the pool and are handed out again instead of being created and destroyed per op.
//
// A released buffer may still be read by commands that are recorded but not yet submitted; if it
// were handed out and filled with queue.writeBuffer now, that write would land first. So releases
// wait in `pending` until the owner (the Runtime) has submitted, then become reusable.

export const STORAGE_USAGE = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;

/** Bucket sizes: powers of two up to 1 MiB, then 8 steps per power of two (waste ≤ 12.5 %). */
export function bucketSize(bytes: number): number {
  const b = Math.max(16, Math.ceil(bytes / 16) * 16);
  const pow = 2 ** Math.ceil(Math.log2(b));
  if (pow <= 1 << 20) return pow;
  const step = pow / 16;
  return Math.ceil(b / step) * step;
}

export interface PoolStats {
  /** bytes of every GPUBuffer the pool owns (in use, pending or free) */
  allocatedBytes: number;
  peakAllocatedBytes: number;
  inUseBytes: number;
  peakInUseBytes: number;
  buffersCreated: number;
  reuses: number;
}

/**
 * While a step is captured into a plan, buffers come from and go back to the plan's own lists:
 * a buffer released mid-step is reused by the very next acquire of its size (the plan replays in
 * the same order, so this is liveness-based reuse), and none of them leaks into eager use.
 */
export interface CaptureScope {
  owned: Set<GPUBuffer>;
  free: Map<number, GPUBuffer[]>;
  released: Set<GPUBuffer>;
  /** written by the CPU during capture (constants such as the backward seed): never reused */
  pinned: Set<GPUBuffer>;
  /** created before capture and released during it: the plan may still read them */
  adopted: Set<GPUBuffer>;
  /** acquired for a CPU write during capture (never a reused one) */
  fresh: Set<GPUBuffer>;
}

export class BufferPool {
  private free = new Map<number, GPUBuffer[]>();
  scope?: CaptureScope;
  private pending: GPUBuffer[] = [];
  private sizes = new WeakMap<GPUBuffer, number>();
  /** Fill every handed-out buffer with 0xFF bytes (NaN in f32 and f16) so kernels that skip an output show up. */
  poison = false;
  stats: PoolStats = {
    allocatedBytes: 0,
    peakAllocatedBytes: 0,
    inUseBytes: 0,
    peakInUseBytes: 0,
    buffersCreated: 0,
    reuses: 0,
  };

  constructor(private device: GPUDevice, private maxBufferSize: number) {}

  /**
   * A buffer of at least `bytes`. `forCpuWrite`: the caller fills it with queue.writeBuffer now; during
   * a capture such a buffer must not be one the step used earlier (the write would land before the
   * step's earlier commands run), so it is always fresh there.
   */
  acquire(bytes: number, label?: string, forCpuWrite = false): GPUBuffer {
    if (!(bytes >= 0) || !Number.isFinite(bytes)) throw new Error(`vifi: cannot allocate ${bytes} bytes`);
    const size = bucketSize(bytes);
    if (size > this.maxBufferSize) {
      throw new Error(
        `vifi: ${
          label ?? "buffer"
        } needs ${bytes} bytes but this adapter's maxBufferSize is ${this.maxBufferSize}`,
      );
    }
    let buf = this.scope
      ? (forCpuWrite ? undefined : this.scope.free.get(size)?.pop())
      : this.free.get(size)?.pop();
    if (buf) {
      this.scope?.released.delete(buf);
      this.stats.reuses++;
    } else {
      buf = this.device.createBuffer({ size, usage: STORAGE_USAGE, label });
      this.sizes.set(buf, size);
      this.stats.buffersCreated++;
      this.stats.allocatedBytes += size;
      this.stats.peakAllocatedBytes = Math.max(this.stats.peakAllocatedBytes, this.stats.allocatedBytes);
      this.scope?.owned.add(buf);
      if (forCpuWrite) this.scope?.fresh.add(buf);
    }
    this.stats.inUseBytes += size;
    this.stats.peakInUseBytes = Math.max(this.stats.peakInUseBytes, this.stats.inUseBytes);
    if (this.poison) this.device.queue.writeBuffer(buf, 0, new Uint8Array(size).fill(0xff));
    return buf;
  }

  /** Give a buffer back; it becomes reusable after the next `recycle()` (i.e. after a submit). */
  release(buf: GPUBuffer): void {
    const size = this.sizes.get(buf);
    if (size === undefined) throw new Error("vifi: released a buffer that the pool did not create");
    this.stats.inUseBytes -= size;
    const scope = this.scope;
    if (scope) {
      if (!scope.owned.has(buf)) {
        scope.adopted.add(buf);
      } else {
        scope.released.add(buf);
        if (!scope.pinned.has(buf)) {
          let list = scope.free.get(size);
          if (!list) scope.free.set(size, list = []);
          list.push(buf);
        }
      }
      return;
    }
    this.pending.push(buf);
  }

  sizeOf(buf: GPUBuffer): number {
    return this.sizes.get(buf) ?? 0;
  }

  /** Give buffers back that a disposed plan held; reusable after the next submit. */
  returnBuffers(bufs: Iterable<GPUBuffer>): void {
    for (const b of bufs) this.pending.push(b);
  }

  /** Called by the owner right after queue.submit. */
  recycle(): void {
    for (const buf of this.pending) {
      const size = this.sizes.get(buf)!;
      let list = this.free.get(size);
      if (!list) this.free.set(size, list = []);
      list.push(buf);
    }
    this.pending.length = 0;
  }

  /** Destroy idle buffers (e.g. between a benchmark's cases) to return memory to the driver. */
  trim(): void {
    for (const list of this.free.values()) {
      for (const buf of list) {
        this.stats.allocatedBytes -= this.sizes.get(buf)!;
        buf.destroy();
      }
    }
    this.free.clear();
  }

  resetPeaks(): void {
    this.stats.peakInUseBytes = this.stats.inUseBytes;
    this.stats.peakAllocatedBytes = this.stats.allocatedBytes;
  }
}
