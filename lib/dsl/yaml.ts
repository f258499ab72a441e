// The upstream YAML configs, run unchanged. Loading follows the upstream's yacs code: the defaults
// tree of utils/config.py, recursive `BASE:` includes, string values literal-evaluated, unknown keys
// refused, `--opts KEY VALUE …` on top, then the command-line flags (spec §9: YAML < --opts < flags).
// The merged tree is then mapped onto an Experiment, so the trainer never sees a yacs key.

import { parse } from "npm:yaml@2.9.1";
import { basename, dirname, isAbsolute, relative, resolve as resolvePath, sep } from "node:path";
import { CLIP_RELEASES, defaultCacheDir } from "../io/download.ts";
import { oneLine } from "../io/messages.ts";
import type { EvalSpec, Experiment, ModelSpec, ProtocolTag, TrainSpec } from "./types.ts";
import { defaultCwd } from "./resolve.ts";

/** A bad config: the message starts with the file (or `--opts`) and the dotted key. */
export class ConfigError extends Error {
  constructor(readonly file: string, readonly key: string, message: string) {
    // keys and values come from the file and may hold line breaks: the message stays one line
    super(`${file}: ${oneLine(key)}: ${oneLine(message)}`);
    this.name = "ConfigError";
  }
}

type Value = string | number | boolean | null | Value[];
type Tree = { [key: string]: Value | Tree };

/**
 * utils/config.py's defaults. `null` marks a key whose default is None (any type accepted). Keys the
 * ViFi-CLIP code never reads are kept so that configs setting them still load.
 */
function upstreamDefaults(): Tree {
  return {
    BASE: [""],
    DATA: {
      ROOT: "",
      TRAIN_FILE: "",
      VAL_FILE: "",
      DATASET: "kinetics400",
      INPUT_SIZE: 224,
      NUM_FRAMES: 8,
      NUM_CLASSES: 400,
      LABEL_LIST: "labels/kinetics_400_labels.csv",
    },
    MODEL: {
      ARCH: "ViT-B/32",
      DROP_PATH_RATE: 0.0,
      PRETRAINED: null,
      RESUME: null,
      FIX_TEXT: true,
    },
    TRAIN: {
      EPOCHS: 30,
      WARMUP_EPOCHS: 5,
      WEIGHT_DECAY: 0.001,
      LR: 8e-6,
      BATCH_SIZE: 8,
      ACCUMULATION_STEPS: 1,
      LR_SCHEDULER: "cosine",
      OPTIMIZER: "adamw",
      OPT_LEVEL: "O1",
      AUTO_RESUME: false,
      USE_CHECKPOINT: false,
    },
    AUG: {
      LABEL_SMOOTH: 0.1,
      COLOR_JITTER: 0.8,
      GRAY_SCALE: 0.2,
      MIXUP: 0.8,
      CUTMIX: 1.0,
      MIXUP_SWITCH_PROB: 0.5,
    },
    TEST: {
      NUM_CLIP: 1,
      NUM_CROP: 1,
      ONLY_TEST: false,
      MULTI_VIEW_INFERENCE: false,
    },
    TRAINER: {
      ViFi_CLIP: {
        PROMPT_MODEL: false,
        N_CTX_VISION: 0,
        N_CTX_TEXT: 0,
        CTX_INIT: "a photo of a",
        PROMPT_DEPTH_VISION: 0,
        PROMPT_DEPTH_TEXT: 1,
        USE: "both",
        ZS_EVAL: false,
      },
    },
    OUTPUT: "",
    SAVE_FREQ: 1,
    PRINT_FREQ: 50,
    SEED: 1024,
  };
}

const isTree = (v: unknown): v is Tree => typeof v === "object" && v !== null && !Array.isArray(v);

/**
 * Python's `ast.literal_eval` for the literals configs use (what yacs applies to every string value):
 * ints, floats (`4.e-02`, `8e-06`), True/False/None, quoted strings, flat lists/tuples. Anything else
 * stays the string it was, as in yacs.
 */
