// The only module that talks to navigator.gpu: it negotiates limits and features once, so every
// kernel can trust `gpu.limits` and `gpu.features` instead of probing the adapter itself.

import { chooseGpuForThisProcess } from "../dist/launch.ts";

export interface GpuFeatures {
  /** `shader-f16` is exposed AND a known-answer f16 kernel returned the right numbers. */
  f16: boolean;
  /** `shader-f16` is exposed by the adapter (even if the self-test failed). */
  f16Exposed: boolean;
  timestamps: boolean;
  /** `subgroups` (WGSL `enable subgroups;`): the matmul "tiled-sg" variant shares operands through it. */
  subgroups: boolean;
}

export interface GpuLimits {
  maxBufferSize: number;
  maxStorageBufferBindingSize: number;
  maxStorageBuffersPerShaderStage: number;
  maxComputeWorkgroupStorageSize: number;
  maxComputeInvocationsPerWorkgroup: number;
  maxComputeWorkgroupSizeX: number;
  maxComputeWorkgroupsPerDimension: number;
  minUniformBufferOffsetAlignment: number;
  minStorageBufferOffsetAlignment: number;
  maxUniformBufferBindingSize: number;
}

export interface AdapterSummary {
  description: string;
  vendor: string;
  architecture: string;
  device: string;
  isFallbackAdapter: boolean;
  /** true for software rasterisers (llvmpipe/lavapipe, SwiftShader, WARP): tile choices differ. */
  software: boolean;
}

export interface Gpu {
  device: GPUDevice;
  adapter: GPUAdapter;
  info: AdapterSummary;
  limits: GpuLimits;
  features: GpuFeatures;
  /**
   * Validation and out-of-memory errors, and a lost device. WebGPU skips an invalid command silently,
   * so in-place ops would quietly do nothing: the runtime throws the first new one at the next read.
   */
  errors: string[];
}

const LIMIT_NAMES: (keyof GpuLimits)[] = [
  "maxBufferSize",
  "maxStorageBufferBindingSize",
  "maxStorageBuffersPerShaderStage",
  "maxComputeWorkgroupStorageSize",
  "maxComputeInvocationsPerWorkgroup",
  "maxComputeWorkgroupSizeX",
  "maxComputeWorkgroupsPerDimension",
  "minUniformBufferOffsetAlignment",
  "minStorageBufferOffsetAlignment",
  "maxUniformBufferBindingSize",
];

export class NoGpuError extends Error {
  constructor(detail: string) {
    super(
      `vifi: no WebGPU adapter (${detail}).\n` +
        "  On a machine without a GPU install Mesa's software Vulkan driver:\n" +
        "    sudo apt-get install -y mesa-vulkan-drivers   (Debian/Ubuntu)\n" +
        "  and run with DENO_WEBGPU_BACKEND=vulkan (an empty or unknown value also hides every adapter).\n" +
        "  On a machine with a GPU, install its Vulkan (Linux), Metal (macOS) or D3D12 (Windows) driver.",
    );
    this.name = "NoGpuError";
  }
}

let cached: Promise<Gpu> | undefined;

/** The process-wide GPU. Repeated calls share one device, so pipelines and pools are shared too. */
export function requestGpu(): Promise<Gpu> {
  cached ??= openGpu().catch((e) => {
    cached = undefined;
    throw e;
  });
  return cached;
}

