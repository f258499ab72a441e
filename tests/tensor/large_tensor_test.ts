// Tensors larger than a storage binding: every kernel check (lib/selftest/checks) runs again with
// maxStorageBufferBindingSize lowered to LIMIT and the offset alignment raised to 256 bytes (most GPUs;
// lavapipe allows 32). Every op must split its work into bindings that fit, recorded as several
// dispatches, and still match its float64 reference. Without the splitting each op binds its whole
// tensor and the guard refuses the dispatch. Then: ops that cannot be split refuse with the limit.

import { getRuntime, type Runtime } from "../../lib/gpu/runtime.ts";
import type { CheckCase, KernelCheck } from "../../lib/selftest/check.ts";
import { allChecks } from "../../lib/selftest/registry.ts";
import { Rng, sessionSeed } from "../../lib/random/rng.ts";
import { errorName } from "../../lib/selftest/run.ts";
import { softmax } from "../../lib/tensor/ops/softmax.ts";
import { matmul } from "../../lib/tensor/ops/matmul.ts";
import { Tensor } from "../../lib/tensor/tensor.ts";
import { TooManyDispatches, withBindingLimit } from "./binding_guard.ts";

// The first limit tried; a case whose op refuses (an indivisible piece, such as one image for im2col,
// is over it) or that would take thousands of dispatches is retried at twice the limit.
const LIMIT = 2 * 1024;
/** A case that would record more dispatches than this at a limit is retried at a higher one. */
const MAX_DISPATCHES = 400;
const seed = sessionSeed();
console.log(`large tensor tests: seed ${seed} (replay with VIFI_SEED=${seed})`);

/** checks (name, direction, dtype) whose cases split at least once */
const split = new Set<string>();
const ran = new Set<string>();

/** Run a case under a lowered limit (raised alignment when given); true when some op split its work. */
async function runLowered(rt: Runtime, check: KernelCheck, c: CheckCase, align?: number): Promise<boolean> {
  const key = `${check.name} ${check.direction} ${check.dtype}: ${c.label}`;
  const rng = new Rng(seed ^ hash(key));
  for (let limit = LIMIT;; limit *= 2) {
    const errorsBefore = rt.gpu.errors.length;
    let out: { err: number; windowed: number } | undefined;
    try {
      out = await withBindingLimit(rt, limit, align, async (stats) => {
        const err = await c.run(rt, rng);
        await rt.sync();
        return { err, windowed: stats.windowed };
      }, MAX_DISPATCHES);
    } catch (e) {
      const refused = e instanceof Error && /maxStorageBufferBindingSize/.test(e.message);
      if (!(refused || e instanceof TooManyDispatches) || limit > 1 << 26) throw e;
      await rt.sync();
      continue;
    }
    if (rt.gpu.errors.length > errorsBefore) {
      throw new Error(`WebGPU reported: ${rt.gpu.errors.slice(errorsBefore).join("; ")}`);
    }
    if (!(out.err < check.tol)) {
      throw new Error(
        `${errorName(check)} ${out.err} ≥ tolerance ${check.tol} at limit ${limit} (seed ${seed})`,
      );
    }
    return out.windowed > 0;
  }
}

for (const check of allChecks) {
  const key = `${check.name} ${check.direction} ${check.dtype}`;
  for (const c of check.cases) {
    Deno.test(`binding limit ${LIMIT / 1024} KiB: ${key}: ${c.label}`, async () => {
      const rt = await getRuntime();
      if (check.dtype === "f16" && !rt.gpu.features.f16) return;
      rt.pool.poison = true;
      const windowed = await runLowered(rt, check, c);
      ran.add(key);
      if (windowed) split.add(key);
    });
  }
}

Deno.test("every op was exercised on tensors larger than the lowered binding limit", () => {
  // Finite-difference checks call the same ops (covered by their own checks) on tiny inputs.
  const never = [...ran].filter((k) => !split.has(k) && !k.includes(".finite-difference"));
  if (never.length) throw new Error(`no case of these checks split its work: ${never.join("; ")}`);
});

Deno.test("an op that cannot be split refuses before dispatch, naming the op, the size and the limit", async () => {
  const rt = await getRuntime();
  // One softmax row of 4096 floats (16 KiB) cannot be split across bindings.
  const x = Tensor.zeros(rt, [2, 4096]);
  const a = Tensor.zeros(rt, [8, 4096]);
  const b = Tensor.zeros(rt, [4096, 8]);
  try {
    await withBindingLimit(rt, 8 * 1024, undefined, async (stats) => {
      await expectError(() => softmax(x), /softmax: 32768 bytes .* at most 8192 bytes/);
      await expectError(() => matmul(a, b), /matmul: 8×4096·4096×8 .* at most 8192 bytes/);
      if (stats.dispatches !== 0) throw new Error(`${stats.dispatches} dispatches were recorded`);
    });
  } finally {
    for (const t of [x, a, b]) t.dispose();
  }
});

async function expectError(fn: () => Promise<unknown>, re: RegExp): Promise<void> {
  try {
    await fn();
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    if (!re.test(msg) || msg.includes("\n")) throw new Error(`unexpected error: ${msg}`);
    return;
  }
  throw new Error(`expected an error matching ${re}`);
}

function hash(s: string): number {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
  return h >>> 0;
}
