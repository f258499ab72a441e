// A plan submitted in pieces (run({ at, between })) computes what one submit computes, bit
// for bit; the hook runs exactly between the pieces (a copy it submits sees the buffers as the commands
// before the split left them, and not what later commands do to them); lastUse() names the last
// command touching a buffer, so a gradient copied out at its lastUse + 1 is already final.

import { assert, assertEquals } from "../data/assert.ts";
import { getRuntime, type Runtime } from "../../lib/gpu/runtime.ts";
import type { Plan } from "../../lib/gpu/plan.ts";
import { crossEntropyFn, layerNormFn, linear, quickGeluFn } from "../../lib/autograd/functions.ts";
import { Param, Tape, Var } from "../../lib/autograd/tape.ts";
import { Rng } from "../../lib/random/rng.ts";
import { Tensor } from "../../lib/tensor/tensor.ts";
import { addParams, addPipeline } from "./add_kernel.ts";

async function captured(rt: Runtime, record: () => void | Promise<void>): Promise<Plan> {
  rt.beginCapture();
  try {
    await record();
  } catch (e) {
    rt.endCapture().dispose();
    throw e;
  }
  return rt.endCapture();
}

async function f32(rt: Runtime, buf: GPUBuffer, n: number): Promise<Float32Array> {
  return new Float32Array(await rt.read(buf, 0, n * 4));
}

function sameBits(a: Float32Array, b: Float32Array, what: string): void {
  assertEquals(a.length, b.length, what);
  const ua = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const ub = new Uint32Array(b.buffer, b.byteOffset, b.length);
  const i = ua.findIndex((x, k) => x !== ub[k]);
  assert(i < 0, `${what}: element ${i} is ${a[i]}, not ${b[i]}`);
}

Deno.test("plan segments: copies, clears and dispatches split anywhere give one submit's bits; the hook sits between", async () => {
  const rt = await getRuntime();
  const pipe = addPipeline(rt);
  for (const n of [1, 77, 257]) {
    const x = Float32Array.from(new Rng(n).normals(n));
    const bytes = n * 4;
    const input = rt.upload(x, "input");
    const [t1, t2, t3, out, probe] = ["t1", "t2", "t3", "out", "probe"].map((l) => rt.pool.acquire(bytes, l));
    const unrelated = rt.pool.acquire(bytes, "unrelated");
    rt.flush();
    let k = 0.25;
    const wg = [Math.ceil(n / 64)] as const;
    const plan = await captured(rt, () => {
      rt.dispatch(pipe, [rt.uniform(addParams(1.5, n)), input, t1], wg); // 0: t1 = x + 1.5
      rt.copyBuffer(t1, 0, t2, 0, bytes); // 1
      rt.dispatch(pipe, [rt.uniform(addParams(-3.25, n)), t2, t1], wg); // 2: t1 = x − 1.75
      rt.clear(t3); // 3
      rt.dispatch(pipe, [rt.uniform(addParams(0.5, n)), t1, t3], wg); // 4: t3 = x − 1.25
      rt.dispatch(pipe, [rt.uniformFrom(() => addParams(k, n)), t3, out], wg); // 5: out = t3 + k
    });
    try {
      assertEquals(plan.commands.length, 6);
      assertEquals([t1, t2, t3, out, input].map((b) => plan.lastUse(b)), [4, 2, 5, 5, 0]);
      assertEquals(plan.lastUse(unrelated), -1);
      k = 7.125;
      plan.run();
      const want = await Promise.all([t1, t2, t3, out].map((b) => f32(rt, b, n)));
      // t1 as the hook sees it at each split: before command 0 it holds the capture's last value
      const t1At = (split: number) => split <= 2 ? want[1] : want[0];
      const splitSets = [[0], [1], [2], [3], [4], [5], [6], [0, 6], [1, 2, 3], [0, 1, 2, 3, 4, 5, 6], [2, 5]];
      for (const at of splitSets) {
        // poisoned: every output starts as NaN, so a piece that did not run shows
        // the hook copies t1 as it is then; with the poison, t1 before command 0 is NaN
        for (const b of [t1, t2, t3, out]) rt.write(b, new Float32Array(n).fill(NaN));
        const seen: number[] = [];
        const probes: GPUBuffer[] = [];
        k = 7.125;
        plan.run({
          at,
          between: (i) => {
            seen.push(i);
            const p = rt.pool.acquire(bytes, "probe");
            probes.push(p);
            rt.copyBuffer(t1, 0, p, 0, bytes);
            rt.flush();
          },
        });
        assertEquals(seen, at.map((_, i) => i), `hook calls for splits ${at}`);
        const got = await Promise.all([t1, t2, t3, out].map((b) => f32(rt, b, n)));
        got.forEach((g, j) => sameBits(g, want[j], `n ${n}, splits ${at}: buffer ${j}`));
        for (let i = 0; i < at.length; i++) {
          const p = await f32(rt, probes[i], n);
          if (at[i] === 0) assert(p.every(Number.isNaN), `n ${n}: the hook at 0 saw t1 computed`);
          else sameBits(p, t1At(at[i]), `n ${n}: t1 seen by the hook at split ${at[i]}`);
          rt.pool.release(probes[i]);
        }
      }
      for (const at of [[3, 3], [2, 1], [-1], [7], [1.5]]) {
        let msg = "";
        try {
          plan.run({ at, between: () => {} });
        } catch (e) {
          msg = (e as Error).message;
        }
        assert(msg.includes("plan segments: split") && !msg.includes("\n"), `splits ${at}: ${msg}`);
      }
    } finally {
      plan.dispose();
      for (const b of [input, t1, t2, t3, out, probe, unrelated]) rt.pool.release(b);
      rt.flush();
    }
  }
});

