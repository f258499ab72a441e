// Token embedding: gather rows of a [V, D] table by id, and the deterministic scatter-add backward.

import { grid1d } from "../../gpu/grid.ts";
import { type DType, expectDtype, shapeStr, Tensor } from "../tensor.ts";
import { dtypeSpec, params, rowWindow, tensorRowChunks, whole } from "./common.ts";

/** Throw unless every id is in [0, vocab); the error names the first bad id and its position. */
export function validateIds(ids: ArrayLike<number>, vocab: number, what: string): void {
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i];
    if (!(Number.isInteger(id) && id >= 0 && id < vocab)) {
      throw new Error(`vifi: ${what}: ids[${i}] = ${id} is outside the vocabulary [0, ${vocab})`);
    }
  }
}

/** The positions of each distinct id, in ascending order: the fixed summation order of the backward. */
export interface IdGroups {
  /** distinct ids, ascending */
  unique: Uint32Array;
  /** positions of unique[u] are positions[offsets[u] .. offsets[u + 1]) */
  offsets: Uint32Array;
  positions: Uint32Array;
}

export function groupIds(ids: Int32Array, vocab: number, what = "groupIds"): IdGroups {
  validateIds(ids, vocab, what);
  const order = new Uint32Array(ids.length);
  for (let i = 0; i < order.length; i++) order[i] = i;
  order.sort((a, b) => ids[a] - ids[b] || a - b);
  let distinct = 0;
  for (let k = 0; k < order.length; k++) if (k === 0 || ids[order[k]] !== ids[order[k - 1]]) distinct++;
  const unique = new Uint32Array(distinct);
  const offsets = new Uint32Array(distinct + 1);
  let u = -1;
  for (let k = 0; k < order.length; k++) {
    if (k === 0 || ids[order[k]] !== ids[order[k - 1]]) {
      unique[++u] = ids[order[k]];
      offsets[u] = k;
    }
  }
  offsets[distinct] = order.length;
  return { unique, offsets, positions: order };
}

/**
 * out[..., :] = table[ids[...], :]. `ids` is an i32 tensor of any shape (out has shape [...ids, D];
 * out-of-range ids are clamped on the GPU) or an Int32Array from the CPU (out is [n, D]; every id is
 * validated first).
 */
export async function embedding(table: Tensor, ids: Tensor | Int32Array): Promise<Tensor> {
  const rt = table.rt;
  table.check();
  expectDtype(table, ["f32", "f16"], "embedding");
  if (table.shape.length !== 2) {
    throw new Error(`vifi: embedding: ${table.name} must be [V, D] but has ${shapeStr(table.shape)}`);
  }
  const [vocab, d] = table.shape;
  if (vocab === 0) throw new Error(`vifi: embedding: ${table.name} has no rows`);
  let idt: Tensor;
  if (ids instanceof Int32Array) {
    validateIds(ids, vocab, `embedding(${table.name} ${shapeStr(table.shape)})`);
    idt = Tensor.from(rt, ids, [ids.length], "i32", "ids");
  } else {
    ids.check();
    expectDtype(ids, ["i32"], "embedding");
    idt = ids;
  }
  const out = Tensor.empty(rt, [...idt.shape, d], table.dtype, `embedding(${table.name})`);
  const spec = { ...dtypeSpec(table.dtype), G: table.dtype, ACCUMULATE: false };
  const pipe = await rt.pipeline("embedding.wgsl", "forward", spec);
  // Output rows in chunks; a table larger than a binding in windows of rows (each dispatch writes the
  // ids that fall in its window).
  for (const tc of tensorRowChunks("embedding", vocab, [[table, d]])) {
    for (const c of tensorRowChunks("embedding", idt.size, [[idt, 1], [out, d]])) {
      const u = rt.uniform(params(c.count, d, vocab, tc.first, tc.first + tc.count, 0, 0, 0, 0));
      const b = [u, rowWindow(idt, c, 1), rowWindow(table, tc, d), rowWindow(out, c, d)];
      rt.dispatch(pipe, b, grid1d(c.count * d), { label: "embedding" });
    }
  }
  if (idt !== ids) idt.dispose();
  return out;
}

/**
 * dtable[id, :] += Σ over positions i with ids[i] = id of dout[i, :], summed in ascending position
 * order (deterministic). With `into`, adds into that existing [V, D] gradient and returns it (rows no
 * id touches keep their values); without, returns a new zero-initialised [V, D] gradient of `dtype`
 * (default f32). dout is [n, D] (or [..., D] with n leading elements in all), f32 or f16.
 */
