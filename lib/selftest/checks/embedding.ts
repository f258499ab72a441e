// Checks for the token embedding: the gather (forward), the scatter-add into the table (backward)
// and finite differences of the pair, at CLIP's vocabulary size and at small edge cases.

import {
  embedding,
  embeddingBackward,
  embeddingBackwardReference,
  embeddingReference,
} from "../../tensor/ops/embedding.ts";
import type { Tensor } from "../../tensor/tensor.ts";
import type { Rng } from "../../random/rng.ts";
import { type CheckCase, type CheckDtype, type KernelCheck, relErr, tolFor, worst } from "../check.ts";
import { finiteDifferenceError } from "../finite-difference.ts";
import { disposeAll, take, upload } from "../tensors.ts";
import { rejects } from "./rejects.ts";

const CLIP_VOCAB = 49408;
const CLIP_WIDTH = 512;

/**
 * A table too large to draw from the Rng value by value (25 M entries): a seeded integer hash, so
 * every row still differs and a wrong row cannot match by accident.
 */
function hashedTable(rng: Rng, n: number, f16: boolean): Float32Array {
  const a = new Float32Array(n);
  const s = rng.int(2 ** 31);
  for (let i = 0; i < n; i++) {
    let h = Math.imul(i ^ s, 0x9e3779b1);
    h ^= h >>> 15;
    h = Math.imul(h, 0x85ebca6b);
    h ^= h >>> 13;
    const x = (h >>> 0) / 2 ** 31 - 1;
    a[i] = f16 ? Math.f16round(x) : x;
  }
  return a;
}

/** n ids in [0, vocab) with repeats, always including both ends of the vocabulary. */
function randomIds(rng: Rng, n: number, vocab: number): Int32Array {
  const ids = new Int32Array(n);
  for (let i = 0; i < n; i++) ids[i] = rng.next() < 0.3 && i > 0 ? ids[rng.int(i)] : rng.int(vocab);
  if (n > 2) {
    ids[rng.int(n)] = 0;
    ids[rng.int(n)] = vocab - 1;
  }
  return ids;
}

/**
 * Relative error over the rows some id touches; every other row must come back bit-identical
 * (else 1), because an error there would be diluted by the 49 k untouched rows.
 */
function scatterError(out: ArrayLike<number>, ref: ArrayLike<number>, ids: Int32Array, d: number): number {
  const touched = new Set(ids);
  const o: number[] = [];
  const r: number[] = [];
  let untouchedOk = true;
  for (let row = 0; row < ref.length / d; row++) {
    for (let c = 0; c < d; c++) {
      const k = row * d + c;
      if (touched.has(row)) {
        o.push(out[k]);
        r.push(ref[k]);
      } else if (!Object.is(out[k], ref[k])) {
        untouchedOk = false;
      }
    }
  }
  return worst(relErr(o, r), untouchedOk ? 0 : 1);
}

// ---- forward: the gather ----

/** Gather `n` random ids (with repeats) from a [vocab, d] table. */
function gatherCase(dtype: CheckDtype, label: string, vocab: number, d: number, n: number): CheckCase {
  const f16 = dtype === "f16";
  return {
    label,
    async run(rt, rng) {
      const table = vocab * d > 1e6 ? hashedTable(rng, vocab * d, f16) : rng.array(vocab * d, -2, 2, f16);
      const ids = randomIds(rng, n, vocab);
      const tt = upload(rt, table, [vocab, d], dtype, "table");
      const out = await take(await embedding(tt, ids));
      tt.dispose();
      return relErr(out, embeddingReference(table, ids, vocab, d));
    },
  };
}

/** Ids already on the GPU cannot be validated without a read-back, so the kernel clamps them. */
function clampedGpuIdsCase(dtype: CheckDtype): CheckCase {
  return {
    label: "GPU ids [2, 3] out of range are clamped, V=7 D=5",
    async run(rt, rng) {
      const table = rng.array(35, -2, 2, dtype === "f16");
      const ids = [-3, 7, 2, 1000, 0, 6];
      const tt = upload(rt, table, [7, 5], dtype, "table");
      const ti = upload(rt, ids, [2, 3], "i32", "ids");
      const out = await embedding(tt, ti);
      const shapeOk = out.shape.join() === "2,3,5";
      const err = relErr(await take(out), embeddingReference(table, ids, 7, 5));
      disposeAll(tt, ti);
      return worst(err, shapeOk ? 0 : 1);
    },
  };
}

/** Ids given on the CPU are checked before any dispatch, forward and backward. */
function rejectedCpuIdsCase(dtype: CheckDtype): CheckCase {
  const f16 = dtype === "f16";
  return {
    label: "CPU ids out of range are rejected with id and position",
    async run(rt, rng) {
      const tt = upload(rt, rng.array(21, -1, 1, f16), [7, 3], dtype, "table");
      const dout = upload(rt, rng.array(6, -1, 1, f16), [2, 3], dtype, "dout");
      const err = worst(
        await rejects(() => embedding(tt, new Int32Array([1, 2, 6, 7])), "ids[3] = 7", "[0, 7)"),
        await rejects(() => embedding(tt, new Int32Array([-1])), "ids[0] = -1"),
        await rejects(() => embeddingBackward(new Int32Array([0, 9]), dout, 7), "ids[1] = 9"),
      );
      disposeAll(tt, dout);
      return err;
    },
  };
}

