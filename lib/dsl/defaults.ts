// What an experiment gets for every field it leaves out: the upstream's defaults, and where relative
// paths resolve and how many decoders run when nothing says otherwise.

/** The upstream defaults (utils/config.py, docs/upstream.md §6.2). */
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
  crop: "multi-scale",
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