export async function embeddingBackward(
  ids: Int32Array,
  dout: Tensor,
  vocab: number,
  opts: { into?: Tensor; dtype?: DType } = {},
): Promise<Tensor> {
  const rt = dout.rt;
  dout.check();
  expectDtype(dout, ["f32", "f16"], "embeddingBackward");
  const d = dout.shape[dout.shape.length - 1] ?? 0;
  if (dout.shape.length < 1 || d * ids.length !== dout.size) {
    throw new Error(
      `vifi: embeddingBackward: ${dout.name} ${
        shapeStr(dout.shape)
      } does not hold ${ids.length} rows of width ${d}`,
    );
  }
  if (!Number.isInteger(vocab) || vocab <= 0) {
    throw new Error(`vifi: embeddingBackward: bad vocabulary size ${vocab}`);
  }
  const groups = groupIds(ids, vocab, `embeddingBackward(${dout.name} ${shapeStr(dout.shape)})`);
  let dtable: Tensor;
  if (opts.into) {
    dtable = opts.into;
    dtable.check();
    expectDtype(dtable, ["f32", "f16"], "embeddingBackward");
    if (dtable.shape.length !== 2 || dtable.shape[0] !== vocab || dtable.shape[1] !== d) {
      throw new Error(
        `vifi: embeddingBackward: expected ${dtable.name} to be [${vocab}, ${d}] but it has ${
          shapeStr(dtable.shape)
        }`,
      );
    }
    if (dtable.buffer === dout.buffer) {
      throw new Error(`vifi: embeddingBackward: ${dtable.name} and ${dout.name} share a buffer`);
    }
  } else {
    const dtype = opts.dtype ?? "f32";
    if (dtype !== "f32" && dtype !== "f16") {
      throw new Error(`vifi: embeddingBackward: dtable cannot be ${dtype}`);
    }
    dtable = Tensor.zeros(rt, [vocab, d], dtype, "dtable");
  }
  const nu = groups.unique.length;
  const csr = new Uint32Array(2 * nu + 1 + ids.length);
  csr.set(groups.unique, 0);
  csr.set(groups.offsets, nu);
  csr.set(groups.positions, 2 * nu + 1);
  const tcsr = Tensor.from(rt, csr, [csr.length], "u32", "ids(csr)");
  // dtable in windows of rows (the distinct ids are ascending, so each window's ids are a range) and
  // dout in windows of positions; dispatches after the first add into dtable.
  const csrB = whole(tcsr, "embeddingBackward");
  const doutChunks = tensorRowChunks("embeddingBackward", ids.length, [[dout, d]]);
  let u0 = 0;
  for (const tc of tensorRowChunks("embeddingBackward", vocab, [[dtable, d]])) {
    let u1 = u0;
    while (u1 < nu && groups.unique[u1] < tc.first + tc.count) u1++;
    // A window no id falls in keeps its rows (zeros, or the gradient being added into).
    for (const [i, rc] of (u1 > u0 ? doutChunks : []).entries()) {
      const pipe = await rt.pipeline("embedding.wgsl", "backward", {
        F16: dout.dtype === "f16" || dtable.dtype === "f16",
        T: dout.dtype,
        G: dtable.dtype,
        ACCUMULATE: opts.into !== undefined || i > 0,
      });
      const v1 = tc.first + tc.count;
      const u = rt.uniform(params(nu, d, vocab, tc.first, v1, u0, u1 - u0, rc.first, rc.first + rc.count));
      const b = [u, undefined, undefined, undefined, csrB, rowWindow(dout, rc, d), rowWindow(dtable, tc, d)];
      rt.dispatch(pipe, b, grid1d((u1 - u0) * d), { label: "embedding_bwd" });
    }
    u0 = u1;
  }
  tcsr.dispose();
  return dtable;
}

// ---- float64 references ----

/** Gather with the shader's clamping of out-of-range ids. */
export function embeddingReference(
  table: ArrayLike<number>,
  ids: ArrayLike<number>,
  vocab: number,
  d: number,
): Float64Array {
  const out = new Float64Array(ids.length * d);
  for (let i = 0; i < ids.length; i++) {
    const id = Math.min(Math.max(ids[i], 0), vocab - 1);
    for (let c = 0; c < d; c++) out[i * d + c] = table[id * d + c];
  }
  return out;
}

/** dtable = base (or zeros) + scatter-add of dout rows by id. */
export function embeddingBackwardReference(
  ids: ArrayLike<number>,
  dout: ArrayLike<number>,
  vocab: number,
  d: number,
  base?: ArrayLike<number>,
): Float64Array {
  const out = base ? Float64Array.from(base) : new Float64Array(vocab * d);
  for (let i = 0; i < ids.length; i++) {
    for (let c = 0; c < d; c++) out[ids[i] * d + c] += dout[i * d + c];
  }
  return out;
}
