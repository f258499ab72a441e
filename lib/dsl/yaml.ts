// The upstream YAML configs, run unchanged: the merged config tree (yaml-tree.ts: yacs defaults, BASE
// includes, --opts, flags) is mapped onto an Experiment, so the trainer never sees a yacs key.

import { basename, isAbsolute, relative, resolve as resolvePath, sep } from "node:path";
import { CLIP_RELEASES, defaultCacheDir } from "../io/download.ts";
import type { EvalSpec, Experiment, ModelSpec, ProtocolTag, TrainSpec } from "./types.ts";
import { defaultCwd } from "./defaults.ts";
import {
  ConfigError,
  type ConfigFlags,
  loadConfigTree,
  type Tree,
  UPSTREAM_WORLD_SIZE,
} from "./yaml-tree.ts";

export {
  applyOpts,
  ConfigError,
  type ConfigFlags,
  literalEval,
  loadConfigTree,
  UPSTREAM_WORLD_SIZE,
} from "./yaml-tree.ts";

const DATASET_NAMES: Record<string, string> = {
  kinetics400: "k400",
  k400: "k400",
  kinetics600: "k600",
  k600: "k600",
  hmdb51: "hmdb",
  hmdb: "hmdb",
  ucf101: "ucf",
  ucf: "ucf",
  ssv2: "ssv2",
  sthsthv2: "ssv2",
};

/** Which table of the paper a config belongs to, from its path and, failing that, its files. */
export function protocolOf(file: string, cfg: Tree): ProtocolTag {
  const data = cfg.DATA as Tree;
  const trainFile = String(data.TRAIN_FILE);
  const valFile = String(data.VAL_FILE);
  const labels = String(data.LABEL_LIST);
  const p = file.replaceAll("\\", "/");
  const segs = p.split("/").map((s) => s.toLowerCase());
  let dataset: string | undefined;
  for (const s of [...segs].reverse()) {
    if (DATASET_NAMES[s]) {
      dataset = DATASET_NAMES[s];
      break;
    }
  }
  if (/ZS_split\d_K600/i.test(valFile) || /ZS_split\d_K600/i.test(labels)) dataset = "k600";
  dataset ??= DATASET_NAMES[String(data.DATASET).toLowerCase()] ?? String(data.DATASET);
  const name = basename(p);
  if (segs.includes("zero_shot")) return { kind: "zero-shot", dataset };
  if (segs.includes("base2novel") || /fs_base_s\d/.test(trainFile)) {
    const s = /_s(\d)\.ya?ml$/.exec(name)?.[1] ??
      (/novel_eval/.test(name) ? undefined : /fs_base_s(\d)/.exec(trainFile)?.[1]);
    return { kind: "base-to-novel", dataset, ...(s ? { seed: Number(s) } : {}) };
  }
  if (segs.includes("few_shot") || /few_shot_\d+/.test(trainFile)) {
    const k = /(\d+)_shot\.ya?ml$/.exec(name)?.[1] ?? /few_shot_(\d+)/.exec(trainFile)?.[1];
    return { kind: "few-shot", dataset, ...(k ? { shots: Number(k) } : {}) };
  }
  if (segs.includes("fully_supervised")) return { kind: "fully-supervised", dataset };
  if (/ZS_split\d_K600/i.test(valFile)) return { kind: "zero-shot", dataset };
  return { kind: "custom", dataset };
}

/** The evaluation's name in results, from the validation list: base / novel / hmdb/split2 / val. */
function evalNaming(
  valFile: string,
  dataset: string | undefined,
): Pick<EvalSpec, "name" | "split" | "subset"> {
  const f = basename(valFile);
  if (/^base_val\./.test(f)) return { name: "base", subset: "base" };
  if (/^novel_val\./.test(f)) return { name: "novel", subset: "novel" };
  const m = /(?:^val|ZS_split)(\d)/i.exec(f);
  if (m && dataset) return { name: `${dataset}/split${m[1]}`, split: Number(m[1]) };
  return { name: "val" };
}

/** Experiment name from the config path: the part below `configs/`, `/` → `.`, without extension. */
function nameOf(file: string): string {
  const parts = resolvePath(file).split(sep);
  const i = parts.lastIndexOf("configs");
  const rel = (i >= 0 ? parts.slice(i + 1) : [parts.at(-1)!]).join(".");
  return rel.replace(/\.ya?ml$/, "").replace(/[^A-Za-z0-9._+=@,-]/g, "_");
}

export interface YamlExperiment {
  experiment: Experiment;
  /** DATA.NUM_CLASSES, which every label file must match */
  numClasses: number;
}

