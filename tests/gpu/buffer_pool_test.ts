// The buffer pool: buffers are reused by size class, a released buffer is handed out again only after
// the submit that last used it, and poison / trim / the limits behave as documented.

import { assert, assertEquals, assertThrows } from "../data/assert.ts";
import { bucketSize, BufferPool } from "../../lib/gpu/buffer-pool.ts";
import { getRuntime } from "../../lib/gpu/runtime.ts";
import { addParams, addPipeline, drain, readF32 } from "./add_kernel.ts";

Deno.test("bucketSize: at least the request, a multiple of 16, powers of two up to 1 MiB, ≤ 12.5 % waste above", () => {
  assertEquals([0, 1, 16, 17, 100, 128, 129].map(bucketSize), [16, 16, 16, 32, 128, 128, 256]);
  assertEquals(bucketSize(1 << 20), 1 << 20);
  // Above 1 MiB: 16 steps per power of two, so 1 MiB + 1 byte rounds to 9/8 MiB, not 2 MiB.
  assertEquals(bucketSize((1 << 20) + 1), 9 * (1 << 17));
  let prev = 0;
  for (let bytes = 1; bytes < 1 << 27; bytes = Math.ceil(bytes * 1.37) + 3) {
    const b = bucketSize(bytes);
    assert(b >= bytes && b % 16 === 0 && b >= prev, `bucketSize(${bytes}) = ${b}`);
    if (bytes > 1 << 20) assert(b <= bytes * 1.125, `bucketSize(${bytes}) = ${b} wastes > 12.5 %`);
    prev = b;
  }
});

Deno.test("a released buffer is reused by any request of its size class, after recycle()", async () => {
  const rt = await getRuntime();
  const pool = new BufferPool(rt.device, rt.gpu.limits.maxBufferSize);
  try {
    const a = pool.acquire(100, "a");
    assertEquals(a.size, 128);
    assertEquals(pool.stats.inUseBytes, 128);
    pool.release(a);
    assertEquals(pool.stats.inUseBytes, 0);
    // Not before the owner's submit: the recorded commands may still read it.
    const b = pool.acquire(100, "b");
    assert(b !== a, "a pending buffer was handed out before recycle()");
    pool.release(b);
    pool.recycle();
    const c = pool.acquire(120, "c");
    assert(c === a || c === b, "a free buffer of the same class was not reused");
    const other = pool.acquire(129, "other");
    assert(other !== a && other !== b && other.size === 256, "a 256-byte request got a 128-byte buffer");
    assertEquals(pool.stats.buffersCreated, 3);
    assertEquals(pool.stats.reuses, 1);
    assertEquals(pool.stats.inUseBytes, 128 + 256);
    assertEquals(pool.stats.allocatedBytes, 128 + 128 + 256);
    assertEquals(pool.stats.peakInUseBytes, 128 + 256);
    pool.release(c);
    pool.release(other);
    pool.recycle();
    // trim() destroys the idle buffers and gives their bytes back.
    pool.trim();
    assertEquals(pool.stats.allocatedBytes, 0);
    const d = pool.acquire(100, "d");
    assert(d !== a && d !== b, "trim() kept a buffer");
    pool.release(d);
  } finally {
    pool.recycle();
    pool.trim();
  }
});

Deno.test("poison fills every handed-out buffer with 0xFF bytes, reused ones included", async () => {
  const rt = await getRuntime();
  const pool = new BufferPool(rt.device, rt.gpu.limits.maxBufferSize);
  pool.poison = true;
  try {
    const a = pool.acquire(64, "a");
    rt.device.queue.writeBuffer(a, 0, new Float32Array(16).fill(3));
    pool.release(a);
    pool.recycle();
    const b = pool.acquire(64, "b");
    assert(b === a, "not reused");
    const bytes = new Uint8Array(await rt.read(b, 0, 64));
    assert(bytes.every((x) => x === 0xff), `not poisoned: ${bytes.slice(0, 8)}`);
    pool.release(b);
  } finally {
    pool.recycle();
    pool.trim();
  }
});

Deno.test("the pool refuses what it cannot serve: over maxBufferSize, a bad size, a foreign buffer", async () => {
  const rt = await getRuntime();
  const pool = new BufferPool(rt.device, 1024);
  assertThrows(
    () => pool.acquire(2000, "big"),
    "big needs 2000 bytes but this adapter's maxBufferSize is 1024",
  );
  assertThrows(() => pool.acquire(NaN), "cannot allocate NaN bytes");
  assertThrows(() => pool.acquire(-1), "cannot allocate -1 bytes");
  const foreign = rt.device.createBuffer({ size: 16, usage: GPUBufferUsage.STORAGE });
  assertThrows(() => pool.release(foreign), "did not create");
  foreign.destroy();
  assertEquals(pool.stats.buffersCreated, 0);
});

Deno.test("the runtime's pool hands a released buffer out again only after the submit that last used it", async () => {
  const rt = await getRuntime();
  const pipe = addPipeline(rt);
  rt.flush();
  const n = 64;
  const src = rt.upload(new Float32Array(n).fill(7), "src");
  const out = rt.pool.acquire(n * 4, "out");
  // Recorded, not submitted: src is still to be read.
  rt.dispatch(pipe, [rt.uniform(addParams(1, n)), src, out], [1], { label: "pool.add" });
  rt.pool.release(src);
  const early = drain(rt.pool, n * 4);
  assert(!early.includes(src), "a buffer was handed out before the submit that reads it");
  // Had src come back, this write would land before the dispatch and change its result.
  for (const b of early) rt.device.queue.writeBuffer(b, 0, new Float32Array(n).fill(-1));
  assertEquals(await readF32(rt, out, n), new Array(n).fill(8));
  for (const b of early) rt.pool.release(b);
  // read() submitted: now src is free again.
  rt.flush();
  const later = drain(rt.pool, n * 4);
  assert(later.includes(src), "a buffer released before a submit never came back");
  for (const b of later) rt.pool.release(b);
  rt.pool.release(out);
  rt.flush();
});
