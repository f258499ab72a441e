import {
  attention,
  attentionBackward,
  attentionPacked,
  attentionPackedBackward,
  attentionReference,
  type AttentionVariant,
} from "../../tensor/ops/attention.ts";
import { Tensor } from "../../tensor/tensor.ts";
import { type CheckDtype, type KernelCheck, relErr, tolFor, worst } from "../check.ts";
import { finiteDifferenceError } from "../finite-difference.ts";
import type { Rng } from "../../random/rng.ts";
import { disposeAll, take, upload } from "../tensors.ts";

interface AttnCase {
  B: number;
  Lq: number;
  Lk: number;
  D: number;
  heads: number;
  causal?: boolean;
  /** key padding: "lengths" ([B] valid lengths) or "flags" ([B, Lk]) */
  pad?: "lengths" | "flags";
  packed?: boolean;
  /** forced implementation */
  impl: "fused" | "composed";
  /** forced kernel (what the tuner may choose), checked to be the one that ran */
  variant?: AttentionVariant;
}

const COMPOSED: Omit<AttnCase, "impl">[] = [
  { B: 2, Lq: 197, Lk: 197, D: 128, heads: 2, packed: true },
  { B: 3, Lq: 77, Lk: 77, D: 64, heads: 4, causal: true, packed: true },
  { B: 1, Lq: 1, Lk: 1, D: 1, heads: 1 },
  { B: 1, Lq: 3, Lk: 5, D: 6, heads: 2 },
  { B: 2, Lq: 13, Lk: 13, D: 12, heads: 3, causal: true, pad: "lengths" },
  { B: 2, Lq: 7, Lk: 11, D: 8, heads: 2, pad: "flags" },
];

// The fused kernel at odd sizes (L = 1, 3, 9, 17, 23, 70, 77; head dims 8, 12, 32, 64, 128 — 128 is its
// limit), both layouts, every mask, and Lq ≠ Lk both ways (causal with Lq > Lk leaves no row fully masked;
// padding by lengths leaves whole keys unseen, so their dK and dV must come out 0). Both of its kernels:
// the small one (L ≤ 64) and the general one (70 and 77 keys, and head dim 128 at 17).
const FUSED: Omit<AttnCase, "impl">[] = [
  { B: 1, Lq: 1, Lk: 1, D: 8, heads: 1 },
  { B: 2, Lq: 3, Lk: 5, D: 16, heads: 2, pad: "flags" },
  { B: 2, Lq: 9, Lk: 23, D: 24, heads: 2, causal: true, pad: "flags" },
  { B: 2, Lq: 5, Lk: 70, D: 16, heads: 2, pad: "flags" },
  { B: 2, Lq: 17, Lk: 17, D: 64, heads: 2, packed: true },
  { B: 2, Lq: 17, Lk: 17, D: 64, heads: 2, causal: true, pad: "lengths", packed: true },
  { B: 1, Lq: 77, Lk: 77, D: 128, heads: 2, causal: true, packed: true },
  { B: 2, Lq: 3, Lk: 17, D: 128, heads: 1, pad: "lengths" },
  { B: 1, Lq: 17, Lk: 3, D: 256, heads: 2, causal: true },
];

// The fused kernel's general variant forced at lengths where the rule would run the small one: the
// tuner may choose it there (the tiny CLIP's 16 and 17 tokens among them).
const GENERAL: Omit<AttnCase, "impl">[] = [
  { B: 2, Lq: 17, Lk: 17, D: 64, heads: 2, packed: true },
  { B: 2, Lq: 16, Lk: 16, D: 64, heads: 2, causal: true, packed: true },
  { B: 2, Lq: 3, Lk: 5, D: 16, heads: 2, pad: "flags" },
  { B: 3, Lq: 9, Lk: 9, D: 24, heads: 2, causal: true, pad: "lengths" },
];

