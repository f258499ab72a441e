// Which shipped list and label files each upstream protocol uses (docs/upstream.md §6.3, §7.6). Paths are
// relative to a data dir laid out like the upstream repo (`labels/`, `datasets_splits/`), so the same
// names work against ../shared/reference/vificlip-data and a user's copy.

export type DatasetName = "k400" | "hmdb" | "ucf" | "ssv2" | "k600";
export const DATASETS: readonly DatasetName[] = ["k400", "hmdb", "ucf", "ssv2", "k600"];
export const SHOTS = [2, 4, 8, 16] as const;
export const SEEDS = [1, 2, 3] as const;

/** Files of one protocol; a missing `train` means evaluation only. */
export interface SplitFiles {
  train?: string;
  /** label file for the training list when it differs from `labels` */
  trainLabels?: string;
  val: string;
  labels: string;
  /** DATA.NUM_CLASSES the upstream config sets: the row count of `labels` */
  numClasses: number;
}

const LABELS: Record<
  Exclude<DatasetName, "k600">,
  { full: string; base: string; novel: string; n: [number, number, number] }
> = {
  k400: {
    full: "kinetics_400_labels.csv",
    base: "kinetics_400_base_labels.csv",
    novel: "kinetics_400_novel_labels.csv",
    n: [400, 200, 200],
  },
  hmdb: {
    full: "hmdb_51_labels.csv",
    base: "hmdb_51_base_labels.csv",
    novel: "hmdb_51_novel_labels.csv",
    n: [51, 26, 25],
  },
  ucf: {
    full: "ucf_101_labels.csv",
    base: "ucf_101_base_labels.csv",
    novel: "ucf_101_novel_labels.csv",
    n: [101, 51, 50],
  },
  ssv2: {
    full: "ssv2_labels.csv",
    base: "ssv2_174_base_labels.csv",
    novel: "ssv2_174_novel_labels.csv",
    n: [174, 87, 87],
  },
};

function oneOf<T>(what: string, v: T, allowed: readonly T[]): void {
  if (!allowed.includes(v)) {
    throw new Error(
      `unknown ${what} ${JSON.stringify(v)}; expected one of ${
        allowed.map((a) => JSON.stringify(a)).join(", ")
      }`,
    );
  }
}

const lbl = (f: string) => `labels/${f}`;
const lst = (f: string) => `datasets_splits/${f}`;

/** Base-to-novel training on the base half with 16 shots per class; `seed` picks fs_base_s{seed}_train. */
export function baseToNovel(dataset: DatasetName, seed: number): SplitFiles {
  oneOf("base-to-novel dataset", dataset, ["k400", "hmdb", "ucf", "ssv2"]);
  oneOf("base-to-novel seed", seed, SEEDS);
  const l = LABELS[dataset as Exclude<DatasetName, "k600">];
  const dir = `base2novel_splits/${dataset}_splits`;
  return {
    train: lst(`${dir}/fs_base_s${seed}_train.txt`),
    val: lst(`${dir}/base_val.txt`),
    labels: lbl(l.base),
    numClasses: l.n[1],
  };
}

/** Base-to-novel evaluation on the novel half (a base-trained checkpoint, `--only_test`). */
export function baseToNovelNovelEval(dataset: DatasetName): SplitFiles {
  oneOf("base-to-novel dataset", dataset, ["k400", "hmdb", "ucf", "ssv2"]);
  const l = LABELS[dataset as Exclude<DatasetName, "k600">];
  return {
    val: lst(`base2novel_splits/${dataset}_splits/novel_val.txt`),
    labels: lbl(l.novel),
    numClasses: l.n[2],
  };
}

/** K-shot training (one fixed file per K), evaluated on split-1 test (HMDB/UCF) or SSv2 validation. */
export function fewShot(dataset: DatasetName, shots: number): SplitFiles {
  oneOf("few-shot dataset", dataset, ["hmdb", "ucf", "ssv2"]);
  oneOf("shot count K", shots, SHOTS);
  const l = LABELS[dataset as "hmdb" | "ucf" | "ssv2"];
  return {
    train: lst(`${dataset}_splits/train1_few_shot_${shots}.txt`),
    val: lst(dataset === "ssv2" ? "ssv2_splits/validation.txt" : `${dataset}_splits/val1.txt`),
    labels: lbl(l.full),
    numClasses: l.n[0],
  };
}

/** Zero-shot evaluation of a K400-trained model: HMDB/UCF test split or K600 novel-class split 1–3. */
export function zeroShot(dataset: DatasetName, split: number): SplitFiles {
  oneOf("zero-shot dataset", dataset, ["hmdb", "ucf", "k600"]);
  oneOf("zero-shot split", split, SEEDS);
  if (dataset === "k600") {
    return {
      val: lst(`k600_splits/ZS_split${split}_K600_eval.txt`),
      labels: lbl(`ZS_split${split}_K600.csv`),
      numClasses: 160,
    };
  }
  return fullEval(dataset, split);
}

/**
 * The full evaluation set of a dataset: HMDB/UCF test split 1–3, SSv2 validation, K400 val
 * (`split` must be 1 for the single-split datasets).
 */
export function fullEval(dataset: DatasetName, split = 1): SplitFiles {
  oneOf("evaluation dataset", dataset, ["k400", "hmdb", "ucf", "ssv2"]);
  const l = LABELS[dataset as Exclude<DatasetName, "k600">];
  if (dataset === "hmdb" || dataset === "ucf") {
    oneOf(`${dataset} split`, split, SEEDS);
    return { val: lst(`${dataset}_splits/val${split}.txt`), labels: lbl(l.full), numClasses: l.n[0] };
  }
  oneOf(`${dataset} split`, split, [1]);
  const val = dataset === "ssv2" ? "ssv2_splits/validation.txt" : "k400_splits/val.txt";
  return { val: lst(val), labels: lbl(l.full), numClasses: l.n[0] };
}

/**
 * Fully supervised / zero-shot-source K400 training. `train.txt` is not among the files copied to
 * vificlip-data (too large); `tiny` selects the shipped 150-per-class subset instead.
 */
export function k400Supervised(opts: { tiny?: boolean } = {}): SplitFiles {
  return {
    train: lst(opts.tiny ? "k400_splits/train_tiny.txt" : "k400_splits/train.txt"),
    val: lst("k400_splits/val.txt"),
    labels: lbl(LABELS.k400.full),
    numClasses: 400,
  };
}