function embeddingForwardCheck(dtype: CheckDtype): KernelCheck {
  return {
    name: "embedding",
    dtype,
    direction: "forward",
    tol: tolFor(dtype),
    cases: [
      gatherCase(dtype, `V=${CLIP_VOCAB} D=${CLIP_WIDTH}, 77 ids with repeats`, CLIP_VOCAB, CLIP_WIDTH, 77),
      gatherCase(dtype, "V=7 D=3, 1 id", 7, 3, 1),
      gatherCase(dtype, "V=7 D=3, 20 ids with repeats", 7, 3, 20),
      clampedGpuIdsCase(dtype),
      rejectedCpuIdsCase(dtype),
    ],
  };
}

// ---- backward: the scatter-add ----

interface ScatterCase {
  label: string;
  vocab: number;
  d: number;
  makeIds: (rng: Rng) => Int32Array;
  /** Add into an existing table gradient, or start from zeros. */
  mode: "accumulate" | "zeros";
  /** The dtype of the table gradient accumulated into. */
  tableDtype?: "f32" | "f16";
}

/** Scatter-add an upstream gradient for `makeIds`' ids into a [vocab, d] table gradient. */
function scatterCase(
  dtype: CheckDtype,
  { label, vocab, d, makeIds, mode, tableDtype = "f32" }: ScatterCase,
): CheckCase {
  const f16 = dtype === "f16";
  return {
    label: `${label}, ${mode === "zeros" ? "zero-initialised" : `accumulate into ${tableDtype}`}`,
    async run(rt, rng) {
      const ids = makeIds(rng);
      const dout = rng.array(ids.length * d, -1, 1, f16);
      const tdout = upload(rt, dout, [ids.length, d], dtype, "dout");
      let base: Float32Array | Float64Array | undefined;
      let into: Tensor | undefined;
      if (mode === "accumulate") {
        base = vocab * d > 1e6
          ? hashedTable(rng, vocab * d, tableDtype === "f16")
          : rng.array(vocab * d, -1, 1, tableDtype === "f16");
        into = upload(rt, base, [vocab, d], tableDtype, "dtable");
      }
      const out = await take(await embeddingBackward(ids, tdout, vocab, { into }));
      tdout.dispose();
      return scatterError(out, embeddingBackwardReference(ids, dout, vocab, d, base), ids, d);
    },
  };
}

/** Padding repeats one id at most positions, so one invocation sums a long run. */
function mostlyOneId(rng: Rng): Int32Array {
  const ids = randomIds(rng, 300, 100);
  for (let i = 0; i < ids.length; i++) if (rng.next() < 0.8) ids[i] = 0;
  return ids;
}

function embeddingBackwardCheck(dtype: CheckDtype): KernelCheck {
  const clip = {
    label: `V=${CLIP_VOCAB} D=${CLIP_WIDTH}, 77 ids with repeats`,
    vocab: CLIP_VOCAB,
    d: CLIP_WIDTH,
  };
  const clipIds = (rng: Rng) => randomIds(rng, 77, CLIP_VOCAB);
  const cases: ScatterCase[] = [
    { ...clip, makeIds: clipIds, mode: "accumulate" },
    { ...clip, makeIds: clipIds, mode: "zeros" },
    { label: "V=7 D=3, 1 id", vocab: 7, d: 3, makeIds: (rng) => randomIds(rng, 1, 7), mode: "zeros" },
    { label: "V=7 D=3, 40 ids", vocab: 7, d: 3, makeIds: (rng) => randomIds(rng, 40, 7), mode: "accumulate" },
    {
      label: "V=100 D=64, 300 ids mostly one id",
      vocab: 100,
      d: 64,
      makeIds: mostlyOneId,
      mode: "accumulate",
    },
  ];
  if (dtype === "f16") {
    const makeIds = (rng: Rng) => randomIds(rng, 12, 7);
    cases.push({ label: "V=7 D=5, 12 ids", vocab: 7, d: 5, makeIds, mode: "accumulate", tableDtype: "f16" });
  }
  return {
    name: "embedding",
    dtype,
    direction: "backward",
    tol: tolFor(dtype),
    cases: cases.map((c) => scatterCase(dtype, c)),
  };
}

// ---- finite differences ----

/** The gather is linear in the table, so finite differences test the scatter's bookkeeping exactly. */
const embeddingFd: KernelCheck = {
  name: "embedding.finite-difference",
  dtype: "f32",
  direction: "backward",
  tol: 1e-3,
  cases: [[7, 3, 11], [1000, 64, 77]].map(([vocab, d, n]) => ({
    label: `V=${vocab} D=${d}, ${n} ids w.r.t. the table`,
    async run(rt, rng) {
      const table = rng.array(vocab * d, -1, 1);
      const ids = randomIds(rng, n, vocab);
      const g = rng.array(n * d, -1, 1);
      const tg = upload(rt, g, [n, d], "f32", "dout");
      const dtable = await take(await embeddingBackward(ids, tg, vocab));
      tg.dispose();
      return await finiteDifferenceError({
        inputs: [table],
        upstream: g,
        grads: [dtable],
        async forward([tab]) {
          const tt = upload(rt, tab, [vocab, d], "f32", "table");
          const y = await take(await embedding(tt, ids));
          tt.dispose();
          return y;
        },
      }, rng);
    },
  })),
};

export const embeddingChecks: KernelCheck[] = [
  embeddingForwardCheck("f32"),
  embeddingBackwardCheck("f32"),
  embeddingForwardCheck("f16"),
  embeddingBackwardCheck("f16"),
  embeddingFd,
];
