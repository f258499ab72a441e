// Moving whole rows between tensors with copy commands (no kernel): CLIP's class-token prepend,
// class-token and EOT pooling, and their gradients. Runs of consecutive rows become one copy.

import { BYTES, type Tensor } from "../tensor.ts";

/** dst row dstRows[i] ← src row srcRows[i], rows of `width` elements (byte offsets must be 4-aligned). */
export function copyRows(
  src: Tensor,
  srcRows: readonly number[],
  dst: Tensor,
  dstRows: readonly number[],
  width: number,
): void {
  src.check();
  dst.check();
  if (src.dtype !== dst.dtype) {
    throw new Error(`vifi: copyRows: ${src.name} is ${src.dtype} but ${dst.name} is ${dst.dtype}`);
  }
  if (srcRows.length !== dstRows.length) throw new Error("vifi: copyRows: row lists differ in length");
  const rowBytes = width * BYTES[src.dtype];
  if (rowBytes % 4) throw new Error(`vifi: copyRows: rows of ${width} ${src.dtype} are not 4-byte aligned`);
  const srcRowsTotal = src.size / width;
  const dstRowsTotal = dst.size / width;
  for (let i = 0; i < srcRows.length;) {
    let n = 1;
    while (i + n < srcRows.length && srcRows[i + n] === srcRows[i] + n && dstRows[i + n] === dstRows[i] + n) {
      n++;
    }
    if (srcRows[i] < 0 || srcRows[i] + n > srcRowsTotal || dstRows[i] < 0 || dstRows[i] + n > dstRowsTotal) {
      throw new Error(`vifi: copyRows: rows out of range copying ${src.name} → ${dst.name}`);
    }
    src.rt.copyBuffer(
      src.buffer,
      srcRows[i] * rowBytes,
      dst.buffer,
      dstRows[i] * rowBytes,
      n * rowBytes,
    );
    i += n;
  }
}

export function range(start: number, n: number): number[] {
  return Array.from({ length: n }, (_, i) => start + i);
}
