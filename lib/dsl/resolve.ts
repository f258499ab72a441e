// Experiment → ResolvedExperiment: the upstream defaults (docs/upstream.md §6.2) filled in, paths made absolute,
// and every value and file checked before anything trains, so that a typo fails in a second with a
// message naming the experiment, the field and the file — not after an hour of decoding videos.
//
// One stage per section, in the order the checks run (which decides the error a broken experiment
// gets): the top-level shape here, then the model (resolve-model.ts), data (resolve-data.ts), the run's
// protocol, seed and output (here), train (resolve-train.ts), the evaluations (resolve-eval.ts), and
// last the class prompts against the text context (resolve-prompts.ts). The checks of single values and
// the error type are in resolve-context.ts, the defaults in defaults.ts.

import { readEnv } from "../io/env.ts";
import { batchPlan } from "./batch-plan.ts";
import { DEFAULTS } from "./defaults.ts";
import { ResolveContext, type ResolveOptions } from "./resolve-context.ts";
import { ListReader, resolveData } from "./resolve-data.ts";
import { resolveEvals } from "./resolve-eval.ts";
import { resolveModel } from "./resolve-model.ts";
import { isPretrain, resolvePretrain } from "./resolve-pretrain.ts";
import { checkPromptLengths, type ClassPrompts } from "./resolve-prompts.ts";
import { resolveTrain } from "./resolve-train.ts";
import {
  type Experiment,
  EXPERIMENT_KEYS,
  type KeyShape,
  PROTOCOL_KINDS,
  type ResolvedExperiment,
} from "./types.ts";

export { defaultCwd, DEFAULTS, defaultWorkers } from "./defaults.ts";
export { ExperimentError, type FileCache, newFileCache, type ResolveOptions } from "./resolve-context.ts";

/**
 * Fills defaults, makes paths absolute and validates (see {@link ResolveOptions.dryRun} for what a
 * dry run tolerates). Throws {@link ExperimentError}.
 */
export async function resolveExperiment(e: Experiment, opts: ResolveOptions): Promise<ResolvedExperiment> {
  const ctx = new ResolveContext(typeof e?.name === "string" ? e.name : "<unnamed>", opts);
  checkShape(ctx, e);
  const { model, config } = await resolveModel(ctx, e.model);
  if (isPretrain(e)) return await resolvePretrainExperiment(ctx, e, model, config);
  const data = resolveData(ctx, e.data!);
  const { protocol, seed, output } = resolveRun(ctx, e);
  const lists = new ListReader(ctx, data.root);
  // the class prompts each label file will be tokenized with, checked against the text context at the end
  const prompts: ClassPrompts[] = [];
  const train = e.train === undefined ? undefined : await resolveTrain(ctx, e.train, {
    variant: model.variant,
    template: model.template,
    shots: protocol.shots,
    lists,
    prompts,
  });
  const evals = await resolveEvals(ctx, e.evals, {
    trains: train !== undefined,
    template: model.template,
    lists,
    prompts,
  });
  if (config) {
    const text = { tokenizer: model.tokenizer, vocab: model.vocab };
    await checkPromptLengths(ctx, config, text, prompts, e.model.prompt?.textCtx ?? 0);
  }
  return assemble(ctx, e, { protocol, model, data, ...(train ? { train } : {}), evals, seed, output });
}

/** A pretrain run (resolve-pretrain.ts): the model, the run, and the pretrain section; no videos or evaluations. */
async function resolvePretrainExperiment(
  ctx: ResolveContext,
  e: Experiment,
  model: ResolvedExperiment["model"],
  config: Awaited<ReturnType<typeof resolveModel>>["config"],
): Promise<ResolvedExperiment> {
  const { protocol, seed, output } = resolveRun(ctx, e);
  const { pretrain, data } = await resolvePretrain(ctx, e, { seed, model, config });
  return assemble(ctx, e, { protocol, model, data, pretrain, evals: [], seed, output });
}

/** The resolved experiment from its resolved sections, with the warnings a dry run collected. */
function assemble(
  ctx: ResolveContext,
  e: Experiment,
  sections: Omit<ResolvedExperiment, "name" | "description" | "source" | "warnings">,
): ResolvedExperiment {
  const resolved: ResolvedExperiment = {
    name: e.name,
    description: e.description ?? "",
    source: ctx.source,
    ...sections,
  };
  if (ctx.warnings.length > 0) resolved.warnings = ctx.warnings;
  return resolved;
}

/** The top level: an object of known keys, a usable name, and the sections every experiment has. */
function checkShape(ctx: ResolveContext, e: Experiment): void {
  if (typeof e !== "object" || e === null) ctx.fail("experiment", "expected an object");
  const unknown = unknownKey(e, EXPERIMENT_KEYS);
  if (unknown) ctx.fail(...unknown);
  if (
    typeof e.name !== "string" ||
    !/^[A-Za-z0-9][A-Za-z0-9._+=@,-]*(\/[A-Za-z0-9][A-Za-z0-9._+=@,-]*)*$/.test(e.name)
  ) {
    ctx.fail(
      "name",
      `must be non-empty letters, digits and . _ - + = @ , (with / between parts), got ${
        JSON.stringify(e.name)
      }`,
    );
  }
  if (typeof e.model !== "object" || e.model === null) ctx.fail("model", "missing");
  // a pretrain run reads no videos (resolve-pretrain.ts refuses a data section)
  if (!isPretrain(e) && (typeof e.data !== "object" || e.data === null)) ctx.fail("data", "missing");
  if (!Array.isArray(e.evals)) ctx.fail("evals", "must be an array (empty for train-only runs)");
}

