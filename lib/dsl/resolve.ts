// Experiment → ResolvedExperiment: the upstream defaults (spec §4.1) filled in, paths made absolute,
// and every value and file checked before anything trains, so that a typo fails in a second with a
// message naming the experiment, the field and the file — not after an hour of decoding videos.

import { isAbsolute, resolve as resolvePath } from "node:path";
import { checkPromptConfig, CLIP_CONFIGS } from "../models/config.ts";
import { readLabelCsv } from "../data/labels.ts";
import { checkLabels, type ListItem, readList } from "../data/lists.ts";
import { classTokens, tokenizerFor } from "../models/load.ts";
import type { ClipConfig } from "../models/config.ts";
import { VARIANTS } from "../models/vifi.ts";
import { PromptTooLongError, type TextTokenizer } from "../text/tokenizer.ts";
import { batchPlan } from "./batch-plan.ts";
import {
  type EvalSpec,
  type Experiment,
  EXPERIMENT_KEYS,
  type KeyShape,
  PROTOCOL_KINDS,
  type ResolvedEval,
  type ResolvedExperiment,
  type ResolvedTrain,
} from "./types.ts";

/** A problem with an experiment; the message starts with `<file>: experiment "<name>": <field>:`. */
export class ExperimentError extends Error {
  constructor(
    readonly file: string,
    readonly experiment: string,
    readonly field: string,
    /** the message without the location prefix */
    readonly detail: string,
  ) {
    super(`${file}: experiment ${JSON.stringify(experiment)}: ${field}: ${detail}`);
    this.name = "ExperimentError";
  }
}

export interface ResolveOptions {
  /** file the experiment came from; named in every error */
  source: string;
  /** relative paths resolve against it; default `INIT_CWD` (set by `deno task`/npm) or the process cwd */
  cwd?: string;
  /**
   * `--dry-run`: a missing videos root or weight file becomes a warning in `warnings` instead of an
   * error (list and label files are still required: the dry run reads them)
   */
  dryRun?: boolean;
  /** a class count the label files must have, e.g. DATA.NUM_CLASSES of a YAML config */
  expectedClasses?: { value: number; field: string };
  /** list and label files already read, shared between the experiments of one load */
  cache?: FileCache;
}

/** Parsed list and label files by absolute path. */
export interface FileCache {
  lists: Map<string, Promise<ListItem[]>>;
  labels: Map<string, Promise<string[]>>;
}

export function newFileCache(): FileCache {
  return { lists: new Map(), labels: new Map() };
}

/** The upstream defaults (utils/config.py, spec §4.1). */
export const DEFAULTS = {
  epochs: 30,
  lr: 8e-6,
  batch: 8,
  accumulation: 1,
  worldSize: 1,
  warmupEpochs: 5,
  weightDecay: 0.001,
  labelSmoothing: 0.1,
  mixup: 0.8,
  cutmix: 1.0,
  switchProb: 0.5,
  colorJitter: 0.8,
  grayScale: 0.2,
  flip: 0.5,
  saveFreq: 1,
  seed: 1024,
  frames: 8,
  template: "a photo of a {name}.",
  variant: "both",
  precision: "auto",
  tokenizer: "clip",
  onError: "fail",
  clips: 1,
  crops: 1,
} as const;

export function defaultCwd(): string {
  try {
    return Deno.env.get("INIT_CWD") ?? Deno.cwd();
  } catch {
    return Deno.cwd(); // no env permission
  }
}

export function defaultWorkers(): number {
  return Math.max(1, (navigator.hardwareConcurrency ?? 2) - 1);
}

