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
  /** the second CPU reference of the kernel rows: onnxruntime-node (CPU execution provider) */
  ort_node_ms?: number | null;
  ort_node_ratio?: number | null;
  /** gpu suite rows: the section, the kernel candidate forced, and why a row did not run */
  section?: string;
  variant?: string;
  skipped?: string;
  /** GPU time of a compiled step from timestamp queries, where the adapter has them */
  device_ms?: number | null;
  /** gpu suite: PyTorch's best time for the same op and shape (fp32 eager beside f32, bf16 autocast beside f16) */
  torch_ms?: number | null;
  /** PyTorch's GFLOP/s (GB/s on a GB/s row) for the same work */
  torch_speed?: number | null;
  torch_variant?: string | null;
  /** torch ms / vifi ms (higher is better for us) */
  torch_ratio?: number | null;
}

/** Whether the row `op shape` passes --filter (a family skips what no row of it would pass). */
export type Want = (op: string, shape: string) => boolean;

/** Takes a measured row (collects it and prints it as it arrives). */
export type Emit = (r: BenchRow) => void;
