// Runs a resolved experiment the way the upstream main.py does (spec §6–7): AdamW over what the
// variant trains, the warmup + cosine schedule by loader iteration, soft targets with label smoothing
// and mixup/cutmix, gradient accumulation, validation every SAVE_FREQ epochs and at the end with
// best/last checkpoints, then every evaluation of the experiment on the final weights. A compiled plan
// replays each step; Ctrl-C (an aborted signal) finishes the step, saves the position in the epoch,
// and returns "interrupted". A GPU error fails the run before anything computed after it is stored.

import { readLabelCsv } from "../data/labels.ts";
import { checkLabels, readList } from "../data/lists.ts";
import { itemSeed, VideoLoader } from "../data/loader.ts";
import type { ResolvedEval, ResolvedExperiment } from "../dsl/types.ts";
import type { Runtime } from "../gpu/runtime.ts";
import { initPromptWeights } from "../models/config.ts";
import { classTokens, loadModel, tokenizerFor } from "../models/load.ts";
import type { ViFiClip } from "../models/vifi.ts";
import { Rng } from "../random/rng.ts";
import { Tensor } from "../tensor/tensor.ts";
import type { TextTokenizer } from "../text/tokenizer.ts";
import { copyFileAtomic } from "../io/atomic-write.ts";
import { initialiseFrom, resumeInto, saveCheckpoint, type TrainPosition } from "./checkpoint.ts";
import { claimOutput, updateOwner } from "./output.ts";
import { type EvalResult, evaluate, upstreamValidationSubset } from "./evaluator.ts";
import { LossScaler } from "./loss-scale.ts";
import { blendBatch, smoothedTargets } from "./mixup.ts";
import { AdamW } from "./optimizer.ts";
import { LrSchedule } from "./schedule.ts";
import { batchPlan, upstreamIteration } from "../dsl/batch-plan.ts";
import { CompiledStep } from "./step.ts";
import type { EpochRow, ResultsStore, StepRow } from "../results/store.ts";

/** What the trainer tells a results store (lib/results' ResultsStore; tests may pass their own). */
export type RunRecorder = Pick<
  ResultsStore,
  | "startRun"
  | "heartbeat"
  | "logSteps"
  | "logEpoch"
  | "addEval"
  | "addEmbeddings"
  | "addCheckpoint"
  | "finishRun"
>;

export interface ProgressEvent {
  epoch: number;
  epochs: number;
  iteration: number;
  iterations: number;
  loss: number;
  meanLoss: number;
  lr: number;
  framesPerSec: number;
  /** seconds left in training, from the mean step time so far */
  etaSeconds: number;
}

export interface TrainerOptions {
  recorder?: RunRecorder;
  commit?: string | null;
  /** one line per event worth a log (validation, checkpoint, evaluation) */
  log?: (line: string) => void;
  onProgress?: (e: ProgressEvent) => void;
  /** Ctrl-C: finish the current step, save, stop */
  signal?: AbortSignal;
  /** stop after this many loader iterations in all (benchmarks) */
  maxIterations?: number;
  /** told the run id as soon as the store gave one (a second Ctrl-C marks it before exiting) */
  onRun?: (runId: number) => void;
}

/** One final evaluation as runExperiment returns it (the stored row is lib/results/store.ts's EvalSummary). */
export interface EvalOutcome {
  name: string;
  spec: ResolvedEval;
  views: { clips: number; crops: number };
  result: EvalResult;
}

/** What runExperiment returns to its caller (the stored row is lib/results/store.ts's RunSummary). */
export interface RunOutcome {
  runId?: number;
  status: "done" | "interrupted";
  epochsRun: number;
  best?: { epoch: number; top1: number };
  losses: number[];
  evals: EvalOutcome[];
  checkpoints: string[];
  timing: {
    seconds: number;
    trainSeconds: number;
    /** time the step loop waited for the loader */
    dataSeconds: number;
    videos: number;
    videosPerSec: number;
  };
}

interface ClassSet {
  names: string[];
  tokens: Int32Array;
}

/** The class prompts' token rows; with learned text context, its "X" slots come first (spec §1.2). */
async function classSet(
  labels: string,
  template: string,
  tok: TextTokenizer,
  model: ViFiClip,
): Promise<ClassSet> {
  const names = await readLabelCsv(labels);
  const slots = model.clip.prompts?.textCtx ?? 0;
  return { names, tokens: classTokens(tok, names, template, model.config.text.context, slots) };
}

function deviceName(rt: Runtime): string {
  return rt.gpu.info.description;
}

