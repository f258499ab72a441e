// ViT-B/16 widths (768 wide, 12 heads, 16×16 patches of 224² frames, MLP 3072) with many frames at
// once, on the adapter's real storage binding limit (128 MiB on lavapipe): at 64 frames the MLP
// activations (155 MB) and at 128 frames also the attention scores and the packed qkv are larger than
// one binding, so every op must split its work. Depth is one block (random weights, f32) to keep CI
// time and memory in bounds; every block has the same shapes.

import { Tape } from "../../lib/autograd/tape.ts";
import { getRuntime, type Runtime } from "../../lib/gpu/runtime.ts";
import { type ClipConfig, clipConfig, initClipWeights } from "../../lib/models/config.ts";
import { randomTokens } from "../../lib/models/parity.ts";
import { ViFiClip } from "../../lib/models/vifi.ts";
import { Rng, sessionSeed } from "../../lib/random/rng.ts";
import { Tensor } from "../../lib/tensor/tensor.ts";
import { AdamW } from "../../lib/train/optimizer.ts";
import { CompiledStep } from "../../lib/train/step.ts";
import { withBindingLimit } from "../tensor/binding_guard.ts";
import { exclusiveTest } from "../exclusive.ts";

const seed = sessionSeed();
console.log(`large batch tests: seed ${seed} (replay with VIFI_SEED=${seed})`);

const base = clipConfig("ViT-B/16");
/** ViT-B/16's image tower at depth 1; a tiny text tower (it does not scale with frames). */
const config: ClipConfig = {
  ...base,
  name: "ViT-B/16 width, 1 block",
  vision: { ...base.vision, layers: 1 },
  text: clipConfig("tiny").text,
};
const R = config.vision.resolution;

/** Projected per-frame embeddings [N, E] of frames[first .. first+n) (one image tower forward). */
async function embedFrames(model: ViFiClip, frames: Float32Array, first: number, n: number) {
  const rt = model.clip.rt;
  const px = 3 * R * R;
  const t = Tensor.from(rt, frames.subarray(first * px, (first + n) * px), [n, 3, R, R], "f32", "frames");
  const tape = new Tape();
  try {
    const out = await model.clip.encodeImage(tape, t);
    return Float32Array.from(await out.value.read());
  } finally {
    tape.dispose();
    t.dispose();
  }
}

/** The largest |a − b| of each row divided by the reference row's L2 norm, worst over rows. */
function rowRelErr(got: Float32Array, ref: Float32Array, width: number): number {
  let worst = 0;
  for (let r = 0; r < ref.length / width; r++) {
    let norm = 0;
    let diff = 0;
    for (let c = r * width; c < (r + 1) * width; c++) {
      norm += ref[c] * ref[c];
      diff = Math.max(diff, Math.abs(got[c] - ref[c]));
    }
    const e = diff / Math.sqrt(norm);
    if (!(e <= worst)) worst = e; // NaN propagates
  }
  return worst;
}

async function freeIdle(rt: Runtime) {
  await rt.sync();
  rt.pool.trim();
}

function peak(rt: Runtime): string {
  return `GPU pool peak ${(rt.pool.stats.peakAllocatedBytes / 2 ** 30).toFixed(2)} GiB, ` +
    `process RSS ${(Deno.memoryUsage().rss / 2 ** 30).toFixed(2)} GiB`;
}

