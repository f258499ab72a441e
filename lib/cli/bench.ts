// `deno task bench [--json FILE] [--reps N] [--filter TEXT]`: kernel speed at CLIP ViT-B/16 shapes,
// each beside the same computation run by onnxruntime-web (wasm) in this process, with the ratio.
// Both sides are wall time: ours per op over a batch of reps in one submit, onnxruntime's per
// session.run (which includes its input copies); best of 3 rounds for both.

import { loadExperiments } from "../dsl/load.ts";
import { runExperiment } from "../train/trainer.ts";
import { parseArgs } from "node:util";
import { getRuntime, type Runtime } from "../gpu/runtime.ts";
import { encodeOnnx, type OnnxGraph } from "../io/onnx.ts";
import { Rng } from "../random/rng.ts";
import { attentionPacked } from "../tensor/ops/attention.ts";
import { layerNorm } from "../tensor/ops/layernorm.ts";
import { matmul } from "../tensor/ops/matmul.ts";
import { type DType, Tensor } from "../tensor/tensor.ts";
import { Tape } from "../autograd/tape.ts";
import { clipConfig, initClipWeights } from "../models/config.ts";
import { vifiForwardFlops } from "../models/flops.ts";
import { randomTokens } from "../models/parity.ts";
import { ViFiClip } from "../models/vifi.ts";
import { AdamW } from "../train/optimizer.ts";
import { CompiledStep, eagerStep } from "../train/step.ts";
import { benchTokenizer } from "./bench/tokenizer.ts";
import { benchVideoPipeline } from "./bench/video.ts";
import { generateSynthetic } from "../data/synthetic.ts";
import { parseList } from "../data/lists.ts";
import { VideoLoader } from "../data/loader.ts";
import { defaultCacheDir } from "../io/download.ts";
import { dashboardLoadRows, leaderboardBenchRow } from "./bench/dashboard.ts";
import { intArg } from "./args.ts";

export interface BenchRow {
  op: string;
  shape: string;
  dtype: string;
  /** compute-bound ops */
  gflops?: number;
  /** memory-bound ops */
  gbps?: number;
  ms: number;
  ref: string | null;
  ref_gflops?: number | null;
  ref_gbps?: number | null;
  ref_ms: number | null;
  /** ours / reference (higher is better for us) */
  ratio: number | null;
  /** model rows: frames per second, CPU share of the step, GPU memory high-water mark */
  frames_per_s?: number;
  host_share?: number;
  peak_mb?: number;
  dispatches?: number;
  /** tokenizer rows */
  prompts_per_s?: number;
  prompts_per_s_cached?: number;
  /** training row: videos per second trained, the loader alone, and the share of step time spent waiting for data */
  videos_per_s?: number;
  loader_videos_per_s?: number;
  data_share?: number;
  /** video pipeline rows: per output frame, and samples fed to the decoder per output frame */
  decode_ms?: number;
  transform_ms?: number;
  samples_per_frame?: number;
}

/**
 * Milliseconds per run: `reps` runs recorded into one submit with one wait at the end, so the ~11 ms
 * a GPU round trip costs in Deno is spread over the reps, and everything the op records (copies into
 * textures included, which timestamp queries inside passes would miss) is counted. Best of 3 rounds.
 */
async function timeGpu(rt: Runtime, reps: number, run: () => Promise<Tensor[]>): Promise<number> {
  for (const t of await run()) t.dispose(); // compile and warm up
  await rt.sync();
  const rounds: number[] = [];
  for (let r = 0; r < 3; r++) {
    const t0 = performance.now();
    for (let i = 0; i < reps; i++) for (const t of await run()) t.dispose();
    await rt.sync();
    rounds.push((performance.now() - t0) / reps);
  }
  return Math.min(...rounds);
}

// deno-lint-ignore no-explicit-any
type Ort = any;

async function loadOrt(): Promise<Ort | null> {
  try {
    const ort = await import("npm:onnxruntime-web@1.30.0");
    ort.env.wasm.numThreads = Math.max(1, navigator.hardwareConcurrency ?? 1);
    ort.env.logLevel = "error";
    return ort;
  } catch (e) {
    console.error(`onnxruntime-web unavailable, no reference column: ${e instanceof Error ? e.message : e}`);
    return null;
  }
}

