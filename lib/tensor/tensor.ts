// A GPU tensor: a shape, a dtype and a pooled buffer. Row-major and contiguous; views with other
// strides are expressed by the ops that need them (matmul takes leading dimensions and batch strides).

import type { Runtime } from "../gpu/runtime.ts";

export type DType = "f32" | "f16" | "i32" | "u32";

export const BYTES: Record<DType, number> = { f32: 4, f16: 2, i32: 4, u32: 4 };

export type Shape = readonly number[];

export function numel(shape: Shape): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function shapeStr(shape: Shape): string {
  return `[${shape.join(", ")}]`;
}

/** Storage bytes for n elements: rounded up to 4 so f16 tensors of odd length stay bindable. */
export function storageBytes(n: number, dtype: DType): number {
  return Math.max(4, Math.ceil((n * BYTES[dtype]) / 4) * 4);
}

export class Tensor {
  readonly size: number;
  protected disposed = false;

  constructor(
    readonly rt: Runtime,
    readonly shape: Shape,
    readonly dtype: DType,
    readonly buffer: GPUBuffer,
    readonly name = "tensor",
  ) {
    for (const d of shape) {
      if (!Number.isInteger(d) || d < 0) throw new Error(`vifi: ${name}: bad shape ${shapeStr(shape)}`);
    }
    this.size = numel(shape);
  }

  get byteLength(): number {
    return this.size * BYTES[this.dtype];
  }

  /** An uninitialised tensor (poisoned with NaN when the pool is in poison mode). */
  static empty(
    rt: Runtime,
    shape: Shape,
    dtype: DType = "f32",
    name = "tensor",
    forCpuWrite = false,
  ): Tensor {
    for (const d of shape) {
      if (!Number.isInteger(d) || d < 0) throw new Error(`vifi: ${name}: bad shape ${shapeStr(shape)}`);
    }
    const buf = rt.pool.acquire(storageBytes(numel(shape), dtype), name, forCpuWrite);
    return new Tensor(rt, shape, dtype, buf, name);
  }

  /** Upload numbers; f16 tensors are rounded from the given values on the CPU. */
  static from(
    rt: Runtime,
    data: ArrayLike<number>,
    shape: Shape,
    dtype: DType = "f32",
    name = "tensor",
  ): Tensor {
    const n = numel(shape);
    if (data.length !== n) {
      throw new Error(
        `vifi: ${name}: ${data.length} values given for shape ${shapeStr(shape)} (${n} elements)`,
      );
    }
    const t = Tensor.empty(rt, shape, dtype, name, true);
    rt.write(t.buffer, encode(data, dtype, storageBytes(n, dtype)));
    return t;
  }

  /** Zero-filled on the GPU (a clear in the command stream, not a CPU-side zero array). */
  static zeros(rt: Runtime, shape: Shape, dtype: DType = "f32", name = "tensor"): Tensor {
    const t = Tensor.empty(rt, shape, dtype, name);
    rt.clear(t.buffer, 0, storageBytes(t.size, dtype));
    return t;
  }

  /** Read back as numbers (f16 widened to f32). One GPU round trip. */
  async read(): Promise<Float32Array | Int32Array | Uint32Array> {
    this.check();
    const bytes = await this.rt.read(this.buffer, 0, storageBytes(this.size, this.dtype));
    return decode(bytes, this.dtype, this.size);
  }

  /**
   * Elements [first, first + n) as numbers (f16 widened to f32), read through a 4-byte-aligned window
   * (an f16 span may start or end mid-word): a few rows of a large result without reading it all.
   */
  async readSpan(first: number, n: number): Promise<Float32Array | Int32Array | Uint32Array> {
    this.check();
    if (!(first >= 0 && n >= 0 && first + n <= this.size)) {
      throw new Error(`vifi: ${this.name}: elements [${first}, ${first + n}) are outside its ${this.size}`);
    }
    const eb = this.dtype === "f16" ? 2 : 4;
    const start = first * eb;
    const aligned = start - (start % 4);
    const bytes = Math.ceil((start + n * eb - aligned) / 4) * 4;
    const all = decode(await this.rt.read(this.buffer, aligned, bytes), this.dtype, bytes / eb);
    return all.subarray((start - aligned) / eb, (start - aligned) / eb + n);
  }

  /** Same buffer seen with another shape of the same element count. */
  reshape(shape: Shape): Tensor {
    if (numel(shape) !== this.size) {
      throw new Error(`vifi: ${this.name}: cannot reshape ${shapeStr(this.shape)} to ${shapeStr(shape)}`);
    }
    return new TensorView(this, shape);
  }

  /**
   * The same buffer under a new shape, owned by the result: this tensor is consumed (unlike
   * reshape(), whose view never frees the buffer).
   */
  reshapeOwned(shape: Shape): Tensor {
    this.check();
    if (numel(shape) !== this.size) {
      throw new Error(`vifi: ${this.name}: cannot reshape ${shapeStr(this.shape)} to ${shapeStr(shape)}`);
    }
    if (this instanceof TensorView) return new TensorView(this.parent, shape);
    this.disposed = true;
    return new Tensor(this.rt, shape, this.dtype, this.buffer, this.name);
  }

  check(): void {
    if (this.disposed) throw new Error(`vifi: ${this.name} was used after dispose()`);
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.rt.pool.release(this.buffer);
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}

/** A reshape: shares the parent's buffer and never releases it. */
class TensorView extends Tensor {
  constructor(readonly parent: Tensor, shape: Shape) {
    super(parent.rt, shape, parent.dtype, parent.buffer, parent.name);
  }
  override check(): void {
    this.parent.check();
  }
  override dispose(): void {}
}

export function encode(data: ArrayLike<number>, dtype: DType, bytes: number): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(bytes);
  const view = dtype === "f32"
    ? new Float32Array(out.buffer)
    : dtype === "f16"
    ? new Float16Array(out.buffer)
    : dtype === "i32"
    ? new Int32Array(out.buffer)
    : new Uint32Array(out.buffer);
  for (let i = 0; i < data.length; i++) view[i] = data[i];
  return out;
}

export function decode(bytes: ArrayBuffer, dtype: DType, n: number): Float32Array | Int32Array | Uint32Array {
  switch (dtype) {
    case "f32":
      return new Float32Array(bytes, 0, n);
    case "f16":
      return Float32Array.from(new Float16Array(bytes, 0, n));
    case "i32":
      return new Int32Array(bytes, 0, n);
    case "u32":
      return new Uint32Array(bytes, 0, n);
  }
}

/** Throw a clear error unless `t` has exactly `shape` (use -1 for "any"). */
export function expectShape(t: Tensor, shape: readonly number[], what: string): void {
  const ok = t.shape.length === shape.length && shape.every((d, i) => d === -1 || d === t.shape[i]);
  if (!ok) {
    throw new Error(
      `vifi: ${what}: expected shape ${
        shapeStr(shape.map((d) => (d === -1 ? "*" : d)) as unknown as number[])
      }` +
        ` but ${t.name} has ${shapeStr(t.shape)}`,
    );
  }
}

export function expectDtype(t: Tensor, dtypes: DType[], what: string): void {
  if (!dtypes.includes(t.dtype)) {
    throw new Error(`vifi: ${what}: ${t.name} is ${t.dtype}, expected ${dtypes.join(" or ")}`);
  }
}
