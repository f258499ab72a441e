// The float64 CPU reference against the ONNX export run by onnxruntime-web (wasm, f32): two
// independent implementations of the spec that must agree to f32 rounding, so either can later
// judge the WebGPU model. Weights come with randomised LayerNorms so a swapped weight/bias shows.

import { type ClipConfig, clipConfig, initClipWeights, type Weights } from "../../lib/models/config.ts";
import { imageTowerReference, textTowerReference, vifiLogitsReference } from "../../lib/models/reference.ts";
import { exportImageTower, exportTextTower, exportVifiLogits } from "../../lib/models/weights/onnx-export.ts";
import { Rng, sessionSeed } from "../../lib/random/rng.ts";

// deno-lint-ignore no-explicit-any
type Ort = any;

let ortError = "";
async function loadOrt(): Promise<Ort | null> {
  try {
    const ort = await import("npm:onnxruntime-web@1.30.0");
    ort.env.wasm.numThreads = 1;
    ort.env.logLevel = "error";
    return ort;
  } catch (e) {
    ortError = e instanceof Error ? e.message : String(e);
    return null;
  }
}

const ort = await loadOrt();
if (!ort) console.log(`reference/onnx tests skipped: onnxruntime-web cannot be imported (${ortError})`);

const seed = sessionSeed();
console.log(`reference/onnx tests: seed ${seed} (replay with VIFI_SEED=${seed})`);

const TOL = 1e-5;

function relErr(got: ArrayLike<number>, want: ArrayLike<number>): number {
  if (got.length !== want.length) throw new Error(`length ${got.length} ≠ ${want.length}`);
  let num = 0, den = 0;
  for (let i = 0; i < want.length; i++) {
    num += (got[i] - want[i]) ** 2;
    den += want[i] ** 2;
  }
  return Math.sqrt(num / den);
}

function expectClose(what: string, got: ArrayLike<number>, want: ArrayLike<number>, tol = TOL): number {
  const e = relErr(got, want);
  console.log(`  ${what}: relative error ${e.toExponential(2)}`);
  if (!(e < tol)) throw new Error(`${what}: relative error ${e} ≥ ${tol} (seed ${seed})`);
  return e;
}

function frames(rng: Rng, n: number): Float32Array {
  // Roughly the range of CLIP-normalised pixels.
  return Float32Array.from({ length: n }, () => 1.5 * rng.normal());
}

/** Rows of random ids below EOT, EOT (= vocab − 1), zero padding; lengths differ and one row is full. */
function tokens(rng: Rng, cfg: ClipConfig, C: number): Int32Array {
  const { context: L, vocab: V } = cfg.text;
  const out = new Int32Array(C * L);
  const used = new Set<number>();
  for (let c = 0; c < C; c++) {
    let len = c === 0 ? L - 1 : rng.int(L - 1);
    while (c > 0 && c < L - 1 && used.has(len)) len = rng.int(L - 1);
    used.add(len);
    for (let t = 0; t < len; t++) out[c * L + t] = rng.int(V - 1);
    out[c * L + len] = V - 1;
  }
  return out;
}

async function run(model: Uint8Array, feeds: Record<string, unknown>): Promise<Record<string, Float32Array>> {
  const session = await ort.InferenceSession.create(model, { graphOptimizationLevel: "all" });
  try {
    const res = await session.run(feeds);
    const out: Record<string, Float32Array> = {};
    for (const [k, v] of Object.entries(res)) out[k] = (v as { data: Float32Array }).data;
    return out;
  } finally {
    await session.release();
  }
}

const tiny = clipConfig("tiny");
const frameTensor = (data: Float32Array, dims: number[]) => new ort.Tensor("float32", data, dims);
const tokenTensor = (ids: Int32Array, C: number, L: number) =>
  new ort.Tensor("int64", BigInt64Array.from(ids, (v) => BigInt(v)), [C, L]);

Deno.test({
  name: "image tower: onnxruntime on the export matches the float64 reference (tiny)",
  ignore: !ort,
  fn: async () => {
    const rng = new Rng(seed ^ 1);
    const w = initClipWeights(tiny, rng.int(2 ** 31), { randomNorms: true });
    const N = 3, R = tiny.vision.resolution;
    const x = frames(rng, N * 3 * R * R);
    const ref = imageTowerReference(tiny, w, x, N);
    const got = await run(exportImageTower(tiny, w, { frames: N }), { frames: frameTensor(x, [N, 3, R, R]) });
    expectClose("image_embeds", got.image_embeds, ref);
  },
});

