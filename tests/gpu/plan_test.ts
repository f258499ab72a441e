// Compiled plans: the buffers a captured step used stay the plan's while it lives (eager code never
// gets them), come back to the pool after dispose() and the next submit, and run() rewrites the
// dynamic uniforms while the static ones keep their captured bytes.

import { assert, assertEquals } from "../data/assert.ts";
import { getRuntime, type Runtime } from "../../lib/gpu/runtime.ts";
import type { Plan } from "../../lib/gpu/plan.ts";
import { addParams, addPipeline, drain, readF32 } from "./add_kernel.ts";

const N = 64;
const BYTES = N * 4;

/** Capture `record` into a plan; a failed recording still ends the capture (the runtime is shared). */
function capture(rt: Runtime, record: () => void): Plan {
  rt.beginCapture();
  try {
    record();
  } catch (e) {
    rt.endCapture().dispose();
    throw e;
  }
  return rt.endCapture();
}

/** True when eager code can be handed `buf` now (the drained buffers are given back, pending). */
function eagerCanGet(rt: Runtime, buf: GPUBuffer): boolean {
  const got = drain(rt.pool, BYTES);
  for (const b of got) rt.pool.release(b);
  return got.includes(buf);
}

Deno.test("a plan keeps its intermediates until dispose(), then they return to the pool", async () => {
  const rt = await getRuntime();
  const pipe = addPipeline(rt);
  const input = rt.upload(new Float32Array(N).fill(1), "input");
  const out = rt.pool.acquire(BYTES, "out");
  rt.flush();
  let k = 10;
  let tmp: GPUBuffer | undefined;
  const plan = capture(rt, () => {
    tmp = rt.pool.acquire(BYTES, "plan.tmp");
    rt.dispatch(pipe, [rt.uniformFrom(() => addParams(k, N)), input, tmp], [1], { label: "plan.dynamic" });
    rt.dispatch(pipe, [rt.uniform(addParams(100, N)), tmp, out], [1], { label: "plan.static" });
    rt.pool.release(tmp);
  });
  try {
    // The capture ran the step eagerly too.
    assertEquals(await readF32(rt, out, N), new Array(N).fill(111));
    assertEquals(plan.stats().dispatches, 2);
    assertEquals(plan.stats().planBytes, BYTES);
    rt.flush();
    assert(!eagerCanGet(rt, tmp!), "eager code got a buffer a live plan owns");

    // A replay recomputes the dynamic uniform (k) and keeps the static one (100).
    k = 20;
    plan.run();
    assertEquals(await readF32(rt, out, N), new Array(N).fill(121));
    // The plan reads its inputs' current contents.
    rt.write(input, new Float32Array(N).fill(5));
    k = -3;
    plan.run();
    assertEquals(await readF32(rt, out, N), new Array(N).fill(102));
    assertEquals(plan.runs, 2);
    rt.flush();
    assert(!eagerCanGet(rt, tmp!), "a replay gave the plan's buffer to the pool");
  } finally {
    plan.dispose();
  }
  // Released by dispose(), reusable after the next submit (commands already queued may read it).
  assert(!eagerCanGet(rt, tmp!), "a disposed plan's buffer was reusable before a submit");
  assertEquals(plan.stats().planBytes, 0);
  rt.flush();
  assert(eagerCanGet(rt, tmp!), "a disposed plan's buffer never came back to the pool");
  rt.pool.release(input);
  rt.pool.release(out);
  rt.flush();
});

Deno.test("during a capture buffers are reused by liveness; CPU-written and pre-capture ones are not", async () => {
  const rt = await getRuntime();
  const before = rt.pool.acquire(BYTES, "before");
  rt.flush();
  const bufs: Record<string, GPUBuffer> = {};
  const plan = capture(rt, () => {
    const a = bufs.a = rt.pool.acquire(BYTES, "a");
    rt.pool.release(a);
    // The next acquire of the size takes the buffer released mid-step: the replay follows the same order.
    bufs.b = rt.pool.acquire(BYTES, "b");
    assert(bufs.b === a, "a buffer released during the capture was not reused by the next acquire");
    // One the CPU fills now must be fresh: a write into a buffer the step already used lands too early.
    rt.pool.release(bufs.b);
    bufs.c = rt.pool.acquire(BYTES, "c", true);
    assert(bufs.c !== a, "a CPU-write acquire got a buffer the step used");
    // A constant written during the capture is pinned: released, it is never handed out again.
    bufs.d = rt.upload(new Float32Array(N).fill(4), "d");
    rt.pool.release(bufs.d);
    // A buffer from before the capture, released during it, is adopted by the plan (it may read it).
    rt.pool.release(before);
    bufs.e = rt.pool.acquire(BYTES, "e");
    assert(bufs.e === a, "the free buffer of the capture was not reused");
    bufs.f = rt.pool.acquire(BYTES, "f");
    assert(
      bufs.f !== bufs.d && bufs.f !== before && bufs.f !== bufs.c,
      "a pinned or adopted buffer was reused",
    );
    rt.pool.release(bufs.c);
    rt.pool.release(bufs.e);
    rt.pool.release(bufs.f);
  });
  try {
    assert(rt.pool.scope === undefined, "the capture scope outlived endCapture()");
    // a (= e), c, d (pinned and released), f and the adopted one.
    assertEquals(plan.stats().planBytes, 5 * BYTES);
    rt.flush();
    const free = drain(rt.pool, BYTES);
    for (const b of free) rt.pool.release(b);
    for (const [name, b] of Object.entries({ ...bufs, before })) {
      assert(!free.includes(b), `eager code got the live plan's buffer ${name}`);
    }
  } finally {
    plan.dispose();
  }
  rt.flush();
  const free = drain(rt.pool, BYTES);
  for (const b of free) rt.pool.release(b);
  for (const [name, b] of Object.entries({ ...bufs, before })) {
    assert(free.includes(b), `the disposed plan's buffer ${name} did not come back`);
  }
  rt.flush();
});

Deno.test("a plan runs after the eager work recorded before it (a copy into its input still unsubmitted)", async () => {
  const rt = await getRuntime();
  const pipe = addPipeline(rt);
  const input = rt.upload(new Float32Array(N).fill(1), "input");
  const fresh = rt.upload(new Float32Array(N).fill(7), "fresh");
  const out = rt.pool.acquire(BYTES, "out");
  rt.flush();
  const plan = capture(rt, () => {
    rt.dispatch(pipe, [rt.uniform(addParams(100, N)), input, out], [1], { label: "plan.add" });
  });
  try {
    assertEquals(await readF32(rt, out, N), new Array(N).fill(101));
    // recorded in the runtime's open encoder, not submitted: the plan must still see it
    rt.copyBuffer(fresh, 0, input, 0, BYTES);
    plan.run();
    assertEquals(await readF32(rt, out, N), new Array(N).fill(107));
  } finally {
    plan.dispose();
    for (const b of [input, fresh, out]) rt.pool.release(b);
    rt.flush();
  }
});
