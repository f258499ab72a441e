// The uniform arena: aligned slots packed into 64 KiB buffers; the eager arena hands its slots out
// again after each upload (and marks the old ones stale), a plan's persistent arena never does and
// can rewrite a slot's bytes in place.

import { assert, assertEquals, assertThrows } from "../data/assert.ts";
import { getRuntime } from "../../lib/gpu/runtime.ts";
import { UniformArena } from "../../lib/gpu/uniform-arena.ts";
import { addParams, addPipeline, readF32 } from "./add_kernel.ts";

type Slot = { buffer: GPUBuffer; offset: number; size: number };

Deno.test("slots are aligned, rounded to 16 bytes, and a full 64 KiB chunk starts a new buffer", async () => {
  const rt = await getRuntime();
  const arena = new UniformArena(rt.device, 256);
  try {
    const s0 = arena.slot(new Uint8Array(12)) as Slot;
    const s1 = arena.slot(new Float32Array(5)) as Slot;
    assertEquals([s0.offset, s0.size, s1.offset, s1.size], [0, 16, 256, 32]);
    assert(s0.buffer === s1.buffer, "two small slots in different buffers");
    for (let i = 2; i < 256; i++) arena.slot(new Uint8Array(16));
    const last = arena.slot(new Uint8Array(16)) as Slot;
    assert(last.buffer !== s0.buffer && last.offset === 0, "the 257th 256-byte-aligned slot did not move on");
    // Alignment is at least 16 even where the adapter allows less.
    const fine = new UniformArena(rt.device, 4);
    const [a, b] = [fine.slot(new Uint8Array(4)), fine.slot(new Uint8Array(4))] as Slot[];
    assertEquals([a.offset, b.offset], [0, 16]);
    fine.destroy();
    assertThrows(() => arena.slot(new Uint8Array(64 * 1024 + 1)), "too large");
  } finally {
    arena.destroy();
  }
});

Deno.test("the eager arena reuses its slots after upload() and marks the old ones stale", async () => {
  const rt = await getRuntime();
  const arena = new UniformArena(rt.device, 256);
  try {
    const s0 = arena.slot(addParams(1, 1)) as Slot;
    arena.slot(addParams(2, 1));
    assertEquals(arena.issued.get(s0), 0);
    arena.upload(rt.device.queue);
    assertEquals(arena.generation, 1);
    const s2 = arena.slot(addParams(3, 1)) as Slot;
    assert(s2.buffer === s0.buffer && s2.offset === 0, "the eager arena did not start over after upload()");
    assertEquals(arena.issued.get(s2), 1);
    assertEquals(arena.issued.get(s0), 0);
  } finally {
    arena.destroy();
  }
});

Deno.test("the runtime refuses a uniform slot made before a flush", async () => {
  const rt = await getRuntime();
  const pipe = addPipeline(rt);
  const [src, dst] = [rt.pool.acquire(256, "src"), rt.pool.acquire(256, "dst")];
  const u = rt.uniform(addParams(1, 1));
  rt.flush();
  assertThrows(() => rt.dispatch(pipe, [u, src, dst], [1], { label: "stale.add" }), "made before a flush");
  rt.pool.release(src);
  rt.pool.release(dst);
  rt.flush();
});

Deno.test("a persistent arena keeps its slots; rewrite() changes what the next dispatch reads", async () => {
  const rt = await getRuntime();
  const pipe = addPipeline(rt);
  const arena = new UniformArena(rt.device, rt.gpu.limits.minUniformBufferOffsetAlignment, true);
  const n = 64;
  const src = rt.upload(new Float32Array(n).fill(1), "src");
  const out = rt.pool.acquire(n * 4, "out");
  try {
    const s0 = arena.slot(addParams(5, n)) as Slot;
    const s1 = arena.slot(addParams(7, n)) as Slot;
    arena.upload(rt.device.queue);
    const s2 = arena.slot(addParams(9, n)) as Slot;
    assert(s2.offset > s1.offset && s1.offset > s0.offset, "a persistent arena handed a slot out again");
    assertEquals(arena.generation, 0);
    arena.upload(rt.device.queue);
    rt.dispatch(pipe, [s1, src, out], [1], { label: "arena.add" });
    assertEquals(await readF32(rt, out, n), new Array(n).fill(8));
    // Every slot kept its bytes through the second upload.
    rt.dispatch(pipe, [s0, src, out], [1], { label: "arena.add" });
    assertEquals(await readF32(rt, out, n), new Array(n).fill(6));
    arena.rewrite(rt.device.queue, s0, addParams(-4, n));
    rt.dispatch(pipe, [s0, src, out], [1], { label: "arena.add" });
    assertEquals(await readF32(rt, out, n), new Array(n).fill(-3));
    rt.dispatch(pipe, [s2, src, out], [1], { label: "arena.add" });
    assertEquals(await readF32(rt, out, n), new Array(n).fill(10));
    const other = new UniformArena(rt.device, 256, true);
    const foreign = other.slot(addParams(0, 0)) as Slot;
    assertThrows(() => arena.rewrite(rt.device.queue, foreign, addParams(1, 1)), "not in this arena");
    other.destroy();
  } finally {
    arena.destroy();
    rt.pool.release(src);
    rt.pool.release(out);
    rt.flush();
  }
});