export function literalEval(text: string): Value {
  const s = text.trim();
  if (/^[+-]?\d[\d_]*$/.test(s)) return Number(s.replaceAll("_", ""));
  if (/^[+-]?(\d[\d_]*\.[\d_]*|\.\d[\d_]*|\d[\d_]*)([eE][+-]?\d+)?$/.test(s)) {
    return Number(s.replaceAll("_", ""));
  }
  if (s === "True") return true;
  if (s === "False") return false;
  if (s === "None") return null;
  const q = /^(?:[rRuUbB]?)(['"])(.*)\1$/s.exec(s);
  if (q && !q[2].includes(q[1])) {
    return q[2].replace(
      /\\(.)/g,
      (_, c: string) => ({ n: "\n", t: "\t", r: "\r", "\\": "\\" } as Record<string, string>)[c] ?? c,
    );
  }
  const l = /^[[(](.*)[\])]$/s.exec(s);
  if (l && (s[0] === "[") === (s.at(-1) === "]")) {
    const inner = l[1].trim();
    if (inner === "") return [];
    const parts = inner.split(",").map((p) => p.trim()).filter((p, i, a) => p !== "" || i < a.length - 1);
    const items = parts.map(literalEval);
    // a list of Python names (not literals) is a syntax error in literal_eval: keep the text
    if (parts.every((p, i) => typeof items[i] !== "string" || /^[rRuUbB]?['"]/.test(p))) return items;
  }
  return text;
}

function decode(v: unknown): Value | Tree {
  if (typeof v === "string") return literalEval(v);
  if (Array.isArray(v)) return v.map((x) => decode(x) as Value);
  if (isTree(v)) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, decode(x)]));
  return v as Value;
}

function typeName(v: unknown): string {
  if (v === null) return "None";
  if (Array.isArray(v)) return "list";
  return typeof v;
}

/** yacs' type check: the new value must have the default's type (numbers: int and float both fine). */
function coerce(file: string, key: string, old: Value | Tree, v: Value | Tree): Value | Tree {
  if (old === null || v === null) return v;
  if (typeof old === typeof v && Array.isArray(old) === Array.isArray(v) && isTree(old) === isTree(v)) {
    return v;
  }
  throw new ConfigError(
    file,
    key,
    `type mismatch: the default is ${typeName(old)} ${JSON.stringify(old)}, got ${typeName(v)} ${
      JSON.stringify(v)
    }`,
  );
}

function mergeInto(dst: Tree, src: Tree, file: string, prefix = ""): void {
  for (const [k, v] of Object.entries(src)) {
    const key = prefix ? `${prefix}.${k}` : k;
    if (!(k in dst)) {
      throw new ConfigError(file, key, "unknown config key (not in the upstream's utils/config.py)");
    }
    const old = dst[k];
    if (isTree(old)) {
      if (!isTree(v)) {
        throw new ConfigError(file, key, `expected a section of keys, got ${JSON.stringify(v)}`);
      }
      mergeInto(old, v, file, key);
    } else {
      dst[k] = coerce(file, key, old, v as Value);
    }
  }
}

async function mergeFile(cfg: Tree, file: string, stack: string[]): Promise<void> {
  if (stack.includes(file)) {
    throw new ConfigError(file, "BASE", `include cycle: ${[...stack, file].join(" → ")}`);
  }
  let text: string;
  try {
    text = await Deno.readTextFile(file);
  } catch (e) {
    const by = stack.length ? ` (BASE of ${stack.at(-1)})` : "";
    throw new ConfigError(file, "BASE", `cannot read the config${by}: ${(e as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = parse(text);
  } catch (e) {
    // the parser's message goes on to quote the offending lines; its first line says what and where
    throw new ConfigError(file, "(yaml)", (e as Error).message.split("\n")[0].replace(/:$/, ""));
  }
  if (raw === null || raw === undefined) raw = {};
  if (!isTree(raw)) throw new ConfigError(file, "(yaml)", "the top level must be a mapping of keys");
  const tree = decode(raw) as Tree;
  // upstream: each BASE entry (relative to this file) is merged first, then this file on top
  const base = tree.BASE;
  delete tree.BASE;
  if (base !== undefined) {
    const list = Array.isArray(base) ? base : [base];
    for (const b of list) {
      if (b === "" || b === null) continue;
      if (typeof b !== "string") {
        throw new ConfigError(file, "BASE", `expected file names, got ${JSON.stringify(b)}`);
      }
      await mergeFile(cfg, resolvePath(dirname(file), b), [...stack, file]);
    }
  }
  mergeInto(cfg, tree, file);
}

/** `--opts KEY VALUE …` onto the tree (yacs merge_from_list). */
export function applyOpts(cfg: Tree, opts: string[]): void {
  if (opts.length % 2 !== 0) {
    throw new ConfigError("--opts", opts.at(-1) ?? "", "expects KEY VALUE pairs (odd number of arguments)");
  }
  for (let i = 0; i < opts.length; i += 2) {
    const key = opts[i];
    const parts = key.split(".");
    let node: Tree = cfg;
    for (let j = 0; j < parts.length - 1; j++) {
      const next = node[parts[j]];
      if (!isTree(next)) throw new ConfigError("--opts", key, "unknown config key");
      node = next;
    }
    const last = parts.at(-1)!;
    if (!(last in node) || isTree(node[last]) || last === "BASE") {
      throw new ConfigError("--opts", key, "unknown config key");
    }
    node[last] = coerce("--opts", key, node[last], literalEval(opts[i + 1]));
  }
}

/** The upstream's command-line flags, which win over the YAML and `--opts`. */
export interface ConfigFlags {
  /** --output */
  output?: string;
  /** --resume; "" = none (vanilla CLIP evaluation) */
  resume?: string;
  /** --only_test */
  onlyTest?: boolean;
  /** --batch-size */
  batchSize?: number;
  /** --accumulation-steps */
  accumulationSteps?: number;
  /**
   * --world-size: the devices of the run reproduced; YAML default {@link UPSTREAM_WORLD_SIZE}. vifi runs one
   * and accumulates world-size × ACCUMULATION_STEPS micro-batches per update.
   */
  worldSize?: number;
}

/** Every shipped config was run on 8 GPUs (docs/TRAIN.md: `--nproc_per_node=8`; spec §6.4). */
export const UPSTREAM_WORLD_SIZE = 8;

/** The merged config tree of a YAML file: defaults < file (with BASE includes) < opts < flags. */
export async function loadConfigTree(
  file: string,
  opts: string[] = [],
  flags: ConfigFlags = {},
): Promise<Tree> {
  const cfg = upstreamDefaults();
  await mergeFile(cfg, resolvePath(file), []);
  applyOpts(cfg, opts);
  const sec = (k: string) => cfg[k] as Tree;
  if (flags.output !== undefined) cfg.OUTPUT = flags.output;
  if (flags.resume !== undefined) sec("MODEL").RESUME = flags.resume;
  if (flags.onlyTest) sec("TEST").ONLY_TEST = true;
  if (flags.batchSize !== undefined) sec("TRAIN").BATCH_SIZE = flags.batchSize;
  if (flags.accumulationSteps !== undefined) sec("TRAIN").ACCUMULATION_STEPS = flags.accumulationSteps;
  return cfg;
}

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

async function mapConfig(file: string, cfg: Tree, o: YamlOptions): Promise<Experiment> {
  const cwd = o.cwd ?? defaultCwd();
  const at = (p: string) => (isAbsolute(p) ? p : resolvePath(cwd, p));
  const DATA = cfg.DATA as Tree, MODEL = cfg.MODEL as Tree, TRAIN = cfg.TRAIN as Tree, AUG = cfg.AUG as Tree;
  const TEST = cfg.TEST as Tree, VC = (cfg.TRAINER as Tree).ViFi_CLIP as Tree;
  const fail = (key: string, msg: string): never => {
    throw new ConfigError(file, key, msg);
  };
  const str = (sec: Tree, k: string, key: string) => {
    const v = sec[k];
    if (typeof v !== "string") fail(key, `expected a string, got ${JSON.stringify(v)}`);
    return v as string;
  };
  for (const k of ["ROOT", "TRAIN_FILE", "VAL_FILE", "LABEL_LIST"]) {
    if (str(DATA, k, `DATA.${k}`) === "" && k !== "TRAIN_FILE") fail(`DATA.${k}`, "is empty");
  }
  const onlyTest = TEST.ONLY_TEST === true;
  const zsEval = VC.ZS_EVAL === true;
  const promptModel = VC.PROMPT_MODEL === true;
  const arch = str(MODEL, "ARCH", "MODEL.ARCH");
  if (zsEval && !onlyTest) {
    fail(
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
      fail("TRAINER.ViFi_CLIP.USE", `must be "both", "image" or "text", got ${JSON.stringify(use)}`);
    }
    variant = use as "both" | "image" | "text";
  }
  const ctxInit = str(VC, "CTX_INIT", "TRAINER.ViFi_CLIP.CTX_INIT");
  let template: string | undefined;
  if (zsEval) template = "{name}";
  else if (!promptModel) template = `${ctxInit.replaceAll("_", " ")} {name}.`;
  const nCtxText = VC.N_CTX_TEXT as number;
  if (promptModel && !zsEval && ctxInit !== "" && nCtxText <= 4) {
    // upstream then initialises the context from CTX_INIT's token embeddings; no shipped config does
    fail(
      "TRAINER.ViFi_CLIP.CTX_INIT",
      `with N_CTX_TEXT ${nCtxText} ≤ 4 the upstream initialises the prompt context from these words, ` +
        `which vifi does not implement; set CTX_INIT to "" or N_CTX_TEXT above 4`,
    );
  }

  const release = CLIP_RELEASES[arch];
  const clipFile = release ? resolvePath(o.cacheDir ?? defaultCacheDir(), release.file) : undefined;
  const model: ModelSpec = {
    arch,
    variant,
    ...(template ? { template } : {}),
    tokenizer: "clip",
    precision: TRAIN.OPT_LEVEL === "O0" ? "f32" : "auto",
    inputSize: DATA.INPUT_SIZE as number,
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

  const output = typeof cfg.OUTPUT === "string" && cfg.OUTPUT !== "" ? at(cfg.OUTPUT) : undefined;
  let resumePath = MODEL.RESUME;
  if (resumePath !== null && typeof resumePath !== "string") {
    fail("MODEL.RESUME", `expected a checkpoint path, got ${JSON.stringify(resumePath)}`);
  }
  if (TRAIN.AUTO_RESUME === true && !onlyTest) {
    // upstream: the newest checkpoint in the output folder replaces --resume (same epoch-reset rules)
    const found = output ? await newestCheckpoint(output) : undefined;
    if (found) resumePath = found;
  }
  const resume = typeof resumePath === "string" && resumePath !== "" ? at(resumePath) : undefined;
  if (onlyTest && resume) {
    // a ViFi-CLIP checkpoint lacks the token table: CLIP supplies it (spec §1.2)
    model.weights = resume;
    if (clipFile) model.clipWeights = clipFile;
  }

  const protocol = protocolOf(file, cfg);
  const labelList = at(DATA.LABEL_LIST as string);
  const valFile = DATA.VAL_FILE as string;
  const evalDataset = protocol.dataset;
  const evals: EvalSpec[] = [{
    ...evalNaming(valFile, evalDataset),
    ...(evalDataset ? { dataset: evalDataset } : {}),
    list: at(valFile),
    labels: labelList,
    clips: TEST.NUM_CLIP as number,
    crops: TEST.NUM_CROP as number,
  }];

  let train: TrainSpec | undefined;
  if (!onlyTest) {
    const trainFile = DATA.TRAIN_FILE as string;
    if (trainFile === "") fail("DATA.TRAIN_FILE", "is empty (set it, or evaluate only with --only_test)");
    train = {
      list: at(trainFile),
      labels: labelList,
      epochs: TRAIN.EPOCHS as number,
      lr: TRAIN.LR as number,
      batch: TRAIN.BATCH_SIZE as number,
      accumulation: TRAIN.ACCUMULATION_STEPS as number,
      // effective batch = BATCH_SIZE × ACCUMULATION_STEPS × GPUs, as the configs' "# BS 64" comments say
      worldSize: o.flags?.worldSize ?? UPSTREAM_WORLD_SIZE,
      warmupEpochs: TRAIN.WARMUP_EPOCHS as number,
      weightDecay: TRAIN.WEIGHT_DECAY as number,
      labelSmoothing: AUG.LABEL_SMOOTH as number,
      mixup: AUG.MIXUP as number,
      cutmix: AUG.CUTMIX as number,
      switchProb: AUG.MIXUP_SWITCH_PROB as number,
      colorJitter: AUG.COLOR_JITTER as number,
      grayScale: AUG.GRAY_SCALE as number,
      saveFreq: cfg.SAVE_FREQ as number,
      ...(resume ? { resume: { path: resume, mode: "init" as const } } : {}),
      ...(TEST.MULTI_VIEW_INFERENCE === true ? { finalViews: { clips: 4, crops: 3 } } : {}),
    };
  }

  const rel = relative(cwd, file);
  return {
    name: nameOf(file) + (onlyTest ? ".test" : ""),
    description: `upstream config ${rel.startsWith("..") ? file : rel}${onlyTest ? " (--only_test)" : ""}`,
    protocol,
    model,
    data: { root: at(DATA.ROOT as string), frames: DATA.NUM_FRAMES as number },
    ...(train ? { train } : {}),
    evals,
    seed: cfg.SEED as number,
    ...(output ? { output } : {}),
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