/** The run as a whole: which protocol of the paper it follows, its seed and its output folder. */
function resolveRun(
  ctx: ResolveContext,
  e: Experiment,
): Pick<ResolvedExperiment, "protocol" | "seed" | "output"> {
  const protocol = { ...(e.protocol ?? { kind: "custom" as const }) };
  ctx.oneOf(protocol.kind, "protocol.kind", PROTOCOL_KINDS);
  if (protocol.seed !== undefined) ctx.posInt(protocol.seed, "protocol.seed");
  if (protocol.shots !== undefined) ctx.posInt(protocol.shots, "protocol.shots");
  const seed = e.seed ?? DEFAULTS.seed;
  if (typeof seed !== "number" || !Number.isInteger(seed) || seed < 0) {
    ctx.fail("seed", `must be a non-negative integer, got ${JSON.stringify(seed)}`);
  }
  // VIFI_RUNS: the folder every run's output goes under, given once (a cluster's shared folder)
  const output = ctx.abs(e.output ?? `${readEnv("VIFI_RUNS") || "runs"}/${e.name}`, "output");
  return { protocol, seed, output };
}

/** Edit distance, for suggesting the key a typo meant. */
function distance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) {
      next[j] = Math.min(row[j] + 1, next[j - 1] + 1, row[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    row = next;
  }
  return row[b.length];
}

/** The first key of `v` that `shape` does not have, as [field path, message], depth first. */
export function unknownKey(v: unknown, shape: KeyShape, path = ""): [string, string] | undefined {
  if (shape === true || typeof v !== "object" || v === null) return undefined;
  if (Array.isArray(shape)) {
    if (!Array.isArray(v)) return undefined;
    for (let i = 0; i < v.length; i++) {
      const bad = unknownKey(v[i], shape[0], `${path}[${i}]`);
      if (bad) return bad;
    }
    return undefined;
  }
  if (Array.isArray(v)) return undefined;
  const known = Object.keys(shape);
  for (const [key, value] of Object.entries(v)) {
    const field = path ? `${path}.${key}` : key;
    if (!Object.hasOwn(shape, key)) {
      const near = known.filter((k) => distance(k.toLowerCase(), key.toLowerCase()) <= 2);
      const hint = near.length ? ` (did you mean ${near.map((k) => JSON.stringify(k)).join(" or ")}?)` : "";
      return [field, `unknown key${hint}; ${path || "an experiment"} takes ${known.join(", ")}`];
    }
    const bad = unknownKey(value, (shape as { readonly [k: string]: KeyShape })[key], field);
    if (bad) return bad;
  }
  return undefined;
}

/** Batch sizes and counts per epoch, as `--dry-run` shows them. */
function planOf(t: NonNullable<ResolvedExperiment["train"]>): Record<string, number> {
  const p = batchPlan(t.videos, t);
  return {
    batch: t.batch,
    accumulation: t.accumulation,
    worldSize: t.worldSize,
    effectiveBatch: p.effectiveBatch,
    microBatchesPerUpdate: p.microBatchesPerUpdate,
    videos: t.videos,
    itersPerEpoch: p.itersPerEpoch,
    updatesPerEpoch: p.updatesPerEpoch,
  };
}

/** The JSON object `--dry-run` prints: what will run, with every default made visible. */
export function describeResolved(r: ResolvedExperiment): Record<string, unknown> {
  const t = r.train;
  return {
    name: r.name,
    ...(r.description ? { description: r.description } : {}),
    source: r.source,
    protocol: r.protocol,
    model: {
      arch: r.model.arch ?? "(from weights)",
      weights: r.model.weights ?? "(random init)",
      ...(r.model.clipWeights ? { clipWeights: r.model.clipWeights } : {}),
      variant: r.model.variant,
      prompt: r.model.prompt ?? null,
      template: r.model.template,
      tokenizer: r.model.tokenizer,
      vocab: r.model.vocab ?? "(download cache)",
      precision: r.model.precision,
      inputSize: r.model.inputSize,
    },
    data: r.data,
    frames: r.data.frames,
    ...(r.pretrain ? { pretrain: r.pretrain } : {}),
    train: t
      ? {
        list: t.list,
        labels: t.labels,
        root: t.root,
        epochs: t.epochs,
        lr: t.lr,
        ...planOf(t),
        warmupEpochs: t.warmupEpochs,
        weightDecay: t.weightDecay,
        labelSmoothing: t.labelSmoothing,
        mixup: t.mixup,
        cutmix: t.cutmix,
        switchProb: t.switchProb,
        colorJitter: t.colorJitter,
        grayScale: t.grayScale,
        flip: t.flip,
        saveFreq: t.saveFreq,
        resume: t.resume ?? null,
        finalViews: t.finalViews ?? null,
      }
      : null,
    evals: r.evals.map((ev) => ({
      name: ev.name,
      ...(ev.dataset !== undefined ? { dataset: ev.dataset } : {}),
      ...(ev.split !== undefined ? { split: ev.split } : {}),
      ...(ev.subset !== undefined ? { subset: ev.subset } : {}),
      list: ev.list,
      labels: ev.labels,
      root: ev.root,
      views: `${ev.clips}x${ev.crops}`,
      clips: ev.clips,
      crops: ev.crops,
      template: ev.template,
      dropLast: ev.dropLast ? { worldSize: ev.worldSize } : false,
    })),
    seed: r.seed,
    output: r.output,
    warnings: r.warnings ?? [],
  };
}
