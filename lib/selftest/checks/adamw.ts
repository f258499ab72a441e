// Checks for the fused AdamW update (several steps, against a float64 track with per-element
// rounding bounds, lib/selftest/adamw-bound.ts) and for the non-finite gradient flag that lets a
// step with a NaN or Inf gradient skip itself on the GPU.

import { adamw, nonFinite, nonFiniteReference } from "../../tensor/ops/adamw.ts";
import { Tensor } from "../../tensor/tensor.ts";
import type { Runtime } from "../../gpu/runtime.ts";
import { adamwError, adamwGradients, adamwInputs, adamwTrackStart, adamwTrackStep } from "../adamw-bound.ts";
import { type CheckCase, type CheckDtype, type KernelCheck, worst } from "../check.ts";
import { disposeAll, take, upload } from "../tensors.ts";

// A large lr on small weights: the update dominates |p|, so an error in it cannot hide in p.
const HYPER = { lr: 0.05, weightDecay: 0.1, gradScale: 0.5 };

interface AdamWCase {
  n: number;
  firstStep: number;
}

/** Three consecutive steps from `firstStep` on n parameters (with an f16 copy when dtype is f16). */
function stepsCase(dtype: CheckDtype, { n, firstStep }: AdamWCase): CheckCase {
  const f16 = dtype === "f16";
  return {
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
        const opts = { ...HYPER, step: firstStep + s };
        await adamw(tp, tg, tm, tv, { ...opts, half });
        tg.dispose();
        track = adamwTrackStep(track, g, opts);
      }
      const out = { param: await take(tp), m: await take(tm), v: await take(tv) };
      return adamwError({ ...out, half: half && await take(half) }, track);
    },
  };
}

/** skipIf: the flag of a clean gradient lets its step run; a NaN gradient's step changes nothing. */
function skipIfCase(dtype: CheckDtype): CheckCase {
  const f16 = dtype === "f16";
  return {
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
      await adamw(tp, tg1, tm, tv, { ...HYPER, step: 1, half, skipIf: flag1 });
      const track = adamwTrackStep(adamwTrackStart(start), g1, { ...HYPER, step: 1 });
      const g2 = adamwGradients(rng, n, f16);
      g2[rng.int(n)] = NaN;
      const tg2 = upload(rt, g2, [n], dtype, "grad");
      const flag2 = await nonFinite(tg2);
      await adamw(tp, tg2, tm, tv, { ...HYPER, step: 2, half, skipIf: flag2 });
      const flags = [...await flag1.read(), ...await flag2.read()];
      disposeAll(tg1, tg2, flag1, flag2);
      const out = { param: await take(tp), m: await take(tm), v: await take(tv) };
      // A wrong flag counts as an error of twice the bound.
      const flagErr = flags[0] === 0 && flags[1] !== 0 ? 0 : 2;
      return worst(flagErr, adamwError({ ...out, half: half && await take(half) }, track));
    },
  };
}

function adamwCheck(dtype: CheckDtype): KernelCheck {
  return {
    name: "adamw",
    dtype,
    direction: "update",
    // Each element against its own rounding-error bound (lib/selftest/adamw-bound.ts): a result
    // near cancellation is judged by the size of p·(1 − lr·wd) and the update, not by its own size.
    measure: "bound",
    tol: 1,
    cases: [
      stepsCase(dtype, { n: 1, firstStep: 1 }),
      stepsCase(dtype, { n: 3, firstStep: 1 }),
      stepsCase(dtype, { n: 70001, firstStep: 1 }),
      stepsCase(dtype, { n: 3, firstStep: 1000 }),
      skipIfCase(dtype),
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

export const adamwChecks: KernelCheck[] = [
  adamwCheck("f32"),
  adamwCheck("f16"),
  nonFiniteCheck("f32"),
  nonFiniteCheck("f16"),
];