const CASES: AttnCase[] = [
  ...COMPOSED.map((c) => ({ ...c, impl: "composed" as const })),
  ...FUSED.map((c) => ({ ...c, impl: "fused" as const })),
  ...GENERAL.map((c) => ({ ...c, impl: "fused" as const, variant: "fused-general" as const })),
];

function label(c: AttnCase): string {
  return `${c.variant ?? c.impl}: B=${c.B} Lq=${c.Lq} Lk=${c.Lk} D=${c.D} heads=${c.heads}` +
    [c.causal && "causal", c.pad && `key padding (${c.pad})`, c.packed && "packed qkv"].filter(Boolean)
      .map((s) => `, ${s}`).join("");
}

function makeInputs(c: AttnCase, rng: Rng, f16: boolean) {
  const q = rng.array(c.B * c.Lq * c.D, -1, 1, f16);
  const k = rng.array(c.B * c.Lk * c.D, -1, 1, f16);
  const v = rng.array(c.B * c.Lk * c.D, -1, 1, f16);
  let pad: { mask: number[]; shape: number[] } | undefined;
  if (c.pad === "lengths") {
    // one item fully visible, one with a short prefix (≥ 1 so causal rows keep key 0)
    pad = {
      mask: Array.from({ length: c.B }, (_, b) => (b === 0 ? c.Lk : 1 + rng.int(c.Lk - 1))),
      shape: [c.B],
    };
  } else if (c.pad === "flags") {
    const mask = Array.from({ length: c.B * c.Lk }, () => (rng.next() < 0.7 ? 1 : 0));
    for (let b = 0; b < c.B; b++) mask[b * c.Lk] = 1;
    pad = { mask, shape: [c.B, c.Lk] };
  }
  return { q, k, v, pad };
}

/** [B, L, 3D] rows from separate q, k, v [B, L, D] (Lq = Lk). */
function pack(c: AttnCase, q: Float64Array, k: Float64Array, v: Float64Array): Float64Array {
  const out = new Float64Array(c.B * c.Lq * 3 * c.D);
  for (let r = 0; r < c.B * c.Lq; r++) {
    out.set(q.subarray(r * c.D, (r + 1) * c.D), r * 3 * c.D);
    out.set(k.subarray(r * c.D, (r + 1) * c.D), r * 3 * c.D + c.D);
    out.set(v.subarray(r * c.D, (r + 1) * c.D), r * 3 * c.D + 2 * c.D);
  }
  return out;
}

type Rt = Parameters<KernelCheck["cases"][number]["run"]>[0];

/** Runs forward (and with dout, backward) on the GPU; returns float64 results. */
async function gpuAttention(
  rt: Rt,
  c: AttnCase,
  dtype: "f32" | "f16",
  x: { q: Float64Array; k: Float64Array; v: Float64Array; pad?: { mask: number[]; shape: number[] } },
  dout?: Float64Array,
) {
  const mask = x.pad ? Tensor.from(rt, x.pad.mask, x.pad.shape, "i32", "keyPadding") : undefined;
  const opts = { heads: c.heads, causal: c.causal, keyPadding: mask, impl: c.impl, variant: c.variant };
  const ran = (v: AttentionVariant) => {
    if (c.variant && v !== c.variant) throw new Error(`attention ran ${v}, not the forced ${c.variant}`);
  };
  let res: { out: Float64Array; dq?: Float64Array; dk?: Float64Array; dv?: Float64Array };
  if (c.packed) {
    const qkv = upload(rt, pack(c, x.q, x.k, x.v), [c.B, c.Lq, 3 * c.D], dtype, "qkv");
    const fwd = await attentionPacked(qkv, opts);
    ran(fwd.variant);
    const out = fwd.out;
    if (dout) {
      const tdo = upload(rt, dout, [c.B, c.Lq, c.D], dtype, "dOut");
      const d = await take(await attentionPackedBackward(qkv, fwd, tdo, opts));
      tdo.dispose();
      const split = (j: number) => {
        const o = new Float64Array(c.B * c.Lq * c.D);
        for (let r = 0; r < c.B * c.Lq; r++) {
          o.set(d.subarray(r * 3 * c.D + j * c.D, r * 3 * c.D + (j + 1) * c.D), r * c.D);
        }
        return o;
      };
      res = { out: await take(out), dq: split(0), dk: split(1), dv: split(2) };
    } else {
      res = { out: await take(out) };
    }
    disposeAll(qkv, fwd.saved);
  } else {
    const tq = upload(rt, x.q, [c.B, c.Lq, c.D], dtype, "q");
    const tk = upload(rt, x.k, [c.B, c.Lk, c.D], dtype, "k");
    const tv = upload(rt, x.v, [c.B, c.Lk, c.D], dtype, "v");
    const fwd = await attention(tq, tk, tv, opts);
    ran(fwd.variant);
    // read, not take: the fused backward reads the forward's output
    res = { out: Float64Array.from(await fwd.out.read()) };
    if (dout) {
      const tdo = upload(rt, dout, [c.B, c.Lq, c.D], dtype, "dOut");
      const g = await attentionBackward(tq, tk, tv, fwd, tdo, opts);
      res = { ...res, dq: await take(g.dq), dk: await take(g.dk), dv: await take(g.dv) };
      tdo.dispose();
    }
    disposeAll(tq, tk, tv, fwd.out, fwd.saved);
  }
  mask?.dispose();
  return res;
}

