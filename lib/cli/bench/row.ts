// One row of `deno task bench`'s output (its JSON file and its table), and the two callbacks every bench
// family takes: whether a row is wanted (--filter) and where a measured row goes.

export interface BenchRow {
  op: string;
  shape: string;
  dtype: string;
  /** compute-bound ops */
  gflops?: number;
  /** memory-bound ops */
  gbps?: number;
  ms: number;
  ref: string | null;
  ref_gflops?: number | null;
  ref_gbps?: number | null;
  ref_ms: number | null;
  /** ours / reference (higher is better for us) */
  ratio: number | null;
  /** model rows: frames per second, CPU share of the step, GPU memory high-water mark */
  frames_per_s?: number;
  host_share?: number;
  peak_mb?: number;
  dispatches?: number;
  /** tokenizer rows */
  prompts_per_s?: number;
  prompts_per_s_cached?: number;
  /** training row: videos per second trained, the loader alone, and the share of step time spent waiting for data */
  videos_per_s?: number;
  loader_videos_per_s?: number;
  data_share?: number;
  /** video pipeline rows: per output frame, and samples fed to the decoder per output frame */
  decode_ms?: number;
  transform_ms?: number;
  samples_per_frame?: number;
}

/** Whether the row `op shape` passes --filter (a family skips what no row of it would pass). */
export type Want = (op: string, shape: string) => boolean;

/** Takes a measured row (collects it and prints it as it arrives). */
export type Emit = (r: BenchRow) => void;
