// The GPU error gate: WebGPU skips an invalid command and reports it asynchronously, so without the
// gate a read after it returns whatever the buffer held (zeros, or NaN from the pool's poison).

import { assert, assertEquals } from "../data/assert.ts";
import { getRuntime, type Runtime } from "../../lib/gpu/runtime.ts";
import { BindingLimitError, GpuError } from "../../lib/gpu/errors.ts";

const WRITE_ONE = `@group(0) @binding(0) var<storage, read_write> a: array<f32>;
@compute @workgroup_size(1) fn main() { a[0] = 1.0; }`;

async function rejects<E extends Error>(
  p: () => Promise<unknown>,
  type: new (...a: never[]) => E,
): Promise<E> {
  try {
    await p();
  } catch (e) {
    if (e instanceof type) return e;
    throw new Error(`expected ${type.name}, got ${e}`);
  }
  throw new Error(`expected ${type.name}, nothing was thrown`);
}

function throws<E extends Error>(f: () => unknown, type: new (...a: never[]) => E): E {
  try {
    f();
  } catch (e) {
    if (e instanceof type) return e;
    throw new Error(`expected ${type.name}, got ${e}`);
  }
  throw new Error(`expected ${type.name}, nothing was thrown`);
}

function writeOnePipeline(rt: Runtime): GPUComputePipeline {
  const module = rt.device.createShaderModule({ code: WRITE_ONE });
  return rt.device.createComputePipeline({ layout: "auto", compute: { module, entryPoint: "main" } });
}

Deno.test("a binding larger than maxStorageBufferBindingSize is refused before it is recorded", async () => {
  const rt = await getRuntime();
  const pipeline = writeOnePipeline(rt);
  const buf = rt.pool.acquire(4096, "gate-test");
  const limits = rt.gpu.limits;
  const saved = limits.maxStorageBufferBindingSize;
  const dispatchesBefore = rt.dispatches;
  limits.maxStorageBufferBindingSize = 1024;
  try {
    const e = throws(
      () => rt.dispatch(pipeline, [buf], [1], { label: "gate.write" }),
      BindingLimitError,
    );
    assert(e.message.includes("gate.write") && e.message.includes("1024"), e.message);
    // A window of the buffer that fits is accepted.
    rt.dispatch(pipeline, [{ buffer: buf, offset: 0, size: 1024 }], [1], { label: "gate.write" });
  } finally {
    limits.maxStorageBufferBindingSize = saved;
  }
  assertEquals(rt.dispatches, dispatchesBefore + 1);
  const out = new Float32Array(await rt.read(buf, 0, 4));
  assertEquals(out[0], 1);
  rt.pool.release(buf);
});

Deno.test("an invalid dispatch makes the next read throw, naming the op", async () => {
  const rt = await getRuntime();
  const pipeline = writeOnePipeline(rt);
  const good = rt.pool.acquire(256, "gate-test");
  rt.clear(good);
  // A buffer without STORAGE usage: the bind group is invalid and WebGPU skips the dispatch.
  const bad = rt.device.createBuffer({ size: 256, usage: GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC });
  rt.dispatch(pipeline, [bad], [1], { label: "gate.bad-usage" });
  rt.dispatch(pipeline, [good], [1], { label: "gate.after" });
  const e = await rejects(() => rt.read(good, 0, 4), GpuError);
  assert(e.message.includes("gate.bad-usage"), e.message);
  assert(!e.message.includes("\n"), "one line");
  // WebGPU drops the whole command buffer that held the invalid dispatch. Reported once: new work,
  // with nothing new gone wrong, runs and reads back.
  rt.dispatch(pipeline, [good], [1], { label: "gate.after" });
  assertEquals(new Float32Array(await rt.read(good, 0, 4))[0], 1);
  bad.destroy();
  rt.pool.release(good);
});

Deno.test("an error outside the runtime's scopes is still thrown at the next sync", async () => {
  const rt = await getRuntime();
  // MAP_READ may only be combined with COPY_DST: a validation error, reported asynchronously.
  rt.device.createBuffer({ size: 16, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.STORAGE });
  // The uncaptured-error event arrives on a later task.
  await new Promise((r) => setTimeout(r, 0));
  await rejects(() => rt.sync(), GpuError);
  await rt.sync();
});
