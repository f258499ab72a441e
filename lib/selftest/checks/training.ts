import { adamw, nonFinite, nonFiniteReference } from "../../tensor/ops/adamw.ts";
import { adamwError, adamwGradients, adamwInputs, adamwTrackStart, adamwTrackStep } from "../adamw-bound.ts";
import {
  crossEntropy,
  crossEntropyBackward,
  crossEntropyBackwardReference,
  crossEntropyReference,
} from "../../tensor/ops/cross_entropy.ts";
import {
  embedding,
  embeddingBackward,
  embeddingBackwardReference,
  embeddingReference,
} from "../../tensor/ops/embedding.ts";
import {
  col2im,
  col2imReference,
  im2col,
  im2colReference,
  patchEmbedReference,
} from "../../tensor/ops/patch_embed.ts";
import { Tensor } from "../../tensor/tensor.ts";
import type { Runtime } from "../../gpu/runtime.ts";
import {
  boundErr,
  type CheckCase,
  type CheckDtype,
  type KernelCheck,
  relErr,
  tolFor,
  worst,
} from "../check.ts";
import { crossEntropyBackwardBound, crossEntropyBound } from "../cross-entropy-bound.ts";
import { finiteDifferenceError } from "../finite-difference.ts";
import type { Rng } from "../../random/rng.ts";
import { disposeAll, take, upload } from "../tensors.ts";

/** 0 when `fn` throws an error whose message contains every one of `needles`, else 1. */
async function rejects(fn: () => Promise<unknown>, ...needles: string[]): Promise<number> {
  try {
    const t = await fn();
    if (t instanceof Tensor) t.dispose();
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    return needles.every((s) => msg.includes(s)) ? 0 : 1;
  }
  return 1;
}

// ---- embedding ----

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

function embeddingChecks(dtype: CheckDtype): KernelCheck[] {
  const f16 = dtype === "f16";
  const gather = (label: string, vocab: number, d: number, n: number): CheckCase => ({
    label,
    async run(rt, rng) {
      const table = vocab * d > 1e6 ? hashedTable(rng, vocab * d, f16) : rng.array(vocab * d, -2, 2, f16);
      const ids = randomIds(rng, n, vocab);
      const tt = upload(rt, table, [vocab, d], dtype, "table");
      const out = await take(await embedding(tt, ids));
      tt.dispose();
      return relErr(out, embeddingReference(table, ids, vocab, d));
    },
  });
  const fwd: KernelCheck = {
    name: "embedding",
    dtype,
    direction: "forward",
    tol: tolFor(dtype),
    cases: [
      gather(`V=${CLIP_VOCAB} D=${CLIP_WIDTH}, 77 ids with repeats`, CLIP_VOCAB, CLIP_WIDTH, 77),
      gather("V=7 D=3, 1 id", 7, 3, 1),
      gather("V=7 D=3, 20 ids with repeats", 7, 3, 20),
      {
        label: "GPU ids [2, 3] out of range are clamped, V=7 D=5",
        async run(rt, rng) {
          const table = rng.array(35, -2, 2, f16);
          const ids = [-3, 7, 2, 1000, 0, 6];
          const tt = upload(rt, table, [7, 5], dtype, "table");
          const ti = upload(rt, ids, [2, 3], "i32", "ids");
          const out = await embedding(tt, ti);
          const shapeOk = out.shape.join() === "2,3,5";
          const err = relErr(await take(out), embeddingReference(table, ids, 7, 5));
          disposeAll(tt, ti);
          return worst(err, shapeOk ? 0 : 1);
        },
      },
      {
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
      },
    ],
  };

  const scatter = (
    label: string,
    vocab: number,
    d: number,
    makeIds: (rng: Rng) => Int32Array,
    mode: "accumulate" | "zeros",
    tableDtype: "f32" | "f16" = "f32",
  ): CheckCase => ({
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
  });
  const clipIds = (rng: Rng) => randomIds(rng, 77, CLIP_VOCAB);
  const bwd: KernelCheck = {
    name: "embedding",
    dtype,
    direction: "backward",
    tol: tolFor(dtype),
    cases: [
      scatter(
        `V=${CLIP_VOCAB} D=${CLIP_WIDTH}, 77 ids with repeats`,
        CLIP_VOCAB,
        CLIP_WIDTH,
        clipIds,
        "accumulate",
      ),
      scatter(
        `V=${CLIP_VOCAB} D=${CLIP_WIDTH}, 77 ids with repeats`,
        CLIP_VOCAB,
        CLIP_WIDTH,
        clipIds,
        "zeros",
      ),
      scatter("V=7 D=3, 1 id", 7, 3, (rng) => randomIds(rng, 1, 7), "zeros"),
      scatter("V=7 D=3, 40 ids", 7, 3, (rng) => randomIds(rng, 40, 7), "accumulate"),
      // Padding repeats one id at most positions, so one invocation sums a long run.
      scatter("V=100 D=64, 300 ids mostly one id", 100, 64, (rng) => {
        const ids = randomIds(rng, 300, 100);
        for (let i = 0; i < ids.length; i++) if (rng.next() < 0.8) ids[i] = 0;
        return ids;
      }, "accumulate"),
      ...(f16 ? [scatter("V=7 D=5, 12 ids", 7, 5, (rng) => randomIds(rng, 12, 7), "accumulate", "f16")] : []),
    ],
  };
  return [fwd, bwd];
}

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