function reference(c: AttnCase, x: ReturnType<typeof makeInputs>, dout?: Float64Array) {
  return attentionReference({ ...c, q: x.q, k: x.k, v: x.v, keyPadding: x.pad }, dout);
}

function checks(dtype: CheckDtype): KernelCheck[] {
  const f16 = dtype === "f16";
  const dt = dtype as "f32" | "f16";
  return [
    {
      name: "attention",
      dtype,
      direction: "forward",
      tol: tolFor(dtype),
      cases: CASES.map((c) => ({
        label: label(c),
        async run(rt, rng) {
          const x = makeInputs(c, rng, f16);
          const got = await gpuAttention(rt, c, dt, x);
          return relErr(got.out, reference(c, x).out);
        },
      })),
    },
    {
      name: "attention",
      dtype,
      direction: "backward",
      tol: tolFor(dtype),
      cases: CASES.map((c) => ({
        label: label(c),
        async run(rt, rng) {
          const x = makeInputs(c, rng, f16);
          const dout = rng.array(c.B * c.Lq * c.D, -1, 1, f16);
          const got = await gpuAttention(rt, c, dt, x, dout);
          const ref = reference(c, x, dout);
          return worst(relErr(got.dq!, ref.dq!), relErr(got.dk!, ref.dk!), relErr(got.dv!, ref.dv!));
        },
      })),
    },
  ];
}

const finiteDifference: KernelCheck = {
  name: "attention.finite-difference",
  dtype: "f32",
  direction: "backward",
  tol: 1e-3,
  cases: ([
    CASES[4],
    CASES[3],
    { B: 1, Lq: 9, Lk: 9, D: 8, heads: 2, causal: true, packed: true, impl: "composed" },
    { B: 2, Lq: 5, Lk: 6, D: 8, heads: 2, pad: "flags", impl: "fused" },
    { B: 1, Lq: 9, Lk: 9, D: 8, heads: 2, causal: true, packed: true, impl: "fused" },
  ] as AttnCase[]).map((c) => ({
    label: label(c),
    async run(rt, rng) {
      const x = makeInputs(c, rng, false);
      const dout = rng.array(c.B * c.Lq * c.D);
      const g = await gpuAttention(rt, c, "f32", x, dout);
      return await finiteDifferenceError({
        inputs: [x.q, x.k, x.v],
        upstream: dout,
        grads: [g.dq!, g.dk!, g.dv!],
        forward: async ([q, k, v]) => (await gpuAttention(rt, c, "f32", { q, k, v, pad: x.pad })).out,
      }, rng);
    },
  })),
};

export const attentionChecks: KernelCheck[] = [...checks("f32"), ...checks("f16"), finiteDifference];
