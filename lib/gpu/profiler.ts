// Device-side timing with timestamp queries: each profiled dispatch gets its own compute pass whose
// begin/end timestamps land in a query set; results are resolved and read back once, on request.

export interface KernelTiming {
  label: string;
  ms: number;
}

export class Profiler {
  private querySet: GPUQuerySet;
  private resolveBuf: GPUBuffer;
  private readBuf: GPUBuffer;
  private labels: string[] = [];
  private next = 0;
  readonly capacity: number;

  constructor(private device: GPUDevice, pairs = 2048) {
    this.capacity = pairs;
    this.querySet = device.createQuerySet({ type: "timestamp", count: pairs * 2 });
    const bytes = pairs * 2 * 8;
    this.resolveBuf = device.createBuffer({
      size: bytes,
      usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC,
    });
    this.readBuf = device.createBuffer({
      size: bytes,
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
    });
  }

  /** timestampWrites for the next pass, or undefined when the set is full (timing is then skipped). */
  passWrites(label: string): GPUComputePassTimestampWrites | undefined {
    if (this.next >= this.capacity) return undefined;
    const i = this.next++;
    this.labels.push(label);
    return { querySet: this.querySet, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 };
  }

  /** Read back all timings recorded so far and reset. Call after the work was submitted. */
  async collect(): Promise<KernelTiming[]> {
    const n = this.next;
    if (n === 0) return [];
    // One resolve from offset 0 at read time: resolves at other offsets must be 256-byte aligned.
    const enc = this.device.createCommandEncoder();
    enc.resolveQuerySet(this.querySet, 0, 2 * n, this.resolveBuf, 0);
    enc.copyBufferToBuffer(this.resolveBuf, 0, this.readBuf, 0, n * 16);
    this.device.queue.submit([enc.finish()]);
    await this.readBuf.mapAsync(GPUMapMode.READ, 0, n * 16);
    const ticks = new BigUint64Array(this.readBuf.getMappedRange(0, n * 16).slice(0));
    this.readBuf.unmap();
    const out = this.labels.map((label, i) => ({ label, ms: Number(ticks[2 * i + 1] - ticks[2 * i]) / 1e6 }));
    this.labels = [];
    this.next = 0;
    return out;
  }

  destroy(): void {
    this.querySet.destroy();
    this.resolveBuf.destroy();
    this.readBuf.destroy();
  }
}