// ---- patch embedding (im2col / col2im) ----

const PATCH_SHAPES: [n: number, c: number, h: number, w: number, p: number][] = [
  [2, 3, 32, 32, 16],
  [3, 3, 48, 16, 16],
  [1, 3, 4, 6, 2],
  [2, 3, 224, 224, 32],
];

function patchChecks(dtype: CheckDtype): KernelCheck[] {
  const f16 = dtype === "f16";
  const fwd: KernelCheck = {
    name: "im2col",
    dtype,
    direction: "forward",
    tol: tolFor(dtype),
    cases: [
      ...PATCH_SHAPES.map(([n, c, h, w, p]): CheckCase => ({
        label: `frames [${n}, ${c}, ${h}, ${w}], P=${p}`,
        async run(rt, rng) {
          const x = rng.array(n * c * h * w, -2, 2, f16);
          const tx = upload(rt, x, [n, c, h, w], dtype, "frames");
          const out = await im2col(tx, p);
          const shapeOk = out.shape.join() === `${n * (h / p) * (w / p)},${c * p * p}`;
          const err = relErr(await take(out), im2colReference(x, n, c, h, w, p));
          tx.dispose();
          return worst(err, shapeOk ? 0 : 1);
        },
      })),
      {
        // The column order must be conv1.weight's (c, ky, kx): check against a direct convolution.
        label: "im2col · Wᵀ equals the direct conv1, frames [2, 3, 32, 48], P=16, D=5",
        async run(rt, rng) {
          const [n, c, h, w, p, d] = [2, 3, 32, 48, 16, 5];
          const x = rng.array(n * c * h * w, -2, 2, f16);
          const wt = rng.array(d * c * p * p, -1, 1);
          const tx = upload(rt, x, [n, c, h, w], dtype, "frames");
          const patches = await take(await im2col(tx, p));
          tx.dispose();
          const k = c * p * p;
          const rows = patches.length / k;
          const out = new Float64Array(rows * d);
          for (let r = 0; r < rows; r++) {
            for (let o = 0; o < d; o++) {
              let acc = 0;
              for (let j = 0; j < k; j++) acc += patches[r * k + j] * wt[o * k + j];
              out[r * d + o] = acc;
            }
          }
          return relErr(out, patchEmbedReference(x, wt, n, c, h, w, p, d));
        },
      },
      {
        label: "H or W not a multiple of P is rejected",
        async run(rt) {
          const tx = Tensor.zeros(rt, [1, 3, 30, 32], dtype, "frames");
          const err = worst(
            await rejects(() => im2col(tx, 16), "frames", "[1, 3, 30, 32]", "16"),
            await rejects(() => col2im(tx.reshape([1, 2880]), [1, 3, 30, 32], 16), "[1, 3, 30, 32]"),
            await rejects(
              () => col2im(tx.reshape([2, 1440]), [1, 3, 32, 30], 2),
              "[1, 3, 32, 30]",
              "[240, 12]",
            ),
          );
          tx.dispose();
          return err;
        },
      },
    ],
  };
  const bwd: KernelCheck = {
    name: "im2col",
    dtype,
    direction: "backward",
    tol: tolFor(dtype),
    cases: PATCH_SHAPES.map(([n, c, h, w, p]) => ({
      label: `col2im to frames [${n}, ${c}, ${h}, ${w}], P=${p}`,
      async run(rt, rng) {
        const rows = n * (h / p) * (w / p);
        const k = c * p * p;
        const dy = rng.array(rows * k, -2, 2, f16);
        const tdy = upload(rt, dy, [rows, k], dtype, "dpatches");
        const out = await col2im(tdy, [n, c, h, w], p);
        const shapeOk = out.shape.join() === `${n},${c},${h},${w}`;
        const err = relErr(await take(out), col2imReference(dy, n, c, h, w, p));
        tdy.dispose();
        return worst(err, shapeOk ? 0 : 1);
      },
    })),
  };
  return [fwd, bwd];
}

