// The training row of `deno task bench`: the demo's experiment (experiments/synthetic.exp.ts) on freshly
// generated synthetic clips, beside the data loader alone, measured in the same run.

import type { Runtime } from "../../gpu/runtime.ts";
import { loadExperiments } from "../../dsl/load.ts";
import { runExperiment } from "../../train/trainer.ts";
import { generateSynthetic } from "../../data/synthetic.ts";
import { parseList } from "../../data/lists.ts";
import { VideoLoader } from "../../data/loader.ts";
import type { Emit } from "./row.ts";
import { clipConfig, initClipWeights } from "../../models/config.ts";
import { ViFiClip } from "../../models/vifi.ts";
import { saveCheckpoint } from "../../train/checkpoint.ts";

async function randomDemoWeights(rt: Runtime, dir: string): Promise<string> {
  const config = clipConfig("synthetic-words");
  const model = ViFiClip.fromWeights(rt, config, initClipWeights(config, 1), "both");
  const path = `${dir}/random.safetensors`;
  try {
    await saveCheckpoint(path, model);
  } finally {
    model.dispose();
  }
  return path;
}

/**
 * The demo's experiment (experiments/synthetic.exp.ts) training for a fixed number of steps, after the
 * compile: videos/s, the share of the loop spent waiting for the loader, and the loader alone measured
 * in the same run as the reference (a ratio near 1 would mean data loading is the bottleneck).
 */
export async function trainingRow(rt: Runtime, emit: Emit): Promise<void> {
  const dir = await Deno.makeTempDir();
  try {
    await generateSynthetic(`${dir}/data`, { seed: 1, clipsPerClass: 8 });
    Deno.env.set("VIFI_SYNTHETIC_DIR", `${dir}/data`);
    // speed only: random weights of the demo's architecture stand in for its pretrained ones
    Deno.env.set("VIFI_SYNTHETIC_WEIGHTS", await randomDemoWeights(rt, dir));
    const file = new URL("../../../experiments/synthetic.exp.ts", import.meta.url).pathname;
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
