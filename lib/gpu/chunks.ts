// Splitting work so that no storage binding exceeds the adapter's maxStorageBufferBindingSize (128 MiB
// on lavapipe, 2–4 GiB on most GPUs). A tensor may be larger than that (buffers go up to
// maxBufferSize); ops then bind windows {buffer, offset, size} of it and record one dispatch per chunk
// of rows. Window offsets must be multiples of minStorageBufferOffsetAlignment, so chunks start at
// rows whose byte offsets are. The limits are read at every call: tests lower them.

import type { Binding, Runtime } from "./runtime.ts";

/** Rows first .. first+count−1 of a split. */
export interface Chunk {
  first: number;
  count: number;
}

export function bindingLimits(rt: Runtime): { limit: number; align: number } {
  const l = rt.gpu.limits;
  return {
    limit: Math.floor(l.maxStorageBufferBindingSize / 4) * 4,
    align: l.minStorageBufferOffsetAlignment,
  };
}

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}

function lcm(a: number, b: number): number {
  return (a / gcd(a, b)) * b;
}

/** Storage binding sizes are multiples of 4 bytes. */
export function round4(bytes: number): number {
  return Math.ceil(bytes / 4) * 4;
}

/**
 * Split `rows` rows into consecutive chunks such that every windowed binding (rowBytes[i] bytes per
 * row) starts at an aligned offset and holds at most the binding limit. Chunk starts are also
 * multiples of `multiple` rows. One chunk when everything fits; none for zero rows. Throws a
 * one-line error when even the smallest aligned piece is over the limit.
 */
export function rowChunks(
  rt: Runtime,
  what: string,
  rows: number,
  rowBytes: readonly number[],
  multiple = 1,
): Chunk[] {
  if (rows <= 0) return [];
  const { limit, align } = bindingLimits(rt);
  const widest = Math.max(0, ...rowBytes);
  if (widest === 0 || round4(rows * widest) <= limit) return [{ first: 0, count: rows }];
  let quantum = multiple;
  for (const b of rowBytes) if (b > 0) quantum = lcm(quantum, align / gcd(b, align));
  const fit = Math.floor(limit / widest);
  const most = Math.floor(fit / quantum) * quantum;
  if (most === 0) {
    throw new Error(
      `vifi: ${what}: ${rows * widest} bytes cannot be split into storage bindings of at most ${limit} ` +
        `bytes (maxStorageBufferBindingSize): the smallest aligned piece, ${quantum} rows, needs ${
          quantum * widest
        }`,
    );
  }
  // Even chunks (rounded to the quantum) rather than full ones and a small remainder.
  const n = Math.ceil(rows / most);
  const per = Math.min(most, Math.ceil(Math.ceil(rows / n) / quantum) * quantum);
  const out: Chunk[] = [];
  for (let first = 0; first < rows; first += per) out.push({ first, count: Math.min(per, rows - first) });
  return out;
}

/** Throw unless one binding of `bytes` fits (operands that are bound whole: weights, masks, flags). */
export function checkWhole(rt: Runtime, what: string, bytes: number): void {
  const { limit } = bindingLimits(rt);
  if (round4(bytes) > limit) {
    throw new Error(
      `vifi: ${what}: ${bytes} bytes in one storage binding exceed the adapter's ` +
        `maxStorageBufferBindingSize of ${limit} bytes, and this operand cannot be split`,
    );
  }
}

/**
 * A binding of bytes [offset, offset + bytes) of a buffer (size rounded up to 4, at least 4 and never
 * past the buffer's end). `offset` must be aligned; rowChunks() chooses chunks for which it is.
 */
export function window(buffer: GPUBuffer, offset: number, bytes: number): Binding {
  const size = Math.min(Math.max(4, round4(bytes)), buffer.size - offset);
  return { buffer, offset, size };
}

/**
 * Elements [first, end) of a buffer as a binding that starts at the aligned offset at or below
 * `first`, and the index of `first` inside it: for kernels that take element offsets, so chunks
 * need not start at aligned rows.
 */
export function elementWindow(
  rt: Runtime,
  buffer: GPUBuffer,
  first: number,
  end: number,
  bytesPerElement: number,
): [Binding, number] {
  const { align } = bindingLimits(rt);
  const byte = Math.floor((first * bytesPerElement) / align) * align;
  return [window(buffer, byte, end * bytesPerElement - byte), first - byte / bytesPerElement];
}

/** The most elements an elementWindow() can always hold, wherever it starts. */
export function windowElements(rt: Runtime, bytesPerElement: number): number {
  const { limit, align } = bindingLimits(rt);
  return Math.floor((limit - align) / bytesPerElement);
}

/**
 * Chunks cut into pieces of at most `step` rows (0: as they are), e.g. so each fits a texture's
 * maxTextureDimension2D rows. A piece starts `step` rows after the last, so with 256-byte rows (what a
 * texture copy needs) and `step` a multiple of 64 every window stays on 256 bytes, as do windows over
 * per-row f32 values.
 */
export function* splitChunks(chunks: Chunk[], step: number): Generator<Chunk> {
  for (const c of chunks) {
    if (!step) {
      yield c;
      continue;
    }
    for (let first = c.first; first < c.first + c.count; first += step) {
      yield { first, count: Math.min(step, c.first + c.count - first) };
    }
  }
}