// ---- cross-entropy ----

export type TargetKind = "one-hot" | "smoothed" | "mixup" | "soft" | "unnormalised" | "scaled";

/** Target rows of the kinds training produces, plus rows whose sum is not 1. */
export function makeTargets(rng: Rng, b: number, c: number, kind: TargetKind): Float64Array {
  const t = new Float64Array(b * c);
  const eps = 0.1;
  for (let r = 0; r < b; r++) {
    const row = t.subarray(r * c, (r + 1) * c);
    switch (kind) {
      case "one-hot":
        row[rng.int(c)] = 1;
        break;
      case "smoothed":
        row.fill(eps / c);
        row[rng.int(c)] += 1 - eps;
        break;
      case "mixup": {
        const lam = rng.uniform(0, 1);
        row.fill(eps / c);
        row[rng.int(c)] += lam * (1 - eps);
        row[rng.int(c)] += (1 - lam) * (1 - eps);
        break;
      }
      case "soft": {
        let s = 0;
        for (let j = 0; j < c; j++) s += row[j] = Math.exp(2 * rng.normal());
        for (let j = 0; j < c; j++) row[j] /= s;
        break;
      }
      case "scaled": {
        // A smoothed row whose mass is not 1: peaked, so the gradient stays large for finite differences.
        const k = rng.uniform(0.3, 1.7);
        row.fill(k * eps / c);
        row[rng.int(c)] += k * (1 - eps);
        break;
      }
      case "unnormalised": {
        // Row sums in [0.3, 1.7]: far enough from 1 to expose a gradient that assumes Σt = 1.
        const sum = rng.uniform(0.3, 1.7);
        let s = 0;
        for (let j = 0; j < c; j++) s += row[j] = rng.uniform(0, 1);
        for (let j = 0; j < c; j++) row[j] *= sum / s;
        break;
      }
    }
  }
  return t.map(Math.fround);
}

/**
 * [B, C, target kind, logit range]: ±100 is CLIP's logit scale times a cosine. The first case is the
 * one `doctor` runs, so it is a typical one (a single class has an identically zero loss).
 */
export const CE_CASES: [number, number, TargetKind, number][] = [
  [8, 51, "mixup", 5],
  [3, 7, "smoothed", 3],
  [1, 1, "one-hot", 3],
  [8, 400, "smoothed", 100],
  [3, 400, "unnormalised", 4],
  [1, 51, "soft", 3],
  [8, 1, "unnormalised", 3],
  [8, 51, "scaled", 3],
  [3, 7, "one-hot", 100],
  [1, 400, "mixup", 100],
];

function crossEntropyChecks(dtype: CheckDtype): KernelCheck[] {
  const f16 = dtype === "f16";
  const fwd: KernelCheck = {
    name: "cross_entropy",
    dtype,
    direction: "forward",
    // Losses cancel (a confident row's loss is log(1 + 1e-6)): see cross-entropy-bound.ts.
    measure: "bound",
    tol: 1,
    cases: CE_CASES.map(([b, c, kind, range]) => ({
      label: `B=${b} C=${c}, ${kind} targets, logits ±${range}`,
      async run(rt, rng) {
        const x = rng.array(b * c, -range, range, f16);
        const t = makeTargets(rng, b, c, kind);
        const tx = upload(rt, x, [b, c], dtype, "logits");
        const tt = upload(rt, t, [b, c], "f32", "targets");
        const { loss, rowLoss } = await crossEntropy(tx, tt);
        const ref = crossEntropyReference(x, t, b, c);
        const bound = crossEntropyBound(x, t, b, c);
        const err = worst(
          boundErr(await take(rowLoss), ref.rowLoss, bound.rowLoss),
          boundErr(await take(loss), [ref.loss], [bound.loss]),
        );
        disposeAll(tx, tt);
        return err;
      },
    })),
  };
  const bwd: KernelCheck = {
    name: "cross_entropy",
    dtype,
    direction: "backward",
    // The target's sm·T − t cancels where the row is confident: see cross-entropy-bound.ts.
    measure: "bound",
    tol: 1,
    cases: CE_CASES.map(([b, c, kind, range], i) => {
      // Alternate a CPU number and a GPU scalar (a loss scale that never leaves the device).
      const onGpu = i % 2 === 1;
      return {
        label: `B=${b} C=${c}, ${kind} targets, logits ±${range}, dloss ${onGpu ? "tensor" : "number"}`,
        async run(rt, rng) {
          const x = rng.array(b * c, -range, range, f16);
          const t = makeTargets(rng, b, c, kind);
          const dloss = onGpu ? 1024 : Math.fround(rng.uniform(0.5, 2));
          const tx = upload(rt, x, [b, c], dtype, "logits");
          const tt = upload(rt, t, [b, c], "f32", "targets");
          const td = onGpu ? upload(rt, [dloss], [1], "f32", "dloss") : undefined;
          const dx = await take(await crossEntropyBackward(tx, tt, td ?? dloss));
          disposeAll(tx, tt, td);
          const ref = crossEntropyBackwardReference(x, t, b, c, dloss);
          return boundErr(dx, ref, crossEntropyBackwardBound(x, t, b, c, dloss, f16));
        },
      };
    }),
  };
  return [fwd, bwd];
}

