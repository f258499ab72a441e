// The texture path copies only the band of columns a GEMM reads (lib/tensor/ops/matmul-plan.ts columnsOf):
// per-head views of a packed [B, L, 3·D] projection read a third of each row. Composed attention on a
// packed qkv whose rows are whole texture rows (3·D a multiple of 64 floats) takes that path on software
// adapters; it must agree with the float64 reference forward and backward, with pooled buffers poisoned.

import { getRuntime } from "../../lib/gpu/runtime.ts";
import { Rng, sessionSeed } from "../../lib/random/rng.ts";
import {
  attentionPacked,
  attentionPackedBackward,
  attentionReference,
} from "../../lib/tensor/ops/attention.ts";
import { columnsOf, type Operand, type Tile } from "../../lib/tensor/ops/matmul-plan.ts";
import { Tensor } from "../../lib/tensor/tensor.ts";
import { assert, assertEquals } from "../data/assert.ts";

const seed = sessionSeed();
console.log(`texture band tests: seed ${seed} (replay with VIFI_SEED=${seed})`);

const op = (o: Partial<Operand>): Operand => ({
  buf: undefined as unknown as GPUBuffer,
  off: 0,
  s: [0, 0],
  ld: 192,
  rows: "m",
  cols: "k",
  ...o,
});
const tile = (o: Partial<Tile>): Tile => ({
  zo: [0, 2],
  zi: [0, 3],
  m: [0, 77],
  n: [0, 77],
  k: [0, 16],
  ...o,
});

Deno.test("columnsOf: heads side by side in a row give one band; anything else whole rows or none", () => {
  // q of head h at column 16·h of rows 192 wide, batch items 77 rows apart: heads 0..2 read columns 0..48
  assertEquals(columnsOf(op({ s: [77 * 192, 16] }), tile({})), [0, 48]);
  // k starts at column 64: the band moves with the offset, and with the tile's first head
  assertEquals(columnsOf(op({ off: 64, s: [77 * 192, 16] }), tile({ zi: [1, 3] })), [80, 112]);
  // heads whole blocks apart (score rows): the band is the tile's own columns
  assertEquals(columnsOf(op({ ld: 64, s: [3 * 77 * 64, 77 * 64] }), tile({ k: [8, 40] })), [8, 40]);
  // batch items not a whole number of rows apart: no single band
  assertEquals(columnsOf(op({ s: [77 * 192 + 4, 16] }), tile({})), undefined);
  // a band running past the row's end would wrap into the next row
  assertEquals(columnsOf(op({ off: 180, s: [77 * 192, 16] }), tile({ zi: [0, 1] })), undefined);
});

function maxRel(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0, den = 0;
  for (let i = 0; i < a.length; i++) {
    assert(Number.isFinite(a[i]), `element ${i} is ${a[i]}`);
    num = Math.max(num, Math.abs(a[i] - b[i]));
    den = Math.max(den, Math.abs(b[i]));
  }
  return num / den;
}

Deno.test("composed attention on packed rows through texture bands matches float64, forward and backward", async () => {
  const rt = await getRuntime();
  const [B, L, D, H] = [3, 77, 128, 2];
  const rng = new Rng(seed);
  const qkv = rng.array(B * L * 3 * D);
  const dout = rng.array(B * L * D);
  rt.pool.poison = true;
  try {
    const t = Tensor.from(rt, qkv, [B, L, 3 * D], "f32", "qkv");
    const g = Tensor.from(rt, dout, [B, L, D], "f32", "dOut");
    const o = { heads: H, variant: "composed" as const };
    const fwd = await attentionPacked(t, o);
    const dqkv = await attentionPackedBackward(t, fwd, g, o);
    const out = await fwd.out.read();
    const grad = await dqkv.read();
    const part = (j: number) => {
      const x = new Float64Array(B * L * D);
      for (let r = 0; r < B * L; r++) for (let c = 0; c < D; c++) x[r * D + c] = qkv[r * 3 * D + j * D + c];
      return x;
    };
    const ref = attentionReference(
      { q: part(0), k: part(1), v: part(2), B, Lq: L, Lk: L, D, heads: H },
      dout,
    );
    assert(maxRel(out, ref.out) < 1e-5, `out: ${maxRel(out, ref.out)}`);
    const names = ["dq", "dk", "dv"] as const;
    names.forEach((name, j) => {
      const got = new Float64Array(B * L * D);
      for (let r = 0; r < B * L; r++) {
        for (let c = 0; c < D; c++) got[r * D + c] = grad[r * 3 * D + j * D + c];
      }
      const err = maxRel(got, ref[name]!);
      assert(err < 1e-5, `${name}: ${err}`);
    });
  } finally {
    rt.pool.poison = false;
  }
});
