// A resolved pretrain experiment run (protocol kind "pretrain", lib/dsl/resolve-pretrain.ts): pretrainClip
// (lib/train/pretrain.ts) on synthetic caption pairs whose held-out triples are those of the synthetic
// split of `novelSeed`, each step's loss and rate stored as a step row (epoch 0), and the final weights
// saved as `last.safetensors` in the output folder, which a later experiment names as model.weights.
// Ctrl-C (an aborted signal) lets the current step finish, saves the weights so far and returns
// "interrupted"; the file holds no optimizer state, so such a run is started again, not continued.
// runExperiment (lib/train/trainer.ts) claims the output folder, starts and finishes the stored run.

import { novelTriples } from "../data/captions.ts";
import type { ResolvedExperiment } from "../dsl/types.ts";
import type { Runtime } from "../gpu/runtime.ts";
import { tokenizerFor } from "../models/load.ts";
import type { ViFiClip } from "../models/vifi.ts";
import type { StepRow } from "../results/store.ts";
import { saveCheckpoint } from "./checkpoint.ts";
import { pretrainClip } from "./pretrain.ts";
import { type RunRecorder, RunRecords } from "./run-records.ts";
import type { RunHooks, RunOutcome } from "./run-state.ts";

/** Step rows are stored in groups this size (and the rest at the end), each with a heartbeat. */
const STEPS_PER_WRITE = 25;

/** Pretrains `model` as `exp.pretrain` says, records the steps, saves `last.safetensors`. */
export async function runPretrain(
  rt: Runtime,
  exp: ResolvedExperiment,
  model: ViFiClip,
  hooks: Partial<RunHooks> & { recorder?: RunRecorder },
  runId: number | undefined,
): Promise<RunOutcome> {
  const p = exp.pretrain;
  if (!p) throw new Error(`vifi: experiment ${JSON.stringify(exp.name)} has no pretrain section`);
  const t0 = performance.now();
  const records = new RunRecords(hooks.recorder, runId);
  const tokenizer = await tokenizerFor({
    tokenizer: exp.model.tokenizer,
    vocab: exp.model.vocab,
    config: model.config,
  });
  const rows: StepRow[] = [];
  let lossSum = 0;
  const result = await pretrainClip(model, tokenizer, {
    steps: p.steps,
    batch: p.batch,
    lr: p.lr,
    warmupSteps: p.warmupSteps,
    weightDecay: p.weightDecay,
    seed: exp.seed,
    data: {
      frames: p.frames,
      novel: novelTriples(p.novelSeed),
      novelClips: p.novelClips,
      fullShare: p.fullShare,
    },
    positives: p.positives,
    signal: hooks.signal,
    onStep: (step, loss, lr) => {
      const framesPerSec = ((step + 1) * p.batch * p.frames) / ((performance.now() - t0) / 1000);
      rows.push({ step, epoch: 0, loss, lr, framesPerSec });
      if (rows.length >= STEPS_PER_WRITE) records.steps(rows.splice(0));
      lossSum += loss;
      progress(hooks, { steps: p.steps, step, loss, meanLoss: lossSum / (step + 1), lr, framesPerSec, t0 });
    },
  });
  records.steps(rows.splice(0));
  const status = result.losses.length < p.steps ? "interrupted" : "done";
  // nothing computed after a GPU error may become a checkpoint
  await rt.sync();
  const path = `${exp.output}/last.safetensors`;
  await saveCheckpoint(path, model, { runId: runId?.toString(), experiment: exp, epoch: 0 });
  records.checkpoint({ epoch: 0, kind: "last", path });
  const last = result.losses.at(-1);
  hooks.log?.(
    `pretrain ${status} after ${result.losses.length} of ${p.steps} steps` +
      `${last === undefined ? "" : ` (loss ${last.toFixed(4)})`}: saved ${path}`,
  );
  const videos = result.losses.length * p.batch;
  return {
    runId,
    status,
    // 1 once a step ran: the steps are stored as epoch 0
    epochsRun: result.losses.length > 0 ? 1 : 0,
    losses: result.losses,
    evals: [],
    checkpoints: [path],
    timing: {
      seconds: (performance.now() - t0) / 1000,
      trainSeconds: result.seconds,
      dataSeconds: 0,
      videos,
      videosPerSec: videos / Math.max(result.seconds, 1e-9),
    },
  };
}

/** The progress event of step `step` (the whole run is one epoch of `steps` iterations). */
function progress(
  hooks: Partial<RunHooks>,
  s: {
    steps: number;
    step: number;
    loss: number;
    meanLoss: number;
    lr: number;
    framesPerSec: number;
    t0: number;
  },
): void {
  if (!hooks.onProgress) return;
  const { steps, step, loss, meanLoss, lr, framesPerSec, t0 } = s;
  const elapsed = (performance.now() - t0) / 1000;
  hooks.onProgress({
    epoch: 0,
    epochs: 1,
    iteration: step + 1,
    iterations: steps,
    loss,
    meanLoss,
    lr,
    framesPerSec,
    etaSeconds: (elapsed / (step + 1)) * (steps - step - 1),
  });
}
