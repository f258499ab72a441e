// Device-side timing with timestamp queries: each profiled dispatch gets its own compute pass whose
// begin/end timestamps land in a query set; results are resolved at submit and read back once.

export interface KernelTiming {
  label: string;
  ms: number;
}

export class Profiler {
  private querySet: GPUQuerySet;
  private resolveBuf: GPUBuffer;
  private readBuf: GPUBuffer;
  private labels: string[] = [];
  private resolved: { labels: string[]; offset: number }[] = [];
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

  /** Record the resolve of everything written since the last call into the command encoder. */
  resolve(encoder: GPUCommandEncoder): void {
    const first = this.resolved.reduce((n, r) => n + r.labels.length, 0);
    const count = this.next - first;
    if (count <= 0) return;
    encoder.resolveQuerySet(this.querySet, 2 * first, 2 * count, this.resolveBuf, 2 * first * 8);
    this.resolved.push({ labels: this.labels.splice(0), offset: first });
  }

  /** Read back all timings recorded so far and reset. Call after the work was submitted. */
  async collect(): Promise<KernelTiming[]> {
    const n = this.next;
    if (n === 0) return [];
    const enc = this.device.createCommandEncoder();
    enc.copyBufferToBuffer(this.resolveBuf, 0, this.readBuf, 0, n * 16);
    this.device.queue.submit([enc.finish()]);
    await this.readBuf.mapAsync(GPUMapMode.READ, 0, n * 16);
    const ticks = new BigUint64Array(this.readBuf.getMappedRange(0, n * 16).slice(0));
    this.readBuf.unmap();
    const out: KernelTiming[] = [];
    for (const r of this.resolved) {
      r.labels.forEach((label, j) => {
        const i = r.offset + j;
        const ns = Number(ticks[2 * i + 1] - ticks[2 * i]);
        out.push({ label, ms: ns / 1e6 });
      });
    }
    this.resolved = [];
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