Deno.test("plan segments: a backward split at every gradient's lastUse + 1 gives one submit's gradients, each final there", async () => {
  const rt = await getRuntime();
  const rng = new Rng(5);
  const B = 77, D = 33, H = 57, C = 5;
  const param = (shape: number[], name: string, scale = 0.3) =>
    new Param(
      Tensor.from(
        rt,
        Float32Array.from(rng.normals(shape.reduce((a, b) => a * b)), (v) => v * scale),
        shape,
        "f32",
        name,
      ),
      true,
      name,
    );
  const w1 = param([H, D], "w1"), b1 = param([H], "b1"), g = param([H], "ln.w"), beta = param([H], "ln.b");
  const w2 = param([C, H], "w2"), b2 = param([C], "b2");
  const params = [w1, b1, g, beta, w2, b2];
  const x = Tensor.from(rt, Float32Array.from(rng.normals(B * D)), [B, D], "f32", "x");
  const targets = new Float32Array(B * C);
  for (let i = 0; i < B; i++) targets[i * C + rng.int(C)] = 1;
  const tgt = Tensor.from(rt, targets, [B, C], "f32", "targets");
  for (const p of params) p.gradBuffer();
  const plan = await captured(rt, async () => {
    const tape = new Tape();
    try {
      const h = await linear(tape, new Var(x, false, "x"), w1, b1);
      const y = await linear(tape, await quickGeluFn(tape, await layerNormFn(tape, h, g, beta)), w2, b2);
      await tape.backward(await crossEntropyFn(tape, y, tgt));
    } finally {
      tape.dispose();
    }
  });
  try {
    const grads = async () =>
      await Promise.all(params.map((p) => p.gradBuffer().read() as Promise<Float32Array>));
    const zero = () => params.forEach((p) => p.zeroGrad());
    zero();
    plan.run();
    const want = await grads();
    for (const [i, w] of want.entries()) assert(w.some((v) => v !== 0), `${params[i].name}: zero gradient`);
    const last = params.map((p) => plan.lastUse(p.gradBuffer().buffer));
    assert(last.every((l) => l >= 0 && l < plan.commands.length), `lastUse ${last}`);
    const finalAt = [...new Set(last.map((l) => l + 1))].sort((a, b) => a - b);
    const every3 = Array.from({ length: Math.floor(plan.commands.length / 3) }, (_, i) => 3 * i + 1);
    for (const at of [finalAt, every3, [0, plan.commands.length]]) {
      for (const p of params) rt.write(p.gradBuffer().buffer, new Float32Array(p.value.size).fill(NaN));
      zero();
      // at each split, the gradients whose last use is just before it are copied out: already final
      const early = new Map<number, Tensor>();
      plan.run({
        at,
        between: (i) => {
          params.forEach((p, j) => {
            if (last[j] + 1 !== at[i]) return;
            const t = Tensor.empty(rt, p.value.shape, "f32", `early ${p.name}`);
            rt.copyBuffer(p.gradBuffer().buffer, 0, t.buffer, 0, p.value.size * 4);
            early.set(j, t);
          });
          rt.flush();
        },
      });
      const got = await grads();
      got.forEach((v, j) => sameBits(v, want[j], `${params[j].name} split at ${at.length} places`));
      for (const [j, t] of early) {
        sameBits((await t.read()) as Float32Array, want[j], `${params[j].name} copied at its lastUse + 1`);
        t.dispose();
      }
      if (at === finalAt) assertEquals(early.size, params.length, "a gradient was not copied early");
    }
  } finally {
    plan.dispose();
    for (const p of params) p.dispose();
    x.dispose();
    tgt.dispose();
  }
});
