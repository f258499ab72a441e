// Small pieces every op file uses: the dtype part of a kernel spec and uniform packing.

import type { DType } from "../tensor.ts";

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