async function timeOrt(
  ort: Ort,
  graph: OnnxGraph,
  feeds: Record<string, { data: Float32Array; dims: number[] }>,
  reps: number,
): Promise<number> {
  const session = await ort.InferenceSession.create(encodeOnnx(graph), { graphOptimizationLevel: "all" });
  const f: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(feeds)) f[k] = new ort.Tensor("float32", v.data, v.dims);
  await session.run(f);
  const rounds: number[] = [];
  for (let r = 0; r < 3; r++) {
    const t0 = performance.now();
    for (let i = 0; i < reps; i++) await session.run(f);
    rounds.push((performance.now() - t0) / reps);
  }
  await session.release();
  return Math.min(...rounds);
}

function matmulGraph(M: number, K: number, N: number, w: Float32Array): OnnxGraph {
  return {
    name: "matmul",
    nodes: [{ op: "MatMul", inputs: ["x", "w"], outputs: ["y"] }],
    inputs: [{ name: "x", type: "float", dims: [M, K] }],
    outputs: [{ name: "y", type: "float", dims: [M, N] }],
    initializers: [{ name: "w", type: "float", dims: [K, N], data: w }],
  };
}

function attentionGraph(B: number, L: number, H: number, dh: number): OnnxGraph {
  const D = H * dh;
  const i64 = (xs: number[]) => new BigInt64Array(xs.map(BigInt));
  const split = (name: string) => [
    { op: "Reshape", inputs: [name, "heads_shape"], outputs: [`${name}4`] },
    {
      op: "Transpose",
      inputs: [`${name}4`],
      outputs: [`${name}h`],
      attributes: [{ name: "perm", value: [0, 2, 1, 3] }],
    },
  ];
  return {
    name: "attention",
    nodes: [
      ...split("q"),
      ...split("k"),
      ...split("v"),
      {
        op: "Transpose",
        inputs: ["kh"],
        outputs: ["kt"],
        attributes: [{ name: "perm", value: [0, 1, 3, 2] }],
      },
      { op: "MatMul", inputs: ["qh", "kt"], outputs: ["s"] },
      { op: "Mul", inputs: ["s", "scale"], outputs: ["ss"] },
      { op: "Softmax", inputs: ["ss"], outputs: ["p"], attributes: [{ name: "axis", value: -1 }] },
      { op: "MatMul", inputs: ["p", "vh"], outputs: ["oh"] },
      {
        op: "Transpose",
        inputs: ["oh"],
        outputs: ["o4"],
        attributes: [{ name: "perm", value: [0, 2, 1, 3] }],
      },
      { op: "Reshape", inputs: ["o4", "out_shape"], outputs: ["y"] },
    ],
    inputs: ["q", "k", "v"].map((name) => ({ name, type: "float" as const, dims: [B, L, D] })),
    outputs: [{ name: "y", type: "float", dims: [B, L, D] }],
    initializers: [
      { name: "heads_shape", type: "int64", dims: [4], data: i64([B, L, H, dh]) },
      { name: "out_shape", type: "int64", dims: [3], data: i64([B, L, D]) },
      { name: "scale", type: "float", dims: [], data: new Float32Array([1 / Math.sqrt(dh)]) },
    ],
  };
}

function layerNormGraph(M: number, N: number, w: Float32Array, b: Float32Array): OnnxGraph {
  return {
    name: "layernorm",
    nodes: [{
      op: "LayerNormalization",
      inputs: ["x", "w", "b"],
      outputs: ["y"],
      attributes: [{ name: "axis", value: -1 }, { name: "epsilon", value: 1e-5, float: true }],
    }],
    inputs: [{ name: "x", type: "float", dims: [M, N] }],
    outputs: [{ name: "y", type: "float", dims: [M, N] }],
    initializers: [{ name: "w", type: "float", dims: [N], data: w }, {
      name: "b",
      type: "float",
      dims: [N],
      data: b,
    }],
  };
}

/** The reference columns of a row: onnxruntime-web's time (null when it could not be loaded) and our ratio. */
function against(refMs: number | null, ms: number): Pick<BenchRow, "ref" | "ref_ms" | "ratio"> {
  return refMs === null
    ? { ref: null, ref_ms: null, ratio: null }
    : { ref: "onnxruntime-web wasm f32", ref_ms: refMs, ratio: refMs / ms };
}

export interface BenchOptions {
  reps: number;
  filter?: string;
  onRow?: (r: BenchRow) => void;
}

