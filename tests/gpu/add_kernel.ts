// A one-line kernel for the lib/gpu tests: dst[i] = src[i] + k for i < n, with k and n in a uniform
// block, so a test can see which uniform bytes and which buffers a dispatch actually read.

import type { BufferPool } from "../../lib/gpu/buffer-pool.ts";
import type { Runtime } from "../../lib/gpu/runtime.ts";

const ADD = `struct P { k: f32, n: u32 };
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;
@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) g: vec3u) {
  if (g.x < p.n) { dst[g.x] = src[g.x] + p.k; }
}`;

export function addPipeline(rt: Runtime): GPUComputePipeline {
  const module = rt.device.createShaderModule({ code: ADD });
  return rt.device.createComputePipeline({ layout: "auto", compute: { module, entryPoint: "main" } });
}

/** The uniform block of the add kernel: k as f32, n as u32. */
export function addParams(k: number, n: number): ArrayBuffer {
  const b = new ArrayBuffer(16);
  new Float32Array(b, 0, 1)[0] = k;
  new Uint32Array(b, 4, 1)[0] = n;
  return b;
}

export async function readF32(rt: Runtime, buf: GPUBuffer, n: number): Promise<number[]> {
  return [...new Float32Array(await rt.read(buf, 0, n * 4))];
}

/**
 * Acquire buffers of `bytes` until the pool has to create one: every buffer of that size class that
 * the pool would hand out now (the last one is new). The caller releases them.
 */
export function drain(pool: BufferPool, bytes: number): GPUBuffer[] {
  const created = pool.stats.buffersCreated;
  const got: GPUBuffer[] = [];
  while (pool.stats.buffersCreated === created) got.push(pool.acquire(bytes, "drain"));
  return got;
}