export async function runExperiment(
  rt: Runtime,
  exp: ResolvedExperiment,
  opts: TrainerOptions = {},
): Promise<RunOutcome> {
  const rec = opts.recorder;
  // Before the run exists: a folder another run owns, or one that cannot be written, is a usage error.
  const resume = exp.train?.resume;
  if (exp.train) {
    const db = (rec as { path?: string } | undefined)?.path;
    await claimOutput(
      exp.output,
      { experiment: exp.name, db },
      resume?.mode === "continue" ? resume.path : undefined,
    );
  }
  const owned = async (status: "done" | "failed" | "interrupted" | undefined, id?: number) => {
    if (exp.train) {
      await updateOwner(exp.output, { ...(status && { status }), ...(id !== undefined && { runId: id }) });
    }
  };
  const runId = rec?.startRun({
    experiment: exp.name,
    protocol: exp.protocol,
    variant: exp.model.variant,
    config: exp,
    seed: exp.seed,
    device: deviceName(rt),
    commit: opts.commit,
  });
  if (runId !== undefined) opts.onRun?.(runId);
  let model: ViFiClip | undefined;
  try {
    if (runId !== undefined) await owned(undefined, runId);
    const loaded = await loadModel(rt, {
      weights: exp.model.weights,
      clipWeights: exp.model.clipWeights,
      arch: exp.model.arch,
      variant: exp.model.variant,
      precision: exp.model.precision,
      seed: exp.seed,
    });
    model = loaded.model;
    // Prompting a model whose file has no prompts (OpenAI CLIP, a fine-tuned ViFi-CLIP): fresh ones.
    if (exp.model.prompt && !model.clip.prompts) {
      model.clip.addPrompts(exp.model.prompt, initPromptWeights(model.config, exp.model.prompt, exp.seed));
      model.setVariant(exp.model.variant);
    }
    const summary = await trainAndEvaluate(rt, exp, model, opts, runId);
    rec?.finishRun(runId!, {
      status: summary.status,
      metrics: {
        best: summary.best,
        evals: Object.fromEntries(
          summary.evals.map((e) => [e.name, { top1: e.result.top1, top5: e.result.top5 }]),
        ),
        videosPerSec: summary.timing.videosPerSec,
      },
    });
    await owned(summary.status);
    return { ...summary, runId };
  } catch (e) {
    if (runId !== undefined) {
      rec?.finishRun(runId, { status: "failed", error: String(e instanceof Error ? e.message : e) });
    }
    await owned("failed").catch(() => {});
    throw e;
  } finally {
    model?.dispose();
  }
}

