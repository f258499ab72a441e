// Uniform blocks packed into 64 KiB buffers: the eager runtime hands slots out per flush and reuses
// them after the submit, a compiled plan keeps its own persistent arena (its slots never move, so a
// replay only rewrites the per-step values).

export type Binding = GPUBuffer | GPUTextureView | { buffer: GPUBuffer; offset?: number; size?: number };

const UNIFORM_CHUNK = 64 * 1024;

export class UniformArena {
  /** bumped whenever slots are handed out again; a slot from an older generation holds stale bytes */
  generation = 0;
  readonly issued: WeakMap<object, number> = new WeakMap();
  private chunks: { buf: GPUBuffer; mirror: Uint8Array<ArrayBuffer>; used: number; uploaded: number }[] = [];
  private current = 0;
  private align: number;

  /** `persistent`: a plan's arena, whose slots keep their contents and are never handed out again. */
  constructor(private device: GPUDevice, minAlign: number, private persistent = false) {
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
          uploaded: 0,
        };
        this.chunks.push(c);
      }
    }
    const offset = Math.ceil(c.used / this.align) * this.align;
    c.mirror.set(bytes, offset);
    c.used = offset + size;
    const slot = { buffer: c.buf, offset, size } as { buffer: GPUBuffer; offset: number; size: number };
    this.issued.set(slot, this.generation);
    return slot;
  }

  /** Upload what was written; chunks are reusable once the submit that follows is queued. */
  upload(queue: GPUQueue): void {
    for (let i = 0; i <= this.current && i < this.chunks.length; i++) {
      const c = this.chunks[i];
      if (c.used > c.uploaded) {
        queue.writeBuffer(c.buf, c.uploaded, c.mirror, c.uploaded, c.used - c.uploaded);
      }
      if (this.persistent) {
        c.uploaded = c.used;
      } else {
        c.used = 0;
      }
    }
    if (!this.persistent) {
      this.current = 0;
      this.generation++;
    }
  }

  /** Overwrite a slot's bytes now (a plan's per-step values such as the learning rate). */
  rewrite(queue: GPUQueue, slot: { buffer: GPUBuffer; offset: number }, data: ArrayBuffer): void {
    const c = this.chunks.find((ch) => ch.buf === slot.buffer);
    if (!c) throw new Error("vifi: uniform slot is not in this arena");
    const bytes = new Uint8Array(data);
    c.mirror.set(bytes, slot.offset);
    queue.writeBuffer(c.buf, slot.offset, bytes);
  }

  destroy(): void {
    for (const c of this.chunks) c.buf.destroy();
    this.chunks = [];
  }
}