async function openGpu(): Promise<Gpu> {
  quietMesa();
  // A rank of a data-parallel job takes its own GPU: the environment that picks it must be set before
  // this first requestAdapter creates wgpu's (and Vulkan's) instance.
  chooseGpuForThisProcess();
  if (typeof navigator === "undefined" || !("gpu" in navigator) || !navigator.gpu) {
    throw new NoGpuError("this runtime has no navigator.gpu");
  }
  const adapter = await navigator.gpu.requestAdapter({ powerPreference: "high-performance" });
  if (!adapter) {
    let backend: string | undefined;
    try {
      if (typeof Deno !== "undefined") backend = Deno.env.get("DENO_WEBGPU_BACKEND");
    } catch { /* no env permission: nothing to report */ }
    throw new NoGpuError(
      backend === undefined
        ? "requestAdapter() returned null"
        : `requestAdapter() returned null with DENO_WEBGPU_BACKEND=${JSON.stringify(backend)}`,
    );
  }
  // Ask for what the adapter has, not the spec defaults: the defaults (128 MiB bindings, 8 storage
  // buffers) are far below what real GPUs offer and would cap the batch size for no reason.
  const requiredLimits: Record<string, number> = {};
  for (const name of LIMIT_NAMES) {
    requiredLimits[name] = (adapter.limits as unknown as Record<string, number>)[name];
  }
  const requiredFeatures: GPUFeatureName[] = [];
  const f16Exposed = adapter.features.has("shader-f16");
  if (f16Exposed) requiredFeatures.push("shader-f16");
  const timestamps = adapter.features.has("timestamp-query");
  if (timestamps) requiredFeatures.push("timestamp-query");
  const subgroups = adapter.features.has("subgroups" as GPUFeatureName);
  if (subgroups) requiredFeatures.push("subgroups" as GPUFeatureName);
  const device = await adapter.requestDevice({ requiredLimits, requiredFeatures });
  const errors: string[] = [];
  // Collected here, thrown by the runtime at the next read or sync (Runtime.checkErrors), so they fail
  // the command instead of scrolling past as warnings.
  device.addEventListener("uncapturederror", (ev) => {
    errors.push((ev as GPUUncapturedErrorEvent).error.message);
  });
  device.lost.then((info) => {
    if (info.reason !== "destroyed") errors.push(`device lost (${info.reason}): ${info.message}`);
  });
  const limits = {} as GpuLimits;
  for (const name of LIMIT_NAMES) limits[name] = (device.limits as unknown as Record<string, number>)[name];
  const ai = adapter.info;
  const description = ai.description || ai.device || "unknown adapter";
  const info: AdapterSummary = {
    description,
    vendor: String(ai.vendor ?? ""),
    architecture: String(ai.architecture ?? ""),
    device: String(ai.device ?? ""),
    isFallbackAdapter: Boolean((ai as unknown as { isFallbackAdapter?: boolean }).isFallbackAdapter),
    // By description only: Chromium leaves it empty and names SwiftShader as the architecture, so there
    // the choices are a real GPU's, which is the path `doctor --browser` should cover (lavapipe's is
    // covered under Deno; its unrolled kernels also take SwiftShader 15-25 s each to compile).
    software: /llvmpipe|lavapipe|swiftshader|warp|software/i.test(description),
  };
  const f16 = f16Exposed ? await f16Works(device) : false;
  return { device, adapter, info, limits, features: { f16, f16Exposed, timestamps, subgroups }, errors };
}

/** Some wgpu versions exposed `shader-f16` yet returned zeros (denoland/deno#23125): trust only a known answer. */
async function f16Works(device: GPUDevice): Promise<boolean> {
  const code = `enable f16;
@group(0) @binding(0) var<storage, read> a: array<f16>;
@group(0) @binding(1) var<storage, read_write> o: array<f32>;
@compute @workgroup_size(4) fn main(@builtin(global_invocation_id) g: vec3u) {
  let i = g.x;
  let x = a[i] * f16(1.5) + f16(0.25);
  o[i] = f32(x);
}`;
  try {
    device.pushErrorScope("validation");
    const module = device.createShaderModule({ code });
    const pipeline = device.createComputePipeline({
      layout: "auto",
      compute: { module, entryPoint: "main" },
    });
    const input = new Float16Array([1, -2, 0.5, 1000]);
    const a = device.createBuffer({ size: 8, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST });
    device.queue.writeBuffer(a, 0, input);
    const o = device.createBuffer({ size: 16, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC });
    const r = device.createBuffer({ size: 16, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    const bg = device.createBindGroup({
      layout: pipeline.getBindGroupLayout(0),
      entries: [{ binding: 0, resource: { buffer: a } }, { binding: 1, resource: { buffer: o } }],
    });
    const enc = device.createCommandEncoder();
    const pass = enc.beginComputePass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bg);
    pass.dispatchWorkgroups(1);
    pass.end();
    enc.copyBufferToBuffer(o, 0, r, 0, 16);
    device.queue.submit([enc.finish()]);
    const err = await device.popErrorScope();
    if (err) return false;
    await r.mapAsync(GPUMapMode.READ);
    const out = new Float32Array(r.getMappedRange().slice(0));
    r.unmap();
    a.destroy();
    o.destroy();
    r.destroy();
    const want = [1.75, -2.75, 1, 1500.25];
    // 1500.25 is not representable in f16 (spacing 1 at 1024..2048): 1500 is the exact f16 answer.
    want[3] = Math.fround(new Float16Array([1500.25])[0]);
    return out.every((v, i) => v === want[i]);
  } catch {
    return false;
  }
}

/** lavapipe prints "XDG_RUNTIME_DIR is invalid" without one; give it a private directory when we may. */
function quietMesa() {
  if (typeof Deno === "undefined") return; // a browser page (doctor --browser): its own GPU process
  try {
    if (!Deno.env.get("XDG_RUNTIME_DIR")) {
      const dir = `${Deno.env.get("TMPDIR") ?? "/tmp"}/vifi-xdg`;
      Deno.mkdirSync(dir, { recursive: true, mode: 0o700 });
      Deno.env.set("XDG_RUNTIME_DIR", dir);
    }
  } catch { /* no permission (e.g. imported from a URL without --allow-env): the warning is harmless */ }
}