export interface YamlOptions {
  opts?: string[];
  flags?: ConfigFlags;
  /** where relative DATA paths resolve; default INIT_CWD or the process cwd (as the upstream's python) */
  cwd?: string;
  /** folder holding OpenAI's CLIP releases; default the download cache */
  cacheDir?: string;
}

/** Reads a config (with includes, opts and flags) and maps every key the upstream reads onto an Experiment. */
export async function yamlExperiment(file: string, o: YamlOptions = {}): Promise<YamlExperiment> {
  const path = resolvePath(file);
  const cfg = await loadConfigTree(path, o.opts ?? [], o.flags ?? {});
  return { experiment: await mapConfig(path, cfg, o), numClasses: (cfg.DATA as Tree).NUM_CLASSES as number };
}

async function newestCheckpoint(dir: string): Promise<string | undefined> {
  let best: { path: string; mtime: number } | undefined;
  try {
    for await (const e of Deno.readDir(dir)) {
      if (!e.isFile || !/\.(pth|pt|ckpt|safetensors)$/.test(e.name)) continue;
      const p = resolvePath(dir, e.name);
      const mtime = (await Deno.stat(p)).mtime?.getTime() ?? 0;
      if (!best || mtime > best.mtime) best = { path: p, mtime };
    }
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  return best?.path;
}

/** A config being mapped: its sections, the command line's reading of it, and where its paths resolve. */
interface Mapping {
  file: string;
  cfg: Tree;
  o: YamlOptions;
  cwd: string;
  DATA: Tree;
  MODEL: Tree;
  TRAIN: Tree;
  AUG: Tree;
  TEST: Tree;
  /** TRAINER.ViFi_CLIP */
  VC: Tree;
  /** --only_test: evaluate, train nothing */
  onlyTest: boolean;
  /** TRAINER.ViFi_CLIP.ZS_EVAL: evaluate vanilla CLIP */
  zsEval: boolean;
  /** TRAINER.ViFi_CLIP.PROMPT_MODEL: the prompt-learning variant */
  promptModel: boolean;
  /** a path of the config, made absolute against `cwd` (as the upstream's python resolves it) */
  at(p: string): string;
  fail(key: string, msg: string): never;
  /** the string value `sec[k]`, whose dotted key is `key` */
  str(sec: Tree, k: string, key: string): string;
}

/**
 * Maps the merged tree onto an Experiment, one part per section; the parts run in this order so that a
 * config with several problems always reports the same one first.
 */
async function mapConfig(file: string, cfg: Tree, o: YamlOptions): Promise<Experiment> {
  const m = mappingOf(file, cfg, o);
  const { model, clipFile } = mapModel(m);
  const output = typeof cfg.OUTPUT === "string" && cfg.OUTPUT !== "" ? m.at(cfg.OUTPUT) : undefined;
  const resume = await mapResume(m, output);
  if (m.onlyTest && resume) {
    // a ViFi-CLIP checkpoint lacks the token table: CLIP supplies it (docs/upstream.md §4.1)
    model.weights = resume;
    if (clipFile) model.clipWeights = clipFile;
  }
  const protocol = protocolOf(file, cfg);
  const evals = mapEvals(m, protocol.dataset);
  const train = m.onlyTest ? undefined : mapTrain(m, resume);
  const rel = relative(m.cwd, file);
  return {
    name: nameOf(file) + (m.onlyTest ? ".test" : ""),
    description: `upstream config ${rel.startsWith("..") ? file : rel}${m.onlyTest ? " (--only_test)" : ""}`,
    protocol,
    model,
    data: { root: m.at(m.DATA.ROOT as string), frames: m.DATA.NUM_FRAMES as number },
    ...(train ? { train } : {}),
    evals,
    seed: cfg.SEED as number,
    ...(output ? { output } : {}),
  };
}

/** The sections of the tree and the helpers every part uses; the DATA paths must be strings, set. */
function mappingOf(file: string, cfg: Tree, o: YamlOptions): Mapping {
  const cwd = o.cwd ?? defaultCwd();
  const fail = (key: string, msg: string): never => {
    throw new ConfigError(file, key, msg);
  };
  const str = (sec: Tree, k: string, key: string) => {
    const v = sec[k];
    if (typeof v !== "string") fail(key, `expected a string, got ${JSON.stringify(v)}`);
    return v as string;
  };
  const DATA = cfg.DATA as Tree, TEST = cfg.TEST as Tree, VC = (cfg.TRAINER as Tree).ViFi_CLIP as Tree;
  for (const k of ["ROOT", "TRAIN_FILE", "VAL_FILE", "LABEL_LIST"]) {
    if (str(DATA, k, `DATA.${k}`) === "" && k !== "TRAIN_FILE") fail(`DATA.${k}`, "is empty");
  }
  return {
    file,
    cfg,
    o,
    cwd,
    DATA,
    MODEL: cfg.MODEL as Tree,
    TRAIN: cfg.TRAIN as Tree,
    AUG: cfg.AUG as Tree,
    TEST,
    VC,
    onlyTest: TEST.ONLY_TEST === true,
    zsEval: VC.ZS_EVAL === true,
    promptModel: VC.PROMPT_MODEL === true,
    at: (p: string) => (isAbsolute(p) ? p : resolvePath(cwd, p)),
    fail,
    str,
  };
}

/**
 * MODEL and TRAINER.ViFi_CLIP: the variant (vanilla CLIP, prompt learning or which towers train), the
 * template from CTX_INIT, and OpenAI's CLIP release of the architecture as the weights.
 */
function mapModel(m: Mapping): { model: ModelSpec; clipFile?: string } {
  const { VC, zsEval, promptModel } = m;
  const arch = m.str(m.MODEL, "ARCH", "MODEL.ARCH");
  if (zsEval && !m.onlyTest) {
    m.fail(
      "TRAINER.ViFi_CLIP.ZS_EVAL",
      "evaluates vanilla CLIP and trains nothing: add --only_test (TEST.ONLY_TEST)",
    );
  }
  let variant: ModelSpec["variant"];
  if (zsEval) variant = "frozen";
  else if (promptModel) variant = "prompt";
  else {
    const use = VC.USE;
    if (use !== "both" && use !== "image" && use !== "text") {
      m.fail("TRAINER.ViFi_CLIP.USE", `must be "both", "image" or "text", got ${JSON.stringify(use)}`);
    }
    variant = use as "both" | "image" | "text";
  }
  const ctxInit = m.str(VC, "CTX_INIT", "TRAINER.ViFi_CLIP.CTX_INIT");
  let template: string | undefined;
  if (zsEval) template = "{name}";
  else if (!promptModel) template = `${ctxInit.replaceAll("_", " ")} {name}.`;
  const nCtxText = VC.N_CTX_TEXT as number;
  if (promptModel && !zsEval && ctxInit !== "" && nCtxText <= 4) {
    // upstream then initialises the context from CTX_INIT's token embeddings; no shipped config does
    m.fail(
      "TRAINER.ViFi_CLIP.CTX_INIT",
      `with N_CTX_TEXT ${nCtxText} ≤ 4 the upstream initialises the prompt context from these words, ` +
        `which vifi does not implement; set CTX_INIT to "" or N_CTX_TEXT above 4`,
    );
  }
  const release = CLIP_RELEASES[arch];
  const clipFile = release ? resolvePath(m.o.cacheDir ?? defaultCacheDir(), release.file) : undefined;
  const model: ModelSpec = {
    arch,
    variant,
    ...(template ? { template } : {}),
    tokenizer: "clip",
    precision: m.TRAIN.OPT_LEVEL === "O0" ? "f32" : "auto",
    inputSize: m.DATA.INPUT_SIZE as number,
    ...(clipFile ? { weights: clipFile } : {}),
  };
  if (promptModel && !zsEval) {
    model.prompt = {
      textCtx: nCtxText,
      visionCtx: VC.N_CTX_VISION as number,
      textDepth: VC.PROMPT_DEPTH_TEXT as number,
      visionDepth: VC.PROMPT_DEPTH_VISION as number,
    };
  }
  return { model, clipFile };
}

/** The checkpoint to start from: MODEL.RESUME (--resume), or with TRAIN.AUTO_RESUME the output's newest. */
async function mapResume(m: Mapping, output: string | undefined): Promise<string | undefined> {
  let resumePath = m.MODEL.RESUME;
  if (resumePath !== null && typeof resumePath !== "string") {
    m.fail("MODEL.RESUME", `expected a checkpoint path, got ${JSON.stringify(resumePath)}`);
  }
  if (m.TRAIN.AUTO_RESUME === true && !m.onlyTest) {
    // upstream: the newest checkpoint in the output folder replaces --resume (same epoch-reset rules)
    const found = output ? await newestCheckpoint(output) : undefined;
    if (found) resumePath = found;
  }
  return typeof resumePath === "string" && resumePath !== "" ? m.at(resumePath) : undefined;
}

/** The one evaluation a config has: DATA.VAL_FILE with TEST's views, named after the list. */
function mapEvals(m: Mapping, dataset: string | undefined): EvalSpec[] {
  const valFile = m.DATA.VAL_FILE as string;
  return [{
    ...evalNaming(valFile, dataset),
    ...(dataset ? { dataset } : {}),
    list: m.at(valFile),
    labels: m.at(m.DATA.LABEL_LIST as string),
    clips: m.TEST.NUM_CLIP as number,
    crops: m.TEST.NUM_CROP as number,
  }];
}

/** TRAIN, AUG and SAVE_FREQ; a resumed checkpoint starts the schedule over, as the upstream's --resume does. */
function mapTrain(m: Mapping, resume: string | undefined): TrainSpec {
  const { TRAIN, AUG } = m;
  const trainFile = m.DATA.TRAIN_FILE as string;
  if (trainFile === "") m.fail("DATA.TRAIN_FILE", "is empty (set it, or evaluate only with --only_test)");
  return {
    list: m.at(trainFile),
    labels: m.at(m.DATA.LABEL_LIST as string),
    epochs: TRAIN.EPOCHS as number,
    lr: TRAIN.LR as number,
    batch: TRAIN.BATCH_SIZE as number,
    accumulation: TRAIN.ACCUMULATION_STEPS as number,
    // effective batch = BATCH_SIZE × ACCUMULATION_STEPS × GPUs, as the configs' "# BS 64" comments say
    worldSize: m.o.flags?.worldSize ?? UPSTREAM_WORLD_SIZE,
    warmupEpochs: TRAIN.WARMUP_EPOCHS as number,
    weightDecay: TRAIN.WEIGHT_DECAY as number,
    labelSmoothing: AUG.LABEL_SMOOTH as number,
    mixup: AUG.MIXUP as number,
    cutmix: AUG.CUTMIX as number,
    switchProb: AUG.MIXUP_SWITCH_PROB as number,
    colorJitter: AUG.COLOR_JITTER as number,
    grayScale: AUG.GRAY_SCALE as number,
    saveFreq: m.cfg.SAVE_FREQ as number,
    ...(resume ? { resume: { path: resume, mode: "init" as const } } : {}),
    ...(m.TEST.MULTI_VIEW_INFERENCE === true ? { finalViews: { clips: 4, crops: 3 } } : {}),
  };
}

/** Experiment fields → the YAML keys they come from, so that a validation error names both. */
export const YAML_KEYS: Record<string, string> = {
  "name": "(config path)",
  "data.root": "DATA.ROOT",
  "data.frames": "DATA.NUM_FRAMES",
  "model.arch": "MODEL.ARCH",
  "model.weights": "MODEL.ARCH / --resume",
  "model.clipWeights": "MODEL.ARCH",
  "model.variant": "TRAINER.ViFi_CLIP.USE / PROMPT_MODEL / ZS_EVAL",
  "model.prompt": "TRAINER.ViFi_CLIP.N_CTX_* / PROMPT_DEPTH_*",
  "model.template": "TRAINER.ViFi_CLIP.CTX_INIT",
  "model.inputSize": "DATA.INPUT_SIZE",
  "train.list": "DATA.TRAIN_FILE",
  "train.labels": "DATA.LABEL_LIST",
  "train.epochs": "TRAIN.EPOCHS",
  "train.lr": "TRAIN.LR",
  "train.batch": "TRAIN.BATCH_SIZE",
  "train.accumulation": "TRAIN.ACCUMULATION_STEPS",
  "train.worldSize": "--world-size",
  "train.warmupEpochs": "TRAIN.WARMUP_EPOCHS",
  "train.weightDecay": "TRAIN.WEIGHT_DECAY",
  "train.labelSmoothing": "AUG.LABEL_SMOOTH",
  "train.mixup": "AUG.MIXUP",
  "train.cutmix": "AUG.CUTMIX",
  "train.switchProb": "AUG.MIXUP_SWITCH_PROB",
  "train.colorJitter": "AUG.COLOR_JITTER",
  "train.grayScale": "AUG.GRAY_SCALE",
  "train.saveFreq": "SAVE_FREQ",
  "train.resume.path": "MODEL.RESUME / --resume",
  "evals[0].list": "DATA.VAL_FILE",
  "evals[0].labels": "DATA.LABEL_LIST",
  "evals[0].clips": "TEST.NUM_CLIP",
  "evals[0].crops": "TEST.NUM_CROP",
  "seed": "SEED",
  "output": "OUTPUT / --output",
  "protocol.shots": "(config path: K-shot)",
};