export async function runBench(rt: Runtime, o: BenchOptions): Promise<BenchRow[]> {
  const ort = await loadOrt();
  const rng = new Rng(1);
  const rows: BenchRow[] = [];
  const dtypes: DType[] = rt.gpu.features.f16 ? ["f32", "f16"] : ["f32"];
  const want = (op: string, shape: string) => !o.filter || `${op} ${shape}`.includes(o.filter);
  const emit = (r: BenchRow) => {
    rows.push(r);
    o.onRow?.(r);
  };
  const refCache = new Map<string, number | null>();
  const ref = async (key: string, f: () => Promise<number>) => {
    if (!refCache.has(key)) refCache.set(key, ort ? await f() : null);
    return refCache.get(key)!;
  };

  // Linear layers of ViT-B/16 over 8 frames (M = 197·8) as x·Wᵀ with W stored [out, in], and 1024³.
  for (const [M, K, N] of [[1576, 768, 768], [1576, 768, 3072], [1576, 3072, 768], [1024, 1024, 1024]]) {
    const shape = `${M}x${K}x${N}`;
    if (!want("matmul", shape)) continue;
    const x = rng.array(M * K);
    const w = rng.array(N * K);
    const flop = 2 * M * N * K;
    const refMs = await ref(`mm${shape}`, () => {
      const wT = new Float32Array(K * N);
      for (let n = 0; n < N; n++) for (let k = 0; k < K; k++) wT[k * N + n] = w[n * K + k];
      return timeOrt(
        ort,
        matmulGraph(M, K, N, wT),
        { x: { data: Float32Array.from(x), dims: [M, K] } },
        o.reps,
      );
    });
    for (const dtype of dtypes) {
      const tx = Tensor.from(rt, x, [M, K], dtype);
      const tw = Tensor.from(rt, w, [N, K], dtype);
      const ms = await timeGpu(rt, o.reps, async () => [await matmul(tx, tw, { transB: true })]);
      tx.dispose();
      tw.dispose();
      const gflops = flop / ms / 1e6;
      emit({
        op: "matmul",
        shape,
        dtype,
        gflops,
        ms,
        ...against(refMs, ms),
        ref_gflops: refMs === null ? null : flop / refMs / 1e6,
      });
    }
  }

  // Self-attention of one ViT-B/16 layer over 8 frames: 12 heads × 197 tokens × 64.
  {
    const [B, L, H, dh] = [8, 197, 12, 64];
    const D = H * dh;
    const shape = `${B}x${H}x${L}x${dh}`;
    if (want("attention", shape)) {
      const qkv = rng.array(B * L * 3 * D);
      const flop = 2 * 2 * B * H * L * L * dh;
      const refMs = await ref("attn", () => {
        const part = (j: number) => {
          const out = new Float32Array(B * L * D);
          for (let r = 0; r < B * L; r++) {
            for (let c = 0; c < D; c++) out[r * D + c] = qkv[r * 3 * D + j * D + c];
          }
          return { data: out, dims: [B, L, D] };
        };
        return timeOrt(ort, attentionGraph(B, L, H, dh), { q: part(0), k: part(1), v: part(2) }, o.reps);
      });
      for (const dtype of dtypes) {
        const t = Tensor.from(rt, qkv, [B, L, 3 * D], dtype);
        const ms = await timeGpu(rt, o.reps, async () => {
          const r = await attentionPacked(t, { heads: H });
          return [r.out, r.probs];
        });
        t.dispose();
        emit({
          op: "attention",
          shape,
          dtype,
          gflops: flop / ms / 1e6,
          ms,
          ...against(refMs, ms),
          ref_gflops: refMs === null ? null : flop / refMs / 1e6,
        });
      }
    }
  }

  // LayerNorm over the ViT residual stream: memory-bound, so GB/s of x read + y written.
  {
    const [M, N] = [1576, 768];
    const shape = `${M}x${N}`;
    if (want("layernorm", shape)) {
      const x = rng.array(M * N);
      const w = rng.array(N);
      const b = rng.array(N);
      const refMs = await ref(
        "ln",
        () =>
          timeOrt(ort, layerNormGraph(M, N, Float32Array.from(w), Float32Array.from(b)), {
            x: { data: Float32Array.from(x), dims: [M, N] },
          }, o.reps),
      );
      for (const dtype of dtypes) {
        const bytesPer = dtype === "f16" ? 2 : 4;
        const tx = Tensor.from(rt, x, [M, N], dtype);
        const tw = Tensor.from(rt, w, [N], dtype);
        const tb = Tensor.from(rt, b, [N], dtype);
        const ms = await timeGpu(rt, o.reps, async () => {
          const r = await layerNorm(tx, tw, tb);
          return [r.y, r.mean, r.rstd];
        });
        for (const t of [tx, tw, tb]) t.dispose();
        const bytes = 2 * M * N * bytesPer;
        emit({
          op: "layernorm",
          shape,
          dtype,
          gbps: bytes / ms / 1e6,
          ms,
          ...against(refMs, ms),
          ref_gbps: refMs === null ? null : (2 * M * N * 4) / refMs / 1e6,
        });
      }
    }
  }
  await modelBench(rt, want, emit);
  if (want("tokenizer", "K400 prompts")) await tokenizerRow(emit);
  if (want("video-pipeline", "H.264")) await videoPipelineRows(emit);
  if (want("train", "synthetic")) await trainingRow(rt, emit);
  if (want("dashboard leaderboard page", "5000 runs")) emit(await leaderboardBenchRow(5000));
  if (want("dashboard load", "5000 runs")) { for (const r of await dashboardLoadRows(5000)) emit(r); }
  return rows;
}

