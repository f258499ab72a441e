// Building blocks for the experiments that reproduce the paper's tables (`experiments/*.exp.ts`):
// where a machine keeps its videos and the upstream's list/label files (environment variables, so the
// experiment files stay the same everywhere), and the shipped per-setting hyper-parameters (docs/upstream.md §6.3).

import {
  baseToNovel,
  baseToNovelNovelEval,
  type DatasetName,
  fewShot,
  fullEval,
  k400Supervised,
  type SplitFiles,
  zeroShot,
} from "../data/splits.ts";
import { CLIP_RELEASES, defaultCacheDir } from "../io/download.ts";
import { readEnv } from "../io/env.ts";
import type { EvalSpec, ListSpec } from "./types.ts";

/** Folder laid out like the upstream repository (`labels/`, `datasets_splits/`): `VIFI_DATA_DIR`. */
export function dataDir(): string {
  return readEnv("VIFI_DATA_DIR") ?? "vificlip-data";
}

const ROOT_VARS: Record<DatasetName, [string, string]> = {
  k400: ["VIFI_K400_ROOT", "data/k400"],
  k600: ["VIFI_K600_ROOT", "data/k600"],
  hmdb: ["VIFI_HMDB_ROOT", "data/hmdb51"],
  ucf: ["VIFI_UCF_ROOT", "data/ucf101"],
  ssv2: ["VIFI_SSV2_ROOT", "data/ssv2"],
};

/** Videos root of a dataset: `VIFI_<DATASET>_ROOT`, else `data/<dataset>`. */
export function videoRoot(ds: DatasetName): string {
  const [v, d] = ROOT_VARS[ds];
  return readEnv(v) ?? d;
}

/**
 * `VIFI_K400_TRAIN=tiny` trains on the shipped 150-per-class subset; the full `train.txt` is not among
 * the files copied from the upstream repository (too large), so a checkout without it can still run.
 */
export function k400TrainFiles(): SplitFiles {
  return k400Supervised({ tiny: readEnv("VIFI_K400_TRAIN") === "tiny" });
}

/** The ViFi-CLIP checkpoint trained on K400 that VL prompting starts from: `VIFI_K400_CKPT`. */
export function k400Checkpoint(): string {
  return readEnv("VIFI_K400_CKPT") ?? "checkpoints/vifi_clip_k400_32f.pth";
}

/** OpenAI's CLIP ViT-B/16, where `deno task weights download ViT-B/16` puts it: `VIFI_CLIP_WEIGHTS`. */
export function clipWeights(): string {
  return readEnv("VIFI_CLIP_WEIGHTS") ?? `${defaultCacheDir()}/${CLIP_RELEASES["ViT-B/16"].file}`;
}

const at = (rel: string) => `${dataDir()}/${rel}`;

/** Training list and labels of a protocol's files, on the dataset's videos root. */
export function trainFiles(ds: DatasetName, f: SplitFiles): ListSpec {
  if (!f.train) throw new Error(`no training list for ${ds}`);
  return { list: at(f.train), labels: at(f.trainLabels ?? f.labels), root: videoRoot(ds) };
}

/** An evaluation on a protocol's validation list. */
export function evalOf(
  name: string,
  ds: DatasetName,
  f: SplitFiles,
  extra: Partial<EvalSpec> = {},
): EvalSpec {
  return { name, dataset: ds, list: at(f.val), labels: at(f.labels), root: videoRoot(ds), ...extra };
}

/** Zero-shot evaluations of a K400-trained model: HMDB, UCF and K600, splits 1–3 each (docs/upstream.md §9). */
export function zeroShotEvals(): EvalSpec[] {
  return (["hmdb", "ucf", "k600"] as const).flatMap((ds) =>
    [1, 2, 3].map((split) => evalOf(`${ds}/split${split}`, ds, zeroShot(ds, split), { split }))
  );
}

/** Base (base_val, base classes) and novel (novel_val, novel classes) evaluations of one dataset. */
export function baseNovelEvals(ds: DatasetName, seed: number): EvalSpec[] {
  return [
    evalOf("base", ds, baseToNovel(ds, seed), { subset: "base" }),
    evalOf("novel", ds, baseToNovelNovelEval(ds), { subset: "novel" }),
  ];
}

/** The few-shot evaluation: split-1 test list (HMDB, UCF) or SSv2 validation, every class. */
export function fewShotEval(ds: DatasetName, shots: number): EvalSpec {
  return ds === "ssv2"
    ? evalOf("val", ds, fewShot(ds, shots))
    : evalOf(`${ds}/split1`, ds, fewShot(ds, shots), { split: 1 });
}

/** K400 validation (per-epoch validation of the zero-shot and fully supervised runs). */
export function k400Val(): EvalSpec {
  return evalOf("k400/val", "k400", fullEval("k400"));
}

/** Prompt settings of the shipped VL-prompting configs (docs/upstream.md §5.2). */
export const PROMPT_B2N = { textCtx: 16, visionCtx: 16, textDepth: 9, visionDepth: 9 } as const;
export const PROMPT_FEW_SHOT = { textCtx: 10, visionCtx: 10, textDepth: 12, visionDepth: 12 } as const;
