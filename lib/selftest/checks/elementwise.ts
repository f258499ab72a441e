import {
  addInto,
  binary,
  type BinaryOp,
  binaryReference,
  cast,
  scale,
} from "../../tensor/ops/elementwise.ts";
import {
  quickGelu,
  quickGeluBackward,
  quickGeluBackwardReference,
  quickGeluReference,
} from "../../tensor/ops/quickgelu.ts";
import { boundErr, type CheckDtype, type KernelCheck, relErr, tolFor, worst } from "../check.ts";
import { accumulateBound } from "../rounding-bounds.ts";
import { finiteDifferenceError } from "../finite-difference.ts";
import { disposeAll, gpuForward, take, upload } from "../tensors.ts";

const SIZES = [[197, 77], [1, 1], [3, 5], [1576, 131]];

function binaryCheck(op: BinaryOp, dtype: CheckDtype): KernelCheck {
  const f16 = dtype === "f16";
  return {
    name: op,
    dtype,
    direction: "forward",
    tol: tolFor(dtype),
    cases: SIZES.map(([rows, cols]) => ({
      label: `[${rows}, ${cols}] ${op} [${cols}] (broadcast)`,
      async run(rt, rng) {
        const a = rng.array(rows * cols, -2, 2, f16);
        const b = rng.array(cols, -2, 2, f16);
        const ta = upload(rt, a, [rows, cols], dtype, "a");
        const tb = upload(rt, b, [cols], dtype, "b");
        const out = await take(await binary(op, ta, tb, { alpha: 0.5, beta: -1.5 }));
        disposeAll(ta, tb);
        return relErr(out, binaryReference(op, a, b, 0.5, -1.5));
      },
    })),
  };
}

function scaleCheck(dtype: CheckDtype): KernelCheck {
  const f16 = dtype === "f16";
  return {
    name: "scale",
    dtype,
    direction: "forward",
    tol: tolFor(dtype),
    cases: [77, 1, 3, 70001].map((n) => ({
      label: `n=${n}`,
      async run(rt, rng) {
        const a = rng.array(n, -3, 3, f16);
        const ta = upload(rt, a, [n], dtype);
        const out = await take(await scale(ta, -0.37));
        ta.dispose();
        return relErr(out, a.map((v) => -0.37 * v));
      },
    })),
  };
}

function castCheck(): KernelCheck {
  return {
    name: "cast",
    dtype: "f16",
    direction: "forward",
    tol: 3e-3,
    cases: [77, 1, 3, 4099].map((n) => ({
      label: `f32→f16→f32 n=${n}`,
      async run(rt, rng) {
        const a = rng.array(n, -100, 100);
        const ta = upload(rt, a, [n], "f32");
        const h = await cast(ta, "f16");
        const back = await cast(h, "f32");
        const viaHalf = await take(h);
        const out = await take(back);
        ta.dispose();
        // f32→f16 loses at most half an f16 ulp; f16→f32 must then be exact.
        return worst(relErr(viaHalf, a), relErr(out, viaHalf) === 0 ? 0 : 1);
      },
    })),
  };
}

function geluChecks(dtype: CheckDtype): KernelCheck[] {
  const f16 = dtype === "f16";
  const fwd: KernelCheck = {
    name: "quickgelu",
    dtype,
    direction: "forward",
    tol: tolFor(dtype),
    cases: [197 * 7, 1, 3, 77].map((n) => ({
      label: `n=${n}`,
      async run(rt, rng) {
        const x = rng.array(n, -6, 6, f16);
        const tx = upload(rt, x, [n], dtype);
        const y = await take(await quickGelu(tx));
        tx.dispose();
        return relErr(y, quickGeluReference(x));
      },
    })),
  };
  const bwd: KernelCheck = {
    name: "quickgelu",
    dtype,
    direction: "backward",
    tol: tolFor(dtype),
    cases: [197 * 7, 1, 3, 77].map((n) => ({
      label: `n=${n}`,
      async run(rt, rng) {
        const x = rng.array(n, -6, 6, f16);
        const dy = rng.array(n, -1, 1, f16);
        const tx = upload(rt, x, [n], dtype);
        const tdy = upload(rt, dy, [n], dtype);
        const dx = await take(await quickGeluBackward(tx, tdy));
        disposeAll(tx, tdy);
        return relErr(dx, quickGeluBackwardReference(x, dy));
      },
    })),
  };
  return [fwd, bwd];
}

/** The analytic formula and the kernel could share a mistake; finite differences cannot. */
const geluFd: KernelCheck = {
  name: "quickgelu.finite-difference",
  dtype: "f32",
  direction: "backward",
  tol: 1e-3,
  cases: [197 * 7, 3].map((n) => ({
    label: `n=${n}`,
    async run(rt, rng) {
      const x = rng.array(n, -6, 6);
      const dy = rng.array(n, -1, 1);
      const tx = upload(rt, x, [n]);
      const tdy = upload(rt, dy, [n]);
      const dx = await take(await quickGeluBackward(tx, tdy));
      disposeAll(tx, tdy);
      return await finiteDifferenceError({
        inputs: [x],
        upstream: dy,
        grads: [dx],
        forward: ([xs]) => gpuForward(rt, xs, (t) => quickGelu(t)),
      }, rng);
    },
  })),
};

export const elementwiseChecks: KernelCheck[] = [
  ...(["add", "sub", "mul"] as BinaryOp[]).flatMap((op) => [binaryCheck(op, "f32"), binaryCheck(op, "f16")]),
  scaleCheck("f32"),
  scaleCheck("f16"),
  castCheck(),
  ...geluChecks("f32"),
  ...geluChecks("f16"),
  geluFd,
];

function addIntoCheck(dtype: CheckDtype): KernelCheck {
  const f16 = dtype === "f16";
  return {
    name: "accumulate",
    dtype,
    direction: "update",
    // d + 0.7·s cancels in a [1, 1] case: each element against its own rounding bound.
    measure: "bound",
    tol: 1,
    cases: SIZES.map(([rows, cols]) => ({
      label: `[${rows}, ${cols}] += 0.7·[${cols}]`,
      async run(rt, rng) {
        const d = rng.array(rows * cols, -2, 2, f16);
        const s = rng.array(cols, -2, 2, f16);
        const td = upload(rt, d, [rows, cols], dtype, "dst");
        const ts = upload(rt, s, [cols], dtype, "src");
        const out = await take(await addInto(td, ts, 0.7));
        ts.dispose();
        const ref = binaryReference("add", d, s, 1, 0.7);
        return boundErr(out, ref, accumulateBound(s, ref, 0.7, f16));
      },
    })),
  };
}

/** f16 gradients accumulating into f32 master gradients. */
const mixedAddInto: KernelCheck = {
  name: "accumulate.f16-into-f32",
  dtype: "f16",
  direction: "update",
  tol: 1e-5,
  cases: SIZES.map(([rows, cols]) => ({
    label: `f32 [${rows}, ${cols}] += f16 [${rows}, ${cols}]`,
    async run(rt, rng) {
      const d = rng.array(rows * cols, -2, 2);
      const s = rng.array(rows * cols, -2, 2, true);
      const td = upload(rt, d, [rows, cols], "f32", "dst");
      const ts = upload(rt, s, [rows, cols], "f16", "src");
      const out = await take(await addInto(td, ts));
      ts.dispose();
      return relErr(out, binaryReference("add", d, s));
    },
  })),
};

elementwiseChecks.push(addIntoCheck("f32"), addIntoCheck("f16"), mixedAddInto);