/** Decode + sample + transform on one core (lib/cli/bench/video.ts), beside decoding from the start of the file. */
async function videoPipelineRows(emit: (r: BenchRow) => void) {
  for (const r of await benchVideoPipeline()) {
    emit({
      op: "video-pipeline",
      shape: `${r.clip} → train 224², T=${r.frames}`,
      dtype: "-",
      ms: 1000 / r.frames_per_s,
      frames_per_s: r.frames_per_s,
      decode_ms: r.decode_ms,
      transform_ms: r.transform_ms,
      samples_per_frame: r.samples_per_frame,
      ref: "decoding from the start of the file",
      ref_ms: 1000 / r.ref_frames_per_s,
      ratio: r.frames_per_s / r.ref_frames_per_s,
    });
  }
}

/**
 * The demo's experiment (experiments/synthetic.exp.ts) training for a fixed number of steps, after the
 * compile: videos/s, the share of the loop spent waiting for the loader, and the loader alone measured
 * in the same run as the reference (a ratio near 1 would mean data loading is the bottleneck).
 */
async function trainingRow(rt: Runtime, emit: (r: BenchRow) => void) {
  const dir = await Deno.makeTempDir();
  try {
    await generateSynthetic(`${dir}/data`, { seed: 1, clipsPerClass: 8 });
    Deno.env.set("VIFI_SYNTHETIC_DIR", `${dir}/data`);
    const file = new URL("../../experiments/synthetic.exp.ts", import.meta.url).pathname;
    const [exp] = await loadExperiments(file, { overrides: { output: `${dir}/train` } });
    exp.evals = [];
    const warm = 2, steps = 12;
    let t0 = 0, w0 = 0, n = 0;
    const r = await runExperiment(rt, exp, {
      maxIterations: warm + steps,
      onProgress: () => {
        if (++n === warm) t0 = performance.now();
        w0 = performance.now();
      },
    });
    const seconds = (w0 - t0) / 1000;
    const B = exp.train!.batch;
    const videosPerS = (steps * B) / seconds;
    const items = parseList(await Deno.readTextFile(`${dir}/data/base_train.txt`), "base_train.txt");
    const loader = new VideoLoader(items, {
      root: `${dir}/data`,
      batch: B,
      frames: exp.data.frames,
      mode: "train",
      size: exp.model.inputSize,
      workers: exp.data.workers,
      seed: 1,
    });
    for await (const _ of loader.epoch(0)) break; // worker start-up
    const l0 = performance.now();
    let videos = 0;
    for await (const b of loader.epoch(1)) videos += b.shape[0];
    const loaderPerS = videos / ((performance.now() - l0) / 1000);
    loader.close();
    emit({
      op: "train",
      shape: `synthetic exp, B=${B} T=${exp.data.frames} ${exp.model.inputSize}²`,
      dtype: exp.model.precision,
      ms: (1000 * seconds) / steps,
      videos_per_s: videosPerS,
      loader_videos_per_s: loaderPerS,
      data_share: r.timing.dataSeconds / Math.max(r.timing.trainSeconds, 1e-9),
      ref: "loader alone",
      ref_ms: (1000 * B) / loaderPerS,
      ratio: loaderPerS / videosPerS,
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** CLIP BPE throughput on the K400 class prompts (CPU; no reference engine in this process). */
async function tokenizerRow(emit: (r: BenchRow) => void) {
  const candidates = [
    new URL("../../../shared/reference/vificlip-data/clip/bpe_simple_vocab_16e6.txt.gz", import.meta.url),
    new URL(`file://${defaultCacheDir()}/bpe_simple_vocab_16e6.txt.gz`),
  ];
  const vocab = candidates.find((u) => {
    try {
      return Deno.statSync(u).isFile;
    } catch {
      return false;
    }
  });
  if (!vocab) {
    console.error(
      "bench: tokenizer row skipped (no BPE vocabulary; run `deno task weights download ViT-B/16`)",
    );
    return;
  }
  const r = await benchTokenizer(vocab.pathname);
  emit({
    op: "tokenizer",
    shape: `K400 prompts (${r.classes})`,
    dtype: "-",
    ms: 1000 / r.prompts_per_s,
    prompts_per_s: r.prompts_per_s,
    prompts_per_s_cached: r.prompts_per_s_cached,
    ref: null,
    ref_ms: null,
    ratio: null,
  });
}

/**
 * ViFi-CLIP ViT-B/16 on 1 video × 8 frames at 224² with 8 classes (random weights): an eager
 * forward pass, and a training step (both towers, AdamW) compiled to a plan and replayed.
 */
async function modelBench(
  rt: Runtime,
  want: (op: string, shape: string) => boolean,
  emit: (r: BenchRow) => void,
) {
  const config = clipConfig("ViT-B/16");
  const [B, T, C] = [1, 8, 8];
  const shape = `ViT-B/16 ${B}x${T}x224² C=${C}`;
  const doForward = want("vifi-forward", shape);
  const doTrain = want("vifi-train-step", shape);
  if (!doForward && !doTrain) return;
  const rng = new Rng(3);
  const model = ViFiClip.fromWeights(rt, config, initClipWeights(config, 3), "frozen");
  const R = config.vision.resolution;
  const frames = Tensor.from(rt, rng.normals(B * T * 3 * R * R), [B, T, 3, R, R], "f32", "frames");
  const tokens = randomTokens(config, C, rng);
  const targets = Tensor.from(rt, Array.from({ length: B * C }, (_, i) => (i % C === 0 ? 1 : 0)), [B, C]);
  const forwardFlops = vifiForwardFlops(config, B, T, C);
  const base = { shape, dtype: "f32", ref: null, ref_ms: null, ratio: null };
  try {
    if (doForward) {
      rt.pool.resetPeaks();
      const run = async () => {
        const tape = new Tape();
        const t0 = performance.now();
        await model.forward(tape, frames, tokens, C);
        const host = performance.now() - t0;
        await rt.sync();
        const wall = performance.now() - t0;
        tape.dispose();
        return { host, wall };
      };
      model.dropTextCache();
      await run(); // compile pipelines, fill the class-embedding cache
      const { host, wall } = await run();
      emit({
        ...base,
        op: "vifi-forward",
        ms: wall,
        gflops: forwardFlops / wall / 1e6,
        frames_per_s: (B * T) / (wall / 1000),
        host_share: host / wall,
        peak_mb: rt.pool.stats.peakInUseBytes / 2 ** 20,
      });
    }
    if (doTrain) {
      model.setVariant("both");
      const opt = new AdamW(model.trainable());
      const batch = { frames, tokens, classes: C, targets };
      rt.pool.resetPeaks();
      await eagerStep(model, opt, batch, 1e-6); // creates gradients and moments
      const step = await CompiledStep.compile(model, opt, batch, 1e-6);
      await rt.sync();
      const t0 = performance.now();
      await step.run(1e-6);
      await rt.sync();
      const wall = performance.now() - t0;
      const report = await step.report();
      const ms = report.deviceMs ?? wall;
      // Backward costs about twice the forward of everything that trains (here: both towers).
      const flops = 3 * forwardFlops;
      emit({
        ...base,
        op: "vifi-train-step",
        ms,
        gflops: flops / ms / 1e6,
        frames_per_s: (B * T) / (ms / 1000),
        host_share: report.hostMs / ms,
        peak_mb: report.peakBytes / 2 ** 20,
        dispatches: report.dispatches,
      });
      step.dispose();
      opt.dispose();
    }
  } finally {
    frames.dispose();
    targets.dispose();
    model.dispose();
  }
}

function fmt(x: number | null | undefined, digits = 1): string {
  return x === null || x === undefined ? "—" : x.toFixed(digits);
}

function printRow(r: BenchRow) {
  if (r.op === "video-pipeline") {
    console.log(
      `| ${r.op} | ${r.shape} | ${fmt(r.frames_per_s, 0)} frames/s on one core | decode ${
        fmt(r.decode_ms, 2)
      } ms + transform ${fmt(r.transform_ms, 2)} ms per frame | ${
        fmt(r.samples_per_frame, 1)
      } samples decoded per frame | ${r.ref} ${fmt(1000 / r.ref_ms!, 0)} frames/s | ${fmt(r.ratio, 2)}× |`,
    );
    return;
  }
  if (r.videos_per_s !== undefined) {
    console.log(
      `| ${r.op.padEnd(9)} | ${r.shape} | ${r.dtype} | ${fmt(r.videos_per_s, 1)} videos/s | ${
        fmt(r.ms, 0)
      } ms/step | ` +
        `loader alone ${fmt(r.loader_videos_per_s!, 1)} videos/s | ${fmt(r.ratio!, 1)}× | ` +
        `waiting for data ${(100 * r.data_share!).toFixed(1)} % |`,
    );
    return;
  }
  if (r.prompts_per_s !== undefined) {
    console.log(
      `| ${r.op.padEnd(9)} | ${r.shape} | ${fmt(r.prompts_per_s, 0)} prompts/s (word cache cleared), ` +
        `${fmt(r.prompts_per_s_cached, 0)} prompts/s (cached) |`,
    );
    return;
  }
  if (r.frames_per_s !== undefined) {
    console.log(
      `| ${r.op.padEnd(9)} | ${r.shape} | ${r.dtype} | ${fmt(r.gflops)} GFLOP/s | ${fmt(r.ms, 0)} ms | ` +
        `${fmt(r.frames_per_s, 2)} frames/s | host ${(100 * r.host_share!).toFixed(1)} % | ` +
        `peak ${fmt(r.peak_mb, 0)} MiB${r.dispatches ? ` | ${r.dispatches} dispatches` : ""} |`,
    );
    return;
  }
  if (r.gflops === undefined && r.gbps === undefined) {
    // time-only rows (the dashboard's page render, whose bar is the issue's 200 ms budget)
    console.log(`| ${r.op} | ${r.shape} | ${fmt(r.ms, 1)} ms |`);
    return;
  }
  const speed = r.gflops !== undefined ? `${fmt(r.gflops)} GFLOP/s` : `${fmt(r.gbps)} GB/s`;
  const refSpeed = r.gflops !== undefined ? `${fmt(r.ref_gflops)} GFLOP/s` : `${fmt(r.ref_gbps)} GB/s`;
  console.log(
    `| ${r.op.padEnd(9)} | ${r.shape.padEnd(15)} | ${r.dtype} | ${speed.padStart(14)} | ${
      fmt(r.ms, 2).padStart(8)
    } | ` +
      `${refSpeed.padStart(14)} | ${fmt(r.ref_ms, 2).padStart(8)} | ${
        r.ratio === null ? "—" : r.ratio.toFixed(2) + "×"
      } |`,
  );
}

if (import.meta.main) {
  const { values } = parseArgs({
    options: {
      json: { type: "string" },
      reps: { type: "string", default: "3" },
      filter: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    console.log(
      "usage: deno task bench [--json FILE] [--reps N] [--filter TEXT]\n" +
        "  GFLOP/s (GB/s for layernorm) of vifi's kernels at ViT-B/16 shapes vs onnxruntime-web (wasm), same run",
    );
    Deno.exit(0);
  }
  let reps = 0;
  try {
    reps = intArg(values.reps, "reps", 3, 1);
  } catch (e) {
    console.error(`bench: ${(e as Error).message}`);
    Deno.exit(2);
  }
  const rt = await getRuntime();
  console.log(
    `adapter: ${rt.gpu.info.description}; f16 ${rt.gpu.features.f16 ? "yes" : "no"}; ` +
      `wall time per op, ${reps} reps per submit, best of 3 rounds`,
  );
  console.log(
    "| op        | shape           | dt  |           vifi |    ms    |      reference |    ms    | ratio |\n" +
      "|-----------|-----------------|-----|----------------|----------|----------------|----------|-------|",
  );
  const rows = await runBench(rt, { reps, filter: values.filter, onRow: printRow });
  console.log(
    "reference: onnxruntime-web 1.30 (wasm, SIMD, threads = cores), f32, same process; ratio = reference ms / vifi ms",
  );
  if (values.json) {
    await Deno.writeTextFile(values.json, JSON.stringify(rows, null, 2) + "\n");
    console.log(`wrote ${values.json}`);
  }
}