Deno.test({
  name:
    "text tower: onnxruntime on the export matches the float64 reference (tiny, causal mask, EOT pooling)",
  ignore: !ort,
  fn: async () => {
    const rng = new Rng(seed ^ 2);
    const w = initClipWeights(tiny, rng.int(2 ** 31), { randomNorms: true });
    const C = 5, L = tiny.text.context;
    const ids = tokens(rng, tiny, C);
    // A second EOT in the padding of the shortest row: pooling must take the first (torch.argmax).
    const rowLen = (c: number) => ids.subarray(c * L, (c + 1) * L).indexOf(tiny.text.vocab - 1);
    const shortest = [...Array(C).keys()].reduce((a, c) => (rowLen(c) < rowLen(a) ? c : a));
    ids[shortest * L + L - 1] = tiny.text.vocab - 1;
    const ref = textTowerReference(tiny, w, ids, C);
    const got = await run(exportTextTower(tiny, w, { classes: C }), { tokens: tokenTensor(ids, C, L) });
    expectClose("text_embeds", got.text_embeds, ref);
  },
});

Deno.test({
  name: "ViFi-CLIP logits: onnxruntime on the export matches the float64 reference (tiny)",
  ignore: !ort,
  fn: async () => {
    const rng = new Rng(seed ^ 3);
    const w = initClipWeights(tiny, rng.int(2 ** 31), { randomNorms: true });
    const B = 2, T = 3, C = 4, R = tiny.vision.resolution, L = tiny.text.context;
    const x = frames(rng, B * T * 3 * R * R);
    const ids = tokens(rng, tiny, C);
    const ref = vifiLogitsReference(tiny, w, x, B, T, ids, C);
    const got = await run(exportVifiLogits(tiny, w, { batch: B, frames: T, classes: C }), {
      frames: frameTensor(x, [B, T, 3, R, R]),
      tokens: tokenTensor(ids, C, L),
    });
    expectClose("logits", got.logits, ref.logits);
    expectClose("video_embeds", got.video_embeds, ref.video);
    expectClose("text_embeds_normalized", got.text_embeds_normalized, ref.text);
  },
});

Deno.test({
  name: "image tower: onnxruntime matches the float64 reference at ViT-B/16 sizes (1 frame)",
  ignore: !ort,
  fn: async () => {
    // The image tower reads only the vision config and embedDim, so a tiny text tower keeps the
    // random initialisation (and memory) to the image side's 86 M parameters.
    const b16 = clipConfig("ViT-B/16");
    const cfg: ClipConfig = { ...b16, name: "ViT-B/16 image side", text: tiny.text };
    const rng = new Rng(seed ^ 4);
    const w = initClipWeights(cfg, rng.int(2 ** 31), { randomNorms: true });
    const R = cfg.vision.resolution;
    const x = frames(rng, 3 * R * R);
    let t0 = performance.now();
    const ref = imageTowerReference(cfg, w, x, 1);
    console.log(`  float64 reference: ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    t0 = performance.now();
    const got = await run(exportImageTower(cfg, w, { frames: 1 }), { frames: frameTensor(x, [1, 3, R, R]) });
    console.log(`  export + onnxruntime: ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    expectClose("image_embeds", got.image_embeds, ref);
  },
});

Deno.test("export: a weight of the wrong shape is named with both shapes", () => {
  const w: Weights = initClipWeights(tiny, 7);
  const name = "visual.transformer.resblocks.1.mlp.c_fc.weight";
  const D = tiny.vision.width;
  w.set(name, { shape: [D, 4 * D], data: new Float32Array(4 * D * D) });
  const want = [name, `[${D}, ${4 * D}]`, `[${4 * D}, ${D}]`];
  for (
    const exporter of [
      () => exportImageTower(tiny, w, { frames: 1 }),
      () => exportVifiLogits(tiny, w, { batch: 1, frames: 1, classes: 1 }),
    ]
  ) {
    let msg = "";
    try {
      exporter();
    } catch (e) {
      msg = e instanceof Error ? e.message : String(e);
    }
    for (const s of want) {
      if (!msg.includes(s)) {
        throw new Error(`expected an error mentioning ${s}, got ${JSON.stringify(msg)}`);
      }
    }
  }
  // The text tower does not use that tensor, so it still exports.
  exportTextTower(tiny, w, { classes: 1 });
  const t = "text_projection";
  w.set(t, {
    shape: [tiny.embedDim, tiny.text.width + 1],
    data: new Float32Array(tiny.embedDim * (tiny.text.width + 1)),
  });
  let msg = "";
  try {
    exportTextTower(tiny, w, { classes: 1 });
  } catch (e) {
    msg = e instanceof Error ? e.message : String(e);
  }
  if (!msg.includes(t) || !msg.includes(`[${tiny.text.width}, ${tiny.embedDim}]`)) {
    throw new Error(`unexpected error ${JSON.stringify(msg)}`);
  }
});