async function pathKind(p: string): Promise<"file" | "dir" | null> {
  try {
    const s = await Deno.stat(p);
    return s.isDirectory ? "dir" : "file";
  } catch (e) {
    if (e instanceof Deno.errors.NotFound || e instanceof Deno.errors.NotADirectory) return null;
    throw e;
  }
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

/**
 * Fills defaults, makes paths absolute and validates (see {@link ResolveOptions.dryRun} for what a
 * dry run tolerates). Throws {@link ExperimentError}.
 */
export async function resolveExperiment(e: Experiment, opts: ResolveOptions): Promise<ResolvedExperiment> {
  const source = opts.source;
  const name = typeof e?.name === "string" ? e.name : "<unnamed>";
  const fail = (field: string, msg: string): never => {
    throw new ExperimentError(source, name, field, msg);
  };
  const warnings: string[] = [];
  const cwd = opts.cwd ?? defaultCwd();
  const abs = (p: string, field: string): string => {
    if (typeof p !== "string" || p === "") fail(field, `expected a path, got ${JSON.stringify(p)}`);
    return isAbsolute(p) ? resolvePath(p) : resolvePath(cwd, p);
  };
  const posInt = (v: unknown, field: string): number => {
    if (typeof v !== "number" || !Number.isInteger(v) || v <= 0) {
      fail(field, `must be a positive integer, got ${JSON.stringify(v)}`);
    }
    return v as number;
  };
  const nonNegInt = (v: unknown, field: string): number => {
    if (typeof v !== "number" || !Number.isInteger(v) || v < 0) {
      fail(field, `must be a non-negative integer, got ${JSON.stringify(v)}`);
    }
    return v as number;
  };
  const inRange = (v: unknown, field: string, lo: number, hi: number, hiOpen = false): number => {
    if (typeof v !== "number" || !Number.isFinite(v) || v < lo || (hiOpen ? v >= hi : v > hi)) {
      fail(field, `must be a number in [${lo}, ${hi}${hiOpen ? ")" : "]"}, got ${JSON.stringify(v)}`);
    }
    return v as number;
  };
  const nonNeg = (v: unknown, field: string): number => inRange(v, field, 0, Infinity);
  const oneOf = <T extends string>(v: unknown, field: string, allowed: readonly T[]): T => {
    if (!allowed.includes(v as T)) {
      fail(
        field,
        `must be one of ${allowed.map((a) => JSON.stringify(a)).join(", ")}, got ${JSON.stringify(v)}`,
      );
    }
    return v as T;
  };

  if (typeof e !== "object" || e === null) fail("experiment", "expected an object");
  const unknown = unknownKey(e, EXPERIMENT_KEYS);
  if (unknown) fail(...unknown);
  if (
    typeof e.name !== "string" ||
    !/^[A-Za-z0-9][A-Za-z0-9._+=@,-]*(\/[A-Za-z0-9][A-Za-z0-9._+=@,-]*)*$/.test(e.name)
  ) {
    fail(
      "name",
      `must be non-empty letters, digits and . _ - + = @ , (with / between parts), got ${
        JSON.stringify(e.name)
      }`,
    );
  }
  if (typeof e.model !== "object" || e.model === null) fail("model", "missing");
  if (typeof e.data !== "object" || e.data === null) fail("data", "missing");
  if (!Array.isArray(e.evals)) fail("evals", "must be an array (empty for train-only runs)");

  // model
  const m = e.model;
  const variant = oneOf(m.variant ?? DEFAULTS.variant, "model.variant", VARIANTS);
  let arch: string | undefined;
  if (m.arch !== undefined) {
    if (!CLIP_CONFIGS[m.arch]) {
      fail(
        "model.arch",
        `unknown architecture ${JSON.stringify(m.arch)}; known: ${Object.keys(CLIP_CONFIGS).join(", ")}`,
      );
    }
    arch = m.arch;
  } else if (m.weights === undefined) {
    fail("model.arch", 'give an architecture (e.g. "ViT-B/16") or a weight file to infer it from');
  }
  const config = arch ? CLIP_CONFIGS[arch] : undefined;
  if (m.prompt !== undefined && variant !== "prompt") {
    fail("model.prompt", `a prompt config needs model.variant "prompt" (got ${JSON.stringify(variant)})`);
  }
  if (variant === "prompt" && m.prompt === undefined) {
    fail(
      "model.prompt",
      'model.variant "prompt" needs a prompt config {textCtx, visionCtx, textDepth, visionDepth}',
    );
  }
  if (m.prompt && config) {
    try {
      checkPromptConfig(config, m.prompt);
    } catch (err) {
      fail("model.prompt", (err as Error).message.replace(/^vifi: /, ""));
    }
  }
  // With learned text context the prompt is "X … X {name}." (spec §1.2): the X slots precede the name.
  const template = m.template ?? (m.prompt && m.prompt.textCtx > 0 ? "{name}." : DEFAULTS.template);
  const checkTemplate = (t: unknown, field: string) => {
    if (typeof t !== "string" || !t.includes("{name}")) {
      fail(field, `must be a string containing "{name}", got ${JSON.stringify(t)}`);
    }
  };
  checkTemplate(template, "model.template");
  const tokenizer = oneOf(m.tokenizer ?? DEFAULTS.tokenizer, "model.tokenizer", ["clip", "bytes"] as const);
  const precision = oneOf(
    m.precision ?? DEFAULTS.precision,
    "model.precision",
    ["f32", "f16", "auto"] as const,
  );
  const inputSize = posInt(m.inputSize ?? config?.vision.resolution ?? 224, "model.inputSize");
  if (config && inputSize % config.vision.patch !== 0) {
    fail("model.inputSize", `${inputSize} is not a multiple of ${arch}'s patch size ${config.vision.patch}`);
  }
  const optionalFile = async (p: string | undefined, field: string, what: string) => {
    if (p === undefined) return undefined;
    const a = abs(p, field);
    if ((await pathKind(a)) !== "file") {
      const msg = `${what} ${a} does not exist`;
      if (opts.dryRun) warnings.push(`${field}: ${msg}`);
      else fail(field, msg);
    }
    return a;
  };
  const weights = await optionalFile(m.weights, "model.weights", "weight file");
  const clipWeights = await optionalFile(m.clipWeights, "model.clipWeights", "CLIP weight file");
  const vocab = m.vocab === undefined ? undefined : abs(m.vocab, "model.vocab");
  if (vocab !== undefined && (await pathKind(vocab)) === null) {
    fail("model.vocab", `vocabulary ${vocab} does not exist`);
  }

  // data
  const d = e.data;
  const root = abs(d.root, "data.root");
  const frames = posInt(d.frames ?? DEFAULTS.frames, "data.frames");
  const workers = posInt(d.workers ?? defaultWorkers(), "data.workers");
  const onError = oneOf(d.onError ?? DEFAULTS.onError, "data.onError", ["fail", "skip"] as const);

  // protocol
  const protocol = { ...(e.protocol ?? { kind: "custom" as const }) };
  oneOf(protocol.kind, "protocol.kind", PROTOCOL_KINDS);
  if (protocol.seed !== undefined) posInt(protocol.seed, "protocol.seed");
  if (protocol.shots !== undefined) posInt(protocol.shots, "protocol.shots");

  const seed = e.seed ?? DEFAULTS.seed;
  if (typeof seed !== "number" || !Number.isInteger(seed) || seed < 0) {
    fail("seed", `must be a non-negative integer, got ${JSON.stringify(seed)}`);
  }
  const output = abs(e.output ?? `runs/${e.name}`, "output");

  const cache = opts.cache ?? newFileCache();
  const readLabels = async (path: string, field: string): Promise<string[]> => {
    if ((await pathKind(path)) !== "file") fail(field, `label file ${path} does not exist`);
    let p = cache.labels.get(path);
    if (!p) cache.labels.set(path, p = readLabelCsv(path));
    try {
      return await p;
    } catch (err) {
      return fail(field, (err as Error).message);
    }
  };
  const readItems = async (path: string, field: string): Promise<ListItem[]> => {
    if ((await pathKind(path)) !== "file") fail(field, `list file ${path} does not exist`);
    let p = cache.lists.get(path);
    if (!p) cache.lists.set(path, p = readList(path));
    let items: ListItem[];
    try {
      items = await p;
    } catch (err) {
      return fail(field, (err as Error).message);
    }
    if (items.length === 0) fail(field, `list file ${path} has no videos`);
    return items;
  };
  const checkRoot = async (r: string, field: string) => {
    // tar mode (spec §5.5): the archive is the path up to and including ".tar"
    const i = r.indexOf(".tar");
    const target = i >= 0 ? r.slice(0, i + 4) : r;
    if ((await pathKind(target)) === null) {
      const msg = `videos root ${target} does not exist`;
      if (opts.dryRun) warnings.push(`${field}: ${msg}`);
      else fail(field, msg);
    }
  };
  const checkedRoots = new Set<string>();
  const listPair = async (
    spec: { list: string; labels: string; root?: string },
    prefix: string,
  ): Promise<{ list: string; labels: string; root: string; items: ListItem[]; names: string[] }> => {
    const list = abs(spec.list, `${prefix}.list`);
    const labels = abs(spec.labels, `${prefix}.labels`);
    const r = spec.root === undefined ? root : abs(spec.root, `${prefix}.root`);
    const [items, names] = await Promise.all([
      readItems(list, `${prefix}.list`),
      readLabels(labels, `${prefix}.labels`),
    ]);
    try {
      checkLabels(items, names, list);
    } catch (err) {
      fail(`${prefix}.list`, `${(err as Error).message} (${labels})`);
    }
    if (opts.expectedClasses && names.length !== opts.expectedClasses.value) {
      fail(
        opts.expectedClasses.field,
        `is ${opts.expectedClasses.value} but the label file ${labels} (${prefix}.labels) has ${names.length} classes`,
      );
    }
    const rootField = spec.root === undefined ? "data.root" : `${prefix}.root`;
    if (!checkedRoots.has(r)) {
      checkedRoots.add(r);
      await checkRoot(r, rootField);
    }
    return { list, labels, root: r, items, names };
  };

  // the class prompts each label file will be tokenized with, checked against the text context below
  const prompts: { field: string; names: string[]; template: string }[] = [];

  // train
  let train: ResolvedTrain | undefined;
  if (e.train !== undefined) {
    const t = e.train;
    if (variant === "frozen") {
      fail("model.variant", '"frozen" trains nothing; drop the train section or pick a trainable variant');
    }
    const files = await listPair(t, "train");
    prompts.push({ field: "train.labels", names: files.names, template });
    const epochs = posInt(t.epochs ?? DEFAULTS.epochs, "train.epochs");
    const lr = t.lr ?? DEFAULTS.lr;
    if (typeof lr !== "number" || !Number.isFinite(lr) || lr <= 0) {
      fail("train.lr", `must be a positive number, got ${JSON.stringify(lr)}`);
    }
    if (protocol.shots !== undefined) {
      const counts = new Array<number>(files.names.length).fill(0);
      for (const it of files.items) counts[it.label]++;
      const c = counts.findIndex((n) => n < protocol.shots!);
      if (c >= 0) {
        fail(
          "protocol.shots",
          `K = ${protocol.shots} but class ${c} (${files.names[c]}) has only ${
            counts[c]
          } video(s) in ${files.list}`,
        );
      }
    }
    let resume: ResolvedTrain["resume"];
    if (t.resume !== undefined) {
      const mode = oneOf(t.resume.mode, "train.resume.mode", ["init", "continue"] as const);
      const path = await optionalFile(t.resume.path, "train.resume.path", "checkpoint");
      resume = { path: path!, mode };
    }
    let finalViews: ResolvedTrain["finalViews"];
    if (t.finalViews !== undefined) {
      finalViews = {
        clips: posInt(t.finalViews.clips, "train.finalViews.clips"),
        crops: posInt(t.finalViews.crops, "train.finalViews.crops"),
      };
    }
    const batch = posInt(t.batch ?? DEFAULTS.batch, "train.batch");
    const worldSize = posInt(t.worldSize ?? DEFAULTS.worldSize, "train.worldSize");
    const accumulation = accumulationOf(t, batch, worldSize, posInt, fail);
    const plan = batchPlan(files.items.length, { batch, accumulation, worldSize });
    if (plan.updatesPerEpoch < 1) {
      // shown by a dry run; the trainer refuses to start such a run (the list is read again there)
      const field = t.effectiveBatch !== undefined ? "train.effectiveBatch" : "train.batch";
      warnings.push(
        `${field}: an update takes ${plan.effectiveBatch} videos (batch ${batch} × accumulation ` +
          `${accumulation} × worldSize ${worldSize}) but the training list ${files.list} has ${files.items.length}`,
      );
    }
    train = {
      list: files.list,
      labels: files.labels,
      root: files.root,
      videos: files.items.length,
      epochs,
      lr,
      batch,
      accumulation,
      effectiveBatch: plan.effectiveBatch,
      worldSize,
      warmupEpochs: nonNegInt(t.warmupEpochs ?? DEFAULTS.warmupEpochs, "train.warmupEpochs"),
      weightDecay: nonNeg(t.weightDecay ?? DEFAULTS.weightDecay, "train.weightDecay"),
      labelSmoothing: inRange(
        t.labelSmoothing ?? DEFAULTS.labelSmoothing,
        "train.labelSmoothing",
        0,
        1,
        true,
      ),
      mixup: nonNeg(t.mixup ?? DEFAULTS.mixup, "train.mixup"),
      cutmix: nonNeg(t.cutmix ?? DEFAULTS.cutmix, "train.cutmix"),
      switchProb: inRange(t.switchProb ?? DEFAULTS.switchProb, "train.switchProb", 0, 1),
      colorJitter: inRange(t.colorJitter ?? DEFAULTS.colorJitter, "train.colorJitter", 0, 1),
      grayScale: inRange(t.grayScale ?? DEFAULTS.grayScale, "train.grayScale", 0, 1),
      flip: inRange(t.flip ?? DEFAULTS.flip, "train.flip", 0, 1),
      saveFreq: posInt(t.saveFreq ?? DEFAULTS.saveFreq, "train.saveFreq"),
      ...(resume ? { resume } : {}),
      ...(finalViews ? { finalViews } : {}),
    };
  }

  // evals
  if (!train && e.evals.length === 0) fail("evals", "no train section and no evaluations: nothing to run");
  const names = new Set<string>();
  const evals: ResolvedEval[] = [];
  for (let i = 0; i < e.evals.length; i++) {
    const ev: EvalSpec = e.evals[i];
    const prefix = `evals[${i}]`;
    if (typeof ev?.name !== "string" || ev.name === "") fail(`${prefix}.name`, "missing");
    if (names.has(ev.name)) fail(`${prefix}.name`, `two evaluations are named ${JSON.stringify(ev.name)}`);
    names.add(ev.name);
    const files = await listPair(ev, prefix);
    const evTemplate = ev.template ?? template;
    checkTemplate(evTemplate, `${prefix}.template`);
    prompts.push({ field: `${prefix}.labels`, names: files.names, template: evTemplate });
    if (ev.subset !== undefined) oneOf(ev.subset, `${prefix}.subset`, ["base", "novel", "all"] as const);
    if (ev.split !== undefined) posInt(ev.split, `${prefix}.split`);
    if (ev.dropLast !== undefined && typeof ev.dropLast !== "boolean") {
      fail(`${prefix}.dropLast`, `must be true or false, got ${JSON.stringify(ev.dropLast)}`);
    }
    evals.push({
      name: ev.name,
      list: files.list,
      labels: files.labels,
      root: files.root,
      clips: posInt(ev.clips ?? DEFAULTS.clips, `${prefix}.clips`),
      crops: posInt(ev.crops ?? DEFAULTS.crops, `${prefix}.crops`),
      template: evTemplate,
      dropLast: ev.dropLast ?? false,
      worldSize: posInt(ev.worldSize ?? 8, `${prefix}.worldSize`),
      ...(ev.dataset !== undefined ? { dataset: ev.dataset } : {}),
      ...(ev.split !== undefined ? { split: ev.split } : {}),
      ...(ev.subset !== undefined ? { subset: ev.subset } : {}),
    });
  }

  if (config) {
    const tooLong = await longPrompt(config, { tokenizer, vocab }, prompts, m.prompt?.textCtx ?? 0);
    if (tooLong) fail(...tooLong);
  }

  const resolved: ResolvedExperiment = {
    name: e.name,
    description: e.description ?? "",
    source,
    protocol,
    model: {
      variant,
      template,
      tokenizer,
      precision,
      inputSize,
      ...(arch !== undefined ? { arch } : {}),
      ...(weights !== undefined ? { weights } : {}),
      ...(clipWeights !== undefined ? { clipWeights } : {}),
      ...(m.prompt !== undefined ? { prompt: { ...m.prompt } } : {}),
      ...(vocab !== undefined ? { vocab } : {}),
    },
    data: { root, frames, workers, onError },
    ...(train ? { train } : {}),
    evals,
    seed,
    output,
  };
  if (warnings.length > 0) resolved.warnings = warnings;
  return resolved;
}

/**
 * The per-device accumulation: given, or effectiveBatch ÷ (batch × worldSize), which must divide and,
 * when both are given, agree.
 */
function accumulationOf(
  t: { accumulation?: number; effectiveBatch?: number },
  batch: number,
  worldSize: number,
  posInt: (v: unknown, field: string) => number,
  fail: (field: string, msg: string) => never,
): number {
  if (t.effectiveBatch === undefined) {
    return posInt(t.accumulation ?? DEFAULTS.accumulation, "train.accumulation");
  }
  const effective = posInt(t.effectiveBatch, "train.effectiveBatch");
  const step = batch * worldSize;
  if (effective % step !== 0) {
    fail(
      "train.effectiveBatch",
      `${effective} is not a multiple of batch ${batch} × worldSize ${worldSize} = ${step}`,
    );
  }
  const derived = effective / step;
  if (t.accumulation !== undefined && posInt(t.accumulation, "train.accumulation") !== derived) {
    fail(
      "train.accumulation",
      `${t.accumulation} conflicts with effectiveBatch ${effective} = batch ${batch} × ` +
        `worldSize ${worldSize} × accumulation ${derived}; give one of the two`,
    );
  }
  return derived;
}

const tokenizers = new Map<string, Promise<TextTokenizer | undefined>>();

/**
 * The first class prompt longer than the model's text context, as [field, message naming the class and the
 * prompt], so that a dry run finds what training would otherwise stop on after loading the model. Where the
 * tokenizer cannot be had (no CLIP vocabulary downloaded yet, or a CLIP tokenizer for a model with another
 * token table) nothing is checked here: training reports that itself when it starts.
 */
async function longPrompt(
  config: ClipConfig,
  t: { tokenizer: "clip" | "bytes"; vocab?: string },
  prompts: { field: string; names: string[]; template: string }[],
  placeholders: number,
): Promise<[string, string] | undefined> {
  const key = `${t.tokenizer}|${t.vocab ?? ""}|${config.text.vocab}`;
  let p = tokenizers.get(key);
  if (!p) tokenizers.set(key, p = tokenizerFor({ ...t, config }).catch(() => undefined));
  const tok = await p;
  if (!tok) return undefined;
  for (const { field, names, template } of prompts) {
    try {
      classTokens(tok, names, template, config.text.context, placeholders);
    } catch (err) {
      if (err instanceof PromptTooLongError) return [field, err.message.replace(/^vifi: /, "")];
      throw err;
    }
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
