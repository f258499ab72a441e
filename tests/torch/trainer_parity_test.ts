// vifi's real trainer (runExperiment: loader, soft targets, accumulation, schedule, AdamW, checkpoint)
// for 20 optimizer updates beside the upstream's loop in PyTorch (vifi_torch.py `trainer`: torch.optim.AdamW,
// timm's warmup + cosine by loader iteration, label smoothing, accumulation 2, mixup off) on the very same
// micro-batches and initial weights. training_test.ts drives the trainer's pieces in its order; this one
// runs the trainer itself, so a change in its loop (targets ÷ A, the schedule's iteration, zeroing per
// epoch, which batch goes where) shows here. The frames come from a second VideoLoader with the run's
// options: a batch depends only on (seed, epoch, index), not on which loader made it.

import { readLabelCsv } from "../../lib/data/labels.ts";
import { readList } from "../../lib/data/lists.ts";
import { VideoLoader } from "../../lib/data/loader.ts";
import { generateSynthetic } from "../../lib/data/synthetic.ts";
import { defineExperiment } from "../../lib/dsl/define.ts";
import { resolveExperiment } from "../../lib/dsl/resolve.ts";
import type { ResolvedExperiment } from "../../lib/dsl/types.ts";
import { getRuntime } from "../../lib/gpu/runtime.ts";
import { type ClipConfig, initClipWeights } from "../../lib/models/config.ts";
import { classTokens, tokenizerFor } from "../../lib/models/load.ts";
import { ViFiClip } from "../../lib/models/vifi.ts";
import { ResultsStore } from "../../lib/results/store.ts";
import { readCheckpoint, saveCheckpoint } from "../../lib/train/checkpoint.ts";
import { runExperiment } from "../../lib/train/trainer.ts";
import { type RawTensors, readRaw, runTorch, skipWithoutTorch, writeRaw } from "./torch_env.ts";
import { assertTrainingParity } from "./training_parity.ts";

const ignore = skipWithoutTorch("torch trainer parity test");

const config: ClipConfig = {
  name: "torch-trainer",
  embedDim: 16,
  vision: { width: 32, layers: 1, heads: 2, patch: 8, resolution: 32 },
  text: { width: 32, layers: 1, heads: 2, context: 48, vocab: 258 },
};
/**
 * 23 videos in batches of 2: 11 micro-batches an epoch (the odd video dropped), 5 updates of 2 and a
 * trailing half window that the next epoch's zeroing drops; 4 epochs make 20 updates, the first all warmup.
 */
const VIDEOS = 23;
const train = {
  epochs: 4,
  batch: 2,
  accumulation: 2,
  lr: 1e-3,
  warmupEpochs: 1,
  weightDecay: 0.001,
  labelSmoothing: 0.1,
  mixup: 0,
  cutmix: 0,
  colorJitter: 0,
  grayScale: 0,
  flip: 0,
  saveFreq: 100,
};

/** The micro-batches the run's loader gives, epoch by epoch, as frames.E.I / labels.E.I. */
async function trainerBatches(exp: ResolvedExperiment, into: RawTensors): Promise<number> {
  const tr = exp.train!;
  const loader = new VideoLoader(await readList(tr.list), {
    root: tr.root,
    batch: tr.batch,
    frames: exp.data.frames,
    mode: "train",
    size: exp.model.inputSize,
    colorJitter: tr.colorJitter,
    grayScale: tr.grayScale,
    flip: tr.flip,
    seed: exp.seed,
    workers: 0,
    onError: exp.data.onError,
    dropLast: true,
  });
  try {
    for (let e = 0; e < tr.epochs; e++) {
      let i = 0;
      for await (const b of loader.epoch(e)) {
        into.set(`frames.${e}.${i}`, { shape: [...b.shape], data: b.frames });
        into.set(`labels.${e}.${i++}`, { shape: [b.labels.length], data: b.labels });
      }
    }
    return loader.batchesPerEpoch;
  } finally {
    loader.close();
  }
}

Deno.test({ name: "runExperiment: 20 updates match the upstream's loop in PyTorch", ignore }, async () => {
  const rt = await getRuntime();
  const dir = await Deno.makeTempDir({ prefix: "vifi-torch-trainer-" });
  const store = ResultsStore.open(`${dir}/results.db`);
  try {
    await generateSynthetic(`${dir}/data`, { seed: 5, clipsPerClass: 6, frames: 4, size: 32 });
    const all = (await Deno.readTextFile(`${dir}/data/base_train.txt`)).trim().split("\n");
    if (all.length < VIDEOS) {
      throw new Error(`synthetic base_train has ${all.length} videos, ${VIDEOS} needed`);
    }
    Deno.writeTextFileSync(`${dir}/train.txt`, all.slice(0, VIDEOS).join("\n") + "\n");

    // The run starts from a weights file written here, so both sides start from the same tensors.
    const weights = initClipWeights(config, 41, { randomNorms: true });
    const init = ViFiClip.fromWeights(rt, config, weights, "both");
    await saveCheckpoint(`${dir}/init.safetensors`, init);
    init.dispose();

    const exp = await resolveExperiment(
      defineExperiment({
        name: "torch-trainer-parity",
        protocol: { kind: "base-to-novel", dataset: "synthetic", seed: 1 },
        model: {
          weights: `${dir}/init.safetensors`,
          variant: "both",
          tokenizer: "bytes",
          precision: "f32",
          template: "{name}",
          inputSize: config.vision.resolution,
        },
        data: { root: `${dir}/data`, frames: 2, workers: 1 },
        train: { list: `${dir}/train.txt`, labels: `${dir}/data/base_labels.csv`, ...train },
        evals: [],
        seed: 9,
        output: `${dir}/run`,
      }),
      { source: `${dir}/test.exp.ts`, cwd: dir },
    );
    const tr = exp.train!;
    const names = await readLabelCsv(tr.labels);
    const tok = await tokenizerFor({ tokenizer: exp.model.tokenizer, vocab: exp.model.vocab, config });
    const tokens = classTokens(tok, names, exp.evals[0]?.template ?? exp.model.template, config.text.context);
    const inputs: RawTensors = new Map([["tokens", {
      shape: [names.length, config.text.context],
      data: tokens,
    }]]);
    const itersPerEpoch = await trainerBatches(exp, inputs);
    Deno.writeTextFileSync(`${dir}/config.json`, JSON.stringify(config));
    Deno.writeTextFileSync(
      `${dir}/train.json`,
      JSON.stringify({ ...train, classes: names.length, itersPerEpoch, smoothing: train.labelSmoothing }),
    );
    writeRaw(dir, "weights", weights);
    writeRaw(dir, "inputs", inputs);
    const torch = runTorch("trainer", dir);

    const summary = await runExperiment(rt, exp, { recorder: store });
    const losses = store.stepMetrics(summary.runId!).map((r) => r.loss);
    const final = (await readCheckpoint(`${dir}/run/last.safetensors`)).params;
    await torch;

    assertTrainingParity(
      `trainer parity (${losses.length} micro-batches, ${itersPerEpoch}/epoch, 20 updates)`,
      {
        losses,
        names: [...weights.keys()].filter((name) => name !== "token_embedding.weight"),
        initial: (name) => weights.get(name)!.data as Float32Array,
        final: (name) => {
          const got = final.get(name);
          if (!got) throw new Error(`last.safetensors has no ${name}`);
          return got;
        },
      },
      readRaw(dir, "out"),
    );
  } finally {
    store.close();
    await Deno.remove(dir, { recursive: true });
  }
});
