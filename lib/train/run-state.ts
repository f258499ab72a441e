// One run as its stages share it: what it runs (runtime, experiment, model, tokenizer), whom it tells
// (the caller's hooks and the results store), and what it has built up so far (losses, checkpoints,
// the best validation, the time spent). The data, step, schedule, validation and checkpoint stages
// take this object instead of closing over the trainer's variables. What a run returns (RunOutcome) is
// here too, so that a training run and a pretrain run (lib/train/run-pretrain.ts) answer alike.

import { singleWorld, type World } from "../dist/mpi.ts";
import type { ResolvedEval, ResolvedExperiment } from "../dsl/types.ts";
import type { Runtime } from "../gpu/runtime.ts";
import type { ViFiClip } from "../models/vifi.ts";
import type { TextTokenizer } from "../text/tokenizer.ts";
import type { EvalResult } from "./evaluator.ts";
import { ClassSets } from "./run-data.ts";
import type { RunRecords } from "./run-records.ts";

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

/** What the caller of a run listens with and stops it by (the trainer's options, less the store). */
export interface RunHooks {
  /** one line per event worth a log (validation, checkpoint, evaluation) */
  log: (line: string) => void;
  onProgress?: (e: ProgressEvent) => void;
  /** Ctrl-C: finish the current step, save, stop */
  signal?: AbortSignal;
  /** stop after this many loader iterations in all (benchmarks) */
  maxIterations?: number;
  /** data-parallel: the ranks training this model together (default: a world of one) */
  world?: World;
}

export interface BestEpoch {
  epoch: number;
  top1: number;
}

export class TrainingRun {
  status: "done" | "interrupted" = "done";
  /** epochs trained to their end (an interrupted one is not) */
  epochsRun = 0;
  readonly losses: number[] = [];
  /** every checkpoint file written, in order */
  readonly checkpoints: string[] = [];
  best?: BestEpoch;
  /** the best validation top-1 so far (a continued run's checkpoint may carry one without an epoch) */
  bestTop1 = -Infinity;
  /** the validation of the final epoch: the first evaluation on the final weights, not run twice */
  lastValidation?: EvalResult;
  /** training steps taken in this process, over all epochs */
  iterationsDone = 0;
  trainSeconds = 0;
  /** time the step loop waited for the loader */
  dataSeconds = 0;
  /** videos stepped on */
  videos = 0;
  readonly classSets: ClassSets;
  /** the ranks training this model together; rank 0 alone writes files and the store */
  readonly world: World;

  constructor(
    readonly rt: Runtime,
    readonly exp: ResolvedExperiment,
    readonly model: ViFiClip,
    readonly tok: TextTokenizer,
    readonly hooks: RunHooks,
    readonly records: RunRecords,
  ) {
    this.classSets = new ClassSets(tok, model);
    this.world = hooks.world ?? singleWorld();
  }

  /** whether this process writes the run's files (checkpoints, the output folder): rank 0 of the world */
  get writes(): boolean {
    return this.world.rank === 0;
  }

  log(line: string): void {
    this.hooks.log(line);
  }

  get interrupted(): boolean {
    return this.hooks.signal?.aborted ?? false;
  }

  /** the benchmarks' limit on training steps, reached */
  get atIterationLimit(): boolean {
    return this.hooks.maxIterations !== undefined && this.iterationsDone >= this.hooks.maxIterations;
  }
}