exclusiveTest(
  "ViT-B/16 widths: 64 and 128 frames in one forward equal the same frames in chunks of 8 (f32, 1e-6)",
  async () => {
    const rt = await getRuntime();
    rt.pool.poison = true;
    rt.pool.resetPeaks();
    const errorsBefore = rt.gpu.errors.length;
    const model = ViFiClip.fromWeights(rt, config, initClipWeights(config, seed), "frozen");
    const frames = new Rng(seed).normals(128 * 3 * R * R).map(Math.fround);
    const f32 = Float32Array.from(frames);
    const E = config.embedDim;
    try {
      await withBindingLimit(rt, rt.gpu.limits.maxStorageBufferBindingSize, undefined, async (stats) => {
        let t0 = performance.now();
        const chunked = new Float32Array(128 * E);
        for (let f = 0; f < 128; f += 8) chunked.set(await embedFrames(model, f32, f, 8), f * E);
        await freeIdle(rt);
        console.log(`  128 frames in chunks of 8: ${((performance.now() - t0) / 1000).toFixed(1)} s`);
        for (const n of [64, 128]) {
          t0 = performance.now();
          const before = stats.windowed;
          const whole = await embedFrames(model, f32, 0, n);
          await freeIdle(rt);
          const err = rowRelErr(whole, chunked.subarray(0, n * E), E);
          console.log(
            `  ${n} frames in one forward: ${((performance.now() - t0) / 1000).toFixed(1)} s, ` +
              `${stats.windowed - before} split dispatches, max |Δ| / ‖row‖ = ${err.toExponential(2)}; ${
                peak(rt)
              }`,
          );
          if (stats.windowed === before) throw new Error(`${n} frames: no op had to split its work`);
          if (!(err <= 1e-6)) throw new Error(`${n} frames: max |Δ| / ‖row‖ = ${err} > 1e-6`);
        }
      });
      if (rt.gpu.errors.length > errorsBefore) {
        throw new Error(`GPU errors: ${rt.gpu.errors.slice(errorsBefore)}`);
      }
    } finally {
      model.dispose();
      await freeIdle(rt);
    }
  },
);

exclusiveTest(
  "ViT-B/16 widths: a compiled training step at batch 4 × 32 frames runs without a GPU error",
  async () => {
    const rt = await getRuntime();
    rt.pool.poison = false;
    rt.pool.resetPeaks();
    const errorsBefore = rt.gpu.errors.length;
    const rng = new Rng(seed);
    const [B, T, C] = [4, 32, 5];
    const model = ViFiClip.fromWeights(rt, config, initClipWeights(config, seed), "both");
    const opt = new AdamW(model.trainable(), { weightDecay: 0.001 });
    const targets = new Float32Array(B * C);
    for (let b = 0; b < B; b++) targets[b * C + (b % C)] = 1;
    const batch = {
      frames: Tensor.from(rt, rng.normals(B * T * 3 * R * R), [B, T, 3, R, R], "f32", "frames"),
      tokens: randomTokens(config, C, rng),
      classes: C,
      targets: Tensor.from(rt, targets, [B, C], "f32", "targets"),
    };
    const watched = ["visual.conv1.weight", "visual.transformer.resblocks.0.mlp.c_fc.weight", "logit_scale"];
    const before = await Promise.all(
      watched.map(async (n) => Float32Array.from(await model.clip.p(n).value.read())),
    );
    let step: CompiledStep | undefined;
    try {
      await withBindingLimit(rt, rt.gpu.limits.maxStorageBufferBindingSize, undefined, async (stats) => {
        const t0 = performance.now();
        step = await CompiledStep.compile(model, opt, batch, 1e-4);
        const loss = await step.loss();
        console.log(
          `  step at ${B}×${T} frames: ${((performance.now() - t0) / 1000).toFixed(1)} s, loss ${
            loss.toFixed(4)
          }, ` +
            `${stats.dispatches} dispatches (${stats.windowed} split); ${peak(rt)}`,
        );
        if (!Number.isFinite(loss)) throw new Error(`loss ${loss}`);
        if (stats.windowed === 0) throw new Error("no op had to split its work");
      });
      if (rt.gpu.errors.length > errorsBefore) {
        throw new Error(`GPU errors: ${rt.gpu.errors.slice(errorsBefore)}`);
      }
      for (const [i, n] of watched.entries()) {
        const after = await model.clip.p(n).value.read();
        if (after.every((v, j) => v === before[i][j])) throw new Error(`${n} did not change`);
        if (!after.every(Number.isFinite)) throw new Error(`${n} is not finite`);
      }
    } finally {
      step?.dispose();
      opt.dispose();
      batch.frames.dispose();
      batch.targets.dispose();
      model.dispose();
      await freeIdle(rt);
    }
  },
);