async function trainAndEvaluate(
  rt: Runtime,
  exp: ResolvedExperiment,
  model: ViFiClip,
  opts: TrainerOptions,
  runId: number | undefined,
): Promise<RunOutcome> {
  const log = opts.log ?? (() => {});
  const rec = opts.recorder;
  const t0 = performance.now();
  const config = model.config;
  const tok = await tokenizerFor({ tokenizer: exp.model.tokenizer, vocab: exp.model.vocab, config });
  const size = exp.model.inputSize;
  const T = exp.data.frames;
  const tr = exp.train;
  const checkpoints: string[] = [];
  const losses: number[] = [];
  let best: RunOutcome["best"];
  let status: RunOutcome["status"] = "done";
  let epochsRun = 0;
  let trainSeconds = 0, dataSeconds = 0, videos = 0;
  const finals: EvalOutcome[] = [];

  const evalSets = new Map<string, ClassSet>();
  const evalClasses = async (e: ResolvedEval) => {
    const key = `${e.labels}\u0000${e.template}`;
    if (!evalSets.has(key)) evalSets.set(key, await classSet(e.labels, e.template, tok, model));
    return evalSets.get(key)!;
  };
  const runEval = async (e: ResolvedEval, clips: number, crops: number): Promise<EvalResult> => {
    const cs = await evalClasses(e);
    const all = await readList(e.list);
    checkLabels(all, cs.names, e.list);
    // the upstream's drop_last validation leaves a device's odd video out (exact parity, when asked)
    const items = e.dropLast
      ? upstreamValidationSubset(all.length, e.worldSize, exp.seed).map((i) => all[i])
      : all;
    const loader = new VideoLoader(items, {
      root: e.root,
      batch: 2,
      frames: T,
      mode: "test",
      clips,
      crops,
      size,
      seed: exp.seed,
      workers: exp.data.workers,
      onError: exp.data.onError,
      dropLast: false,
    });
    try {
      return await evaluate(model, loader, { tokens: cs.tokens, classNames: cs.names, views: clips * crops });
    } finally {
      loader.close();
    }
  };
  const record = (
    e: ResolvedEval,
    clips: number,
    crops: number,
    r: EvalResult,
    epoch?: number,
    name = e.name,
  ) => {
    if (!rec || runId === undefined) return;
    const id = rec.addEval(runId, {
      name,
      dataset: e.dataset,
      split: e.split,
      subset: e.subset,
      clips,
      crops,
      top1: r.top1,
      top5: r.top5,
      count: r.count,
      epoch,
      dropLast: e.dropLast,
      perClass: r.perClass,
      confusion: r.confusion,
    });
    rec.addEmbeddings(id, {
      vectors: r.embeddings.video,
      dim: r.embeddings.dim,
      labels: r.embeddings.labels,
      classNames: r.perClass.map((c) => c.name),
      classEmbeddings: r.embeddings.text,
    });
  };
  /** the validation of the final epoch: the first evaluation on the final weights, not run twice */
  let lastValidation: EvalResult | undefined;

  if (tr) {
    const train = await classSet(
      tr.labels,
      exp.evals[0]?.template ?? exp.model.template,
      tok,
      model,
    );
    const items = await readList(tr.list);
    checkLabels(items, train.names, tr.list);
    if (items.length < tr.batch) {
      throw new Error(
        `vifi: ${exp.name}: the training list ${tr.list} has ${items.length} videos, fewer than one batch of ${tr.batch}`,
      );
    }
    const C = train.names.length;
    const loader = new VideoLoader(items, {
      root: tr.root,
      batch: tr.batch,
      frames: T,
      mode: "train",
      size,
      colorJitter: tr.colorJitter,
      grayScale: tr.grayScale,
      flip: tr.flip,
      seed: exp.seed,
      workers: exp.data.workers,
      onError: exp.data.onError,
      dropLast: true,
    });
    const opt = new AdamW(model.trainable(), { weightDecay: tr.weightDecay });
    const scaler = model.clip.precision === "f16" ? new LossScaler(rt) : undefined;
    // A is micro-batches per update: the upstream's accumulation × the world size this run reproduces
    const plan = batchPlan(items.length, tr);
    const B = tr.batch, A = plan.microBatchesPerUpdate, N = tr.worldSize;
    if (plan.updatesPerEpoch < 1) {
      throw new Error(
        `vifi: ${exp.name}: the training list ${tr.list} has ${items.length} videos, ` +
          `fewer than one update of ${plan.effectiveBatch}`,
      );
    }
    const framesT = Tensor.empty(rt, [B, T, 3, size, size], "f32", "batch frames");
    const targetsT = Tensor.empty(rt, [B, C], "f32", "batch targets");
    const steps: Partial<Record<"step" | "gradients" | "update", CompiledStep>> = {};
    const iters = loader.batchesPerEpoch;
    const schedule = new LrSchedule({
      lr: tr.lr,
      epochs: tr.epochs,
      warmupEpochs: tr.warmupEpochs,
      // per-device loader iterations of the reproduced run, so warmup and cosine line up with it
      itersPerEpoch: plan.itersPerEpoch,
    });
    let bestTop1 = -Infinity;
    /** where a continued run picks up: the first batch it takes, with the epoch's state so far */
    let start: TrainPosition = { epoch: 0, batch: 0, iteration: 0, lossSum: 0, lr: schedule.current };
    try {
      if (tr.resume?.mode === "continue") {
        const meta = await resumeInto(tr.resume.path, model, opt, scaler);
        if (meta.position) {
          start = meta.position;
        } else if (meta.epoch !== undefined) {
          // a checkpoint saved at an epoch's end: the rate after that epoch's last update
          const lastUpdate = plan.updatesPerEpoch * A - 1;
          if (lastUpdate >= 0) schedule.afterUpdate(meta.epoch, upstreamIteration(lastUpdate, N));
          start = { epoch: meta.epoch + 1, batch: 0, iteration: 0, lossSum: 0, lr: schedule.current };
        }
        schedule.current = start.lr;
        bestTop1 = meta.bestAccuracy ?? -Infinity;
        if (meta.bestAccuracy !== undefined && meta.bestEpoch !== undefined) {
          best = { epoch: meta.bestEpoch, top1: meta.bestAccuracy };
        }
        log(`continuing ${tr.resume.path} at epoch ${start.epoch}, batch ${start.batch} of ${iters}`);
      } else if (tr.resume) {
        const took = await initialiseFrom(tr.resume.path, model, {
          optimizer: opt,
          scaler,
          clipWeights: exp.model.clipWeights,
        });
        log(`initialised from ${tr.resume.path}: ${took}; the schedule starts at epoch 0`);
      }
      const batchStep = async (parts: "step" | "gradients" | "update", lr: number) => {
        const s = steps[parts];
        if (s) return await s.run(lr);
        steps[parts] = await CompiledStep.compile(
          model,
          opt,
          { frames: framesT, tokens: train.tokens, classes: C, targets: targetsT },
          lr,
          scaler,
          { parts },
        );
      };
      const trainStart = performance.now();
      let iterationsDone = 0;
      const totalIters = (tr.epochs - start.epoch) * iters - start.iteration;
      outer: for (let epoch = start.epoch; epoch < tr.epochs; epoch++) {
        const epochStart = performance.now();
        const from = epoch === start.epoch ? start : undefined;
        // Upstream zeroes gradients at each epoch start, dropping a trailing partial accumulation; a
        // run continued mid-epoch has the window's gradients from its checkpoint instead.
        if (!from?.batch) { for (const p of opt.params) if (p.trainable) p.zeroGrad(); }
        let idx = from?.iteration ?? 0, lossSum = from?.lossSum ?? 0, batchNo = from?.batch ?? 0;
        const rows: StepRow[] = [];
        const it = loader.epoch(epoch, batchNo)[Symbol.asyncIterator]();
        for (;;) {
          const w0 = performance.now();
          const next = await it.next();
          dataSeconds += (performance.now() - w0) / 1000;
          if (next.done) break;
          const batch = next.value;
          // One mixup/cutmix stream per batch position, so a run continued anywhere draws what an
          // unbroken one would.
          const blendRng = new Rng(itemSeed(exp.seed, epoch, -2 - batchNo++));
          if (batch.shape[0] !== B) continue; // a skipped file shortened the batch; its plan is fixed-size
          const targets = smoothedTargets(batch.labels, C, tr.labelSmoothing);
          blendBatch(batch.frames, batch.shape, targets, {
            classes: C,
            labelSmoothing: tr.labelSmoothing,
            mixup: tr.mixup,
            cutmix: tr.cutmix,
            switchProb: tr.switchProb,
          }, blendRng);
          // The loss is divided by ACCUMULATION_STEPS and DDP averages over the world: here both at once,
          // over A micro-batches; with soft targets that is dividing the targets.
          if (A > 1) { for (let i = 0; i < targets.length; i++) targets[i] /= A; }
          rt.write(framesT.buffer, batch.frames);
          rt.write(targetsT.buffer, targets);
          const updates = (idx + 1) % A === 0;
          const lr = schedule.current;
          if (A === 1) {
            await batchStep("step", lr);
          } else {
            await batchStep("gradients", lr);
            if (updates) await batchStep("update", lr);
          }
          if (updates) schedule.afterUpdate(epoch, upstreamIteration(idx, N));
          const loss = await (steps.step ?? steps.gradients)!.loss();
          // the read above checks too; this names the rule: nothing after a GPU error counts
          rt.checkErrors();
          if (!Number.isFinite(loss) && !scaler) {
            throw new Error(`vifi: ${exp.name}: the loss became ${loss} at epoch ${epoch} iteration ${idx}`);
          }
          losses.push(loss);
          lossSum += loss;
          videos += B;
          iterationsDone++;
          idx++;
          const elapsed = (performance.now() - trainStart) / 1000;
          const framesPerSec = (videos * T) / Math.max(elapsed, 1e-9);
          rows.push({ step: epoch * iters + idx - 1, epoch, loss, lr, framesPerSec, time: Date.now() });
          opts.onProgress?.({
            epoch,
            epochs: tr.epochs,
            iteration: idx,
            iterations: iters,
            loss,
            meanLoss: lossSum / idx,
            lr,
            framesPerSec,
            etaSeconds: (elapsed / iterationsDone) * (totalIters - iterationsDone),
          });
          if (
            opts.signal?.aborted || (opts.maxIterations !== undefined && iterationsDone >= opts.maxIterations)
          ) {
            status = opts.signal?.aborted ? "interrupted" : status;
            break;
          }
        }
        if (rec && runId !== undefined) {
          rec.logSteps(runId, rows);
          rec.heartbeat(runId);
        }
        const saveState = async (path: string, position?: TrainPosition) => {
          // nothing computed after a GPU error may become a checkpoint
          await rt.sync();
          await saveCheckpoint(path, model, {
            optimizer: opt,
            scaler,
            runId: runId?.toString(),
            experiment: exp,
            epoch: position ? (epoch > 0 ? epoch - 1 : undefined) : epoch,
            bestAccuracy: Number.isFinite(bestTop1) ? bestTop1 : undefined,
            bestEpoch: best?.epoch,
            position,
            gradients: position !== undefined && position.iteration % A !== 0,
          });
          checkpoints.push(path);
        };
        const lastPath = `${exp.output}/last.safetensors`;
        if (status === "interrupted") {
          // The epoch is not complete (even after its last batch: validation and its row are still to
          // come), so it is saved as a position, not logged; `--continue` takes the next batch.
          await saveState(lastPath, { epoch, batch: batchNo, iteration: idx, lossSum, lr: schedule.current });
          rec?.addCheckpoint(runId!, { epoch, kind: "last", path: lastPath });
          log(`interrupted at epoch ${epoch}, batch ${batchNo} of ${iters}: saved ${lastPath}`);
          break outer;
        }
        epochsRun++;
        const stopping = opts.maxIterations !== undefined && iterationsDone >= opts.maxIterations;
        const last = epoch === tr.epochs - 1 || stopping;
        const meanLoss = idx ? lossSum / idx : NaN;
        const row: EpochRow = {
          epoch,
          trainLoss: meanLoss,
          seconds: (performance.now() - epochStart) / 1000,
        };
        /** this epoch's checkpoint, when validation wrote one: `last` is then a copy, not a second save */
        let epochFile: string | undefined;
        if (exp.evals.length && (epoch % tr.saveFreq === 0 || last)) {
          const v = exp.evals[0];
          const r = await runEval(v, v.clips, v.crops);
          if (last) lastValidation = r;
          row.valTop1 = r.top1;
          row.valTop5 = r.top5;
          log(
            `epoch ${epoch}: loss ${meanLoss.toFixed(4)}, ${v.name} top-1 ${r.top1.toFixed(1)} top-5 ${
              r.top5.toFixed(1)
            }`,
          );
          const path = `${exp.output}/ckpt_epoch_${epoch}.safetensors`;
          const improved = r.top1 > bestTop1;
          if (improved) {
            bestTop1 = r.top1;
            best = { epoch, top1: r.top1 };
          }
          await saveState(path);
          epochFile = path;
          rec?.addCheckpoint(runId!, { epoch, kind: "epoch", path, top1: r.top1 });
          if (improved) {
            const bestPath = `${exp.output}/best.safetensors`;
            await copyFileAtomic(path, bestPath);
            rec?.addCheckpoint(runId!, { epoch, kind: "best", path: bestPath, top1: r.top1 });
          }
        } else {
          log(`epoch ${epoch}: loss ${meanLoss.toFixed(4)}`);
        }
        if (last) {
          if (epochFile) {
            await copyFileAtomic(epochFile, lastPath);
            checkpoints.push(lastPath);
          } else {
            await saveState(lastPath);
          }
          rec?.addCheckpoint(runId!, { epoch, kind: "last", path: lastPath });
        }
        if (rec && runId !== undefined) rec.logEpoch(runId, row);
        if (stopping) break outer;
      }
      trainSeconds = (performance.now() - trainStart) / 1000;
    } finally {
      loader.close();
      for (const s of Object.values(steps)) s?.dispose();
      framesT.dispose();
      targetsT.dispose();
      opt.dispose();
      scaler?.dispose();
    }
  }

  if (status !== "interrupted") {
    for (const [i, e] of exp.evals.entries()) {
      const views = [{ clips: e.clips, crops: e.crops }];
      if (i === 0 && tr?.finalViews) views.push(tr.finalViews);
      for (const v of views) {
        const reuse = i === 0 && v === views[0] ? lastValidation : undefined;
        const result = reuse ?? await runEval(e, v.clips, v.crops);
        await rt.sync(); // a result computed after a GPU error is never stored
        const name = v === views[0] ? e.name : `${e.name}@${v.clips}x${v.crops}`;
        record(e, v.clips, v.crops, result, tr ? epochsRun - 1 : undefined, name);
        finals.push({ name, spec: e, views: v, result });
        log(
          `${name}: top-1 ${result.top1.toFixed(2)} top-5 ${result.top5.toFixed(2)} (${result.count} videos)`,
        );
      }
    }
  }
  const seconds = (performance.now() - t0) / 1000;
  return {
    runId,
    status,
    epochsRun,
    best,
    losses,
    evals: finals,
    checkpoints,
    timing: {
      seconds,
      trainSeconds,
      dataSeconds,
      videos,
      videosPerSec: videos / Math.max(trainSeconds, 1e-9),
    },
  };
}
