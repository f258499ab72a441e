// One data-parallel micro-batch step, plain against overlapped:
//   mpirun -np 2 deno run -A scripts/mpi-overlap-bench.ts [MODEL] [LAYERS] [FRAMES] [BATCH] [REPS] [BUCKET_MB]
// MODEL is a CLIP architecture (tiny, ViT-B/16, …) whose two towers keep LAYERS layers each (0: all);
// every rank takes BATCH videos of FRAMES frames and 3 prompts. The compiled "gradients" plan is timed
//   backward: the plan alone (the floor: what the overlap can at best hide the exchange behind);
//   exchange: GradientAverager.average() alone (one staging read, the all-reduce, the writes);
//   plain:    the plan, then average();
//   overlap:  averageDuring(plan), buckets of BUCKET_MB MiB (default 25) exchanged while later pieces run;
// alternated (plain, overlap, overlap, plain, …), each rep between barriers, the GPU drained; rank 0
// prints min and median of each.

import { initWorld } from "../lib/dist/mpi.ts";
import { getRuntime } from "../lib/gpu/runtime.ts";
import { CLIP_CONFIGS, type ClipConfig, clipConfig, initClipWeights } from "../lib/models/config.ts";
import { randomTokens } from "../lib/models/parity.ts";
import { ViFiClip } from "../lib/models/vifi.ts";
import { Rng } from "../lib/random/rng.ts";
import { Tensor } from "../lib/tensor/tensor.ts";
import { broadcastWeights, GradientAverager } from "../lib/train/data-parallel.ts";
import { AdamW } from "../lib/train/optimizer.ts";
import { CompiledStep } from "../lib/train/step.ts";

const [name = "tiny", layersArg = "0", framesArg = "2", batchArg = "1", repsArg = "3", bucketArg = "25"] =
  Deno.args;
if (!CLIP_CONFIGS[name]) clipConfig(name); // the one-line error naming the known ones
const layers = Number(layersArg), T = Number(framesArg), B = Number(batchArg), reps = Number(repsArg);
const base = clipConfig(name);
const cfg: ClipConfig = layers > 0
  ? {
    ...base,
    name: `${base.name} (${layers} layers)`,
    vision: { ...base.vision, layers },
    text: { ...base.text, layers },
  }
  : base;
const C = 3, R = cfg.vision.resolution;
const world = initWorld({ require: true });
const rt = await getRuntime();
const say = (s: string) => world.rank === 0 && console.log(s);

let t0 = performance.now();
const weights = initClipWeights(cfg, 100 + world.rank);
await broadcastWeights(world, weights);
const model = ViFiClip.fromWeights(rt, cfg, weights, "both");
const opt = new AdamW(model.trainable(), { weightDecay: 0.001 });
const rng = new Rng(7 + world.rank);
const targets = new Float32Array(B * C);
for (let i = 0; i < B; i++) targets[i * C + rng.int(C)] = 1;
const batch = {
  frames: Tensor.from(
    rt,
    Float32Array.from(rng.normals(B * T * 3 * R * R)),
    [B, T, 3, R, R],
    "f32",
    "frames",
  ),
  tokens: randomTokens(cfg, C, new Rng(3)),
  classes: C,
  targets: Tensor.from(rt, targets, [B, C], "f32", "targets"),
};
const step = await CompiledStep.compile(model, opt, batch, 1e-3, undefined, { parts: "gradients" });
const plain = new GradientAverager(rt, opt.params, world, { overlap: false });
const over = new GradientAverager(rt, opt.params, world, {
  overlap: true,
  bucketBytes: Number(bucketArg) * 2 ** 20,
});
say(`compiled in ${((performance.now() - t0) / 1000).toFixed(1)} s: ${step.plan.commands.length} commands`);

const runs: Record<string, () => void | Promise<void>> = {
  backward: () => step.plan.run(),
  exchange: () => plain.average(),
  plain: async () => {
    step.plan.run();
    await plain.average();
  },
  overlap: () => over.averageDuring(step.plan),
};
const times: Record<string, number[]> = { backward: [], exchange: [], plain: [], overlap: [] };
async function time(k: string): Promise<number> {
  await rt.sync();
  await world.barrier();
  t0 = performance.now();
  await runs[k]();
  await rt.sync();
  return performance.now() - t0;
}
for (const k of Object.keys(runs)) await time(k); // buffers made, buckets laid out, connections up
for (let r = 0; r < reps; r++) {
  const order = r % 2
    ? ["overlap", "plain", "exchange", "backward"]
    : ["backward", "exchange", "plain", "overlap"];
  for (const k of order) times[k].push(await time(k));
}
const ms = (a: number[]) => {
  const s = [...a].sort((x, y) => x - y);
  return `${s[0].toFixed(0)} / ${s[Math.floor(s.length / 2)].toFixed(0)}`;
};
say(
  `${world.size} ranks, ${cfg.name}, ${B}×${T} frames, ${plain.length} gradients (${
    (plain.length * 4 / 2 ** 20).toFixed(0)
  } MiB), ${over.buckets.count} buckets in ${over.buckets.pieces} pieces (cut at ${
    over.buckets.at.join(", ")
  } of ${step.plan.commands.length} commands), adapter ${
    rt.gpu.info.description || rt.gpu.info.vendor
  }; ms min / median of ${reps}:`,
);
for (const k of Object.keys(times)) say(`  ${k.padEnd(9)} ${ms(times[k])}`);
const med = (k: string) => [...times[k]].sort((x, y) => x - y)[Math.floor(reps / 2)];
say(
  `  exposed exchange (median − backward's): plain ${(med("plain") - med("backward")).toFixed(0)} ms, ` +
    `overlap ${(med("overlap") - med("backward")).toFixed(0)} ms`,
);
plain.dispose();
over.dispose();
step.dispose();
opt.dispose();
model.dispose();
await world.finalize();