const crossEntropyFd: KernelCheck = {
  name: "cross_entropy.finite-difference",
  dtype: "f32",
  direction: "backward",
  tol: 1e-3,
  cases:
    ([[3, 7, "smoothed"], [2, 7, "unnormalised"], [8, 51, "scaled"], [8, 51, "mixup"], [2, 400, "mixup"]] as [
      number,
      number,
      TargetKind,
    ][])
      .map((
        [b, c, kind],
      ) => ({
        label: `B=${b} C=${c}, ${kind} targets, w.r.t. logits`,
        async run(rt, rng) {
          const x = rng.array(b * c, -3, 3);
          const t = makeTargets(rng, b, c, kind);
          const g = Math.fround(rng.uniform(0.5, 2));
          const tx = upload(rt, x, [b, c], "f32", "logits");
          const tt = upload(rt, t, [b, c], "f32", "targets");
          const dx = await take(await crossEntropyBackward(tx, tt, g));
          tx.dispose();
          const err = await finiteDifferenceError(
            {
              inputs: [x],
              upstream: Float64Array.of(g),
              grads: [dx],
              async forward([xs]) {
                const txs = upload(rt, xs, [b, c], "f32", "logits");
                const { loss, rowLoss } = await crossEntropy(txs, tt);
                rowLoss.dispose();
                txs.dispose();
                return await take(loss);
              },
            },
            rng,
            0.03,
          );
          tt.dispose();
          return err;
        },
      })),
};

// ---- AdamW ----

interface AdamWCase {
  n: number;
  firstStep: number;
}

