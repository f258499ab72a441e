// Small pieces every op file uses: the dtype part of a kernel spec, uniform packing, and binding
// windows for work split into chunks that fit the adapter's storage binding limit (lib/gpu/chunks.ts).

import { checkWhole, type Chunk, rowChunks, window } from "../../gpu/chunks.ts";
import type { Binding } from "../../gpu/runtime.ts";
import { BYTES, type DType, type Tensor } from "../tensor.ts";

/** Spec entries for a kernel whose storage type follows the tensor dtype. */
export function dtypeSpec(dtype: DType): { F16: boolean; T: string } {
  if (dtype !== "f32" && dtype !== "f16") {
    throw new Error(`vifi: float kernels take f32 or f16, not ${dtype}`);
  }
  return { F16: dtype === "f16", T: dtype };
}

/** Pack a uniform struct of 32-bit fields: integers as u32 (or i32 when negative), `{f: x}` as f32. */
export function params(...fields: (number | { f: number })[]): ArrayBuffer {
  const n = Math.max(4, Math.ceil(fields.length / 4) * 4);
  const buf = new ArrayBuffer(n * 4);
  const u = new Uint32Array(buf);
  const i = new Int32Array(buf);
  const f = new Float32Array(buf);
  fields.forEach((v, k) => {
    if (typeof v === "number") {
      if (!Number.isInteger(v)) {
        throw new Error(`vifi: uniform field ${k} = ${v} is not an integer; wrap floats as {f: x}`);
      }
      if (v < 0) i[k] = v;
      else u[k] = v;
    } else {
      f[k] = v.f;
    }
  });
  return buf;
}

/** Rows c.first.. of a tensor seen as rows of `rowElems` elements, as a storage binding window. */
export function rowWindow(t: Tensor, c: Chunk, rowElems: number): Binding {
  const rowBytes = BYTES[t.dtype] * rowElems;
  return window(t.buffer, c.first * rowBytes, c.count * rowBytes);
}

/** The whole tensor as one binding (its own bytes, not the pool bucket's), checked against the limit. */
export function whole(t: Tensor, what: string): Binding {
  checkWhole(t.rt, `${what}: ${t.name}`, t.byteLength);
  return window(t.buffer, 0, t.byteLength);
}

/** Chunks of `rows` rows for tensors holding rowElems[i] elements of tensor i per row. */
export function tensorRowChunks(
  what: string,
  rows: number,
  parts: readonly [Tensor, number][],
  multiple = 1,
): Chunk[] {
  const rt = parts[0][0].rt;
  return rowChunks(rt, what, rows, parts.map(([t, e]) => BYTES[t.dtype] * e), multiple);
}