function adamwCheck(dtype: CheckDtype): KernelCheck {
  const f16 = dtype === "f16";
  // A large lr on small weights: the update dominates |p|, so an error in it cannot hide in p.
  const hyper = { lr: 0.05, weightDecay: 0.1, gradScale: 0.5 };
  const stepCase = ({ n, firstStep }: AdamWCase): CheckCase => ({
    label: `n=${n}, steps ${firstStep}..${firstStep + 2}${f16 ? ", f16 grads + f16 copy" : ""}`,
    async run(rt, rng) {
      const { start, grads } = adamwInputs(rng, n, firstStep, 3, f16);
      let track = adamwTrackStart(start);
      const tp = upload(rt, start.param, [n], "f32", "param");
      const tm = upload(rt, start.m, [n], "f32", "m");
      const tv = upload(rt, start.v, [n], "f32", "v");
      const half = f16 ? Tensor.empty(rt, [n], "f16", "param16") : undefined;
      for (const [s, g] of grads.entries()) {
        const tg = upload(rt, g, [n], dtype, "grad");
        const opts = { ...hyper, step: firstStep + s };
        await adamw(tp, tg, tm, tv, { ...opts, half });
        tg.dispose();
        track = adamwTrackStep(track, g, opts);
      }
      const out = { param: await take(tp), m: await take(tm), v: await take(tv) };
      return adamwError({ ...out, half: half && await take(half) }, track);
    },
  });
  return {
    name: "adamw",
    dtype,
    direction: "update",
    // Each element against its own rounding-error bound (lib/selftest/adamw-bound.ts): a result
    // near cancellation is judged by the size of p·(1 − lr·wd) and the update, not by its own size.
    measure: "bound",
    tol: 1,
    cases: [
      stepCase({ n: 1, firstStep: 1 }),
      stepCase({ n: 3, firstStep: 1 }),
      stepCase({ n: 70001, firstStep: 1 }),
      stepCase({ n: 3, firstStep: 1000 }),
      {
        label: `n=70001, skipIf: a clean step runs, a step with a NaN gradient changes nothing`,
        async run(rt, rng) {
          const n = 70001;
          const start = adamwInputs(rng, n, 1, 0, f16).start;
          const tp = upload(rt, start.param, [n], "f32", "param");
          const tm = upload(rt, start.m, [n], "f32", "m");
          const tv = upload(rt, start.v, [n], "f32", "v");
          const half = f16 ? Tensor.empty(rt, [n], "f16", "param16") : undefined;
          const g1 = adamwGradients(rng, n, f16);
          const tg1 = upload(rt, g1, [n], dtype, "grad");
          const flag1 = await nonFinite(tg1);
          await adamw(tp, tg1, tm, tv, { ...hyper, step: 1, half, skipIf: flag1 });
          const track = adamwTrackStep(adamwTrackStart(start), g1, { ...hyper, step: 1 });
          const g2 = adamwGradients(rng, n, f16);
          g2[rng.int(n)] = NaN;
          const tg2 = upload(rt, g2, [n], dtype, "grad");
          const flag2 = await nonFinite(tg2);
          await adamw(tp, tg2, tm, tv, { ...hyper, step: 2, half, skipIf: flag2 });
          const flags = [...await flag1.read(), ...await flag2.read()];
          disposeAll(tg1, tg2, flag1, flag2);
          const out = { param: await take(tp), m: await take(tm), v: await take(tv) };
          // A wrong flag counts as an error of twice the bound.
          const flagErr = flags[0] === 0 && flags[1] !== 0 ? 0 : 2;
          return worst(flagErr, adamwError({ ...out, half: half && await take(half) }, track));
        },
      },
    ],
  };
}

function nonFiniteCheck(dtype: CheckDtype): KernelCheck {
  const f16 = dtype === "f16";
  const big = f16 ? 65504 : 3.4028234663852886e38;
  /** The flag for these gradient vectors (all into one flag), read back. */
  const flagOf = async (rt: Runtime, ...gs: Float64Array[]) => {
    const ts = gs.map((g) => upload(rt, g, [g.length], dtype, "grad"));
    const f = await nonFinite(ts);
    disposeAll(...ts);
    return (await take(f))[0] !== 0;
  };
  return {
    name: "adamw.nonfinite",
    dtype,
    direction: "forward",
    tol: 0.5,
    cases: [1, 3, 70001].map((n) => ({
      label: `n=${n}: clean, NaN, ±Inf, largest finite${f16 && n % 2 ? ", NaN in the padding half" : ""}`,
      async run(rt, rng) {
        const clean = () => rng.array(n, -1, 1, f16);
        const poke = (v: number, at = rng.int(n)) => {
          const g = clean();
          g[at] = v;
          return g;
        };
        const trials: [Float64Array[], boolean][] = [
          [[clean()], false],
          [[poke(NaN)], true],
          [[poke(Infinity)], true],
          [[poke(-Infinity, n - 1)], true],
          [[poke(big), poke(-big, 0)], false],
          [[clean(), poke(NaN, n - 1)], true],
        ];
        let wrong = 0;
        for (const [gs, want] of trials) {
          if (nonFiniteReference(...gs) !== want || (await flagOf(rt, ...gs)) !== want) wrong++;
        }
        if (f16 && n % 2 === 1) {
          // A kernel-made f16 tensor of odd length has an unwritten half in its last word.
          const g = Tensor.empty(rt, [n], "f16", "grad");
          const words = new Uint16Array(n + 1);
          words.fill(0x3c00, 0, n);
          words[n] = 0x7e00;
          rt.device.queue.writeBuffer(g.buffer, 0, words);
          const f = await nonFinite(g);
          if ((await take(f))[0] !== 0) wrong++;
          g.dispose();
        }
        return wrong;
      },
    })),
  };
}

export const trainingChecks: KernelCheck[] = [
  ...embeddingChecks("f32"),
  ...embeddingChecks("f16"),
  embeddingFd,
  ...patchChecks("f32"),
  ...patchChecks("f16"),
  ...crossEntropyChecks("f32"),
  ...crossEntropyChecks("f16"),
  crossEntropyFd,
  adamwCheck("f32"),
  adamwCheck("f16"),
  nonFiniteCheck("f32"),
  nonFiniteCheck("f16"),
];
