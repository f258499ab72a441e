// What the local-cluster tests share: whether Slurm answers (else the reason they are skipped), waiting
// for a job array to leave the queue, waiting for a line in a task's log, and the tiny experiment they train.

/**
 * One tiny experiment over `data` (a folder `deno task synthetic` made): the random synthetic model in f32,
 * one epoch of batch 2 over the base split, augmentation off, no evaluation; `over` replaces top-level keys
 * and `train` adds to (or replaces) the training section's.
 */
export function tinyExperiment(
  data: string,
  name: string,
  seed: number,
  train: Record<string, unknown> = {},
  over: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    name,
    model: { arch: "synthetic", variant: "both", tokenizer: "bytes", precision: "f32" },
    data: { root: data, frames: 4 },
    train: {
      list: `${data}/base_train.txt`,
      labels: `${data}/base_labels.csv`,
      epochs: 1,
      batch: 2,
      lr: 1e-3,
      mixup: 0,
      cutmix: 0,
      colorJitter: 0,
      grayScale: 0,
      flip: 0,
      ...train,
    },
    evals: [],
    seed,
    ...over,
  };
}

/** Why the local cluster cannot be used (sinfo fails or lists nothing), or undefined when it can. */
export async function slurmMissing(): Promise<string | undefined> {
  try {
    const r = await new Deno.Command("sinfo", {
      args: ["-h", "-o", "%a %t"],
      stderr: "piped",
      stdout: "piped",
    })
      .output();
    if (!r.success) {
      return `sinfo failed: ${new TextDecoder().decode(r.stderr).trim().replace(/\s*\n\s*/g, " ")}`;
    }
    if (!new TextDecoder().decode(r.stdout).trim()) return "sinfo lists no partition";
    return undefined;
  } catch (e) {
    return `sinfo cannot run (${(e as Error).message}); .ci/cluster.sh start gives a local cluster`;
  }
}

/** Until the job array has left the queue (squeue lists none of its tasks as pending or running). */
export async function waitForJob(jobId: string, timeoutMs: number): Promise<void> {
  const t0 = Date.now();
  while (Date.now() - t0 < timeoutMs) {
    const q = await new Deno.Command("squeue", {
      args: ["-h", "-j", jobId, "-t", "PD,R,CG,S"],
      stdout: "piped",
    })
      .output();
    if (!new TextDecoder().decode(q.stdout).trim()) return;
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`Slurm job ${jobId} still queued or running after ${timeoutMs / 1000} s`);
}

/** The file's text, "" when it does not exist yet. */
export async function textOf(path: string): Promise<string> {
  try {
    return await Deno.readTextFile(path);
  } catch {
    return "";
  }
}

/** Until `path` holds `count` occurrences of `text`; returns the file's text then. */
export async function waitForLine(path: string, text: string, timeoutMs: number, count = 1): Promise<string> {
  const t0 = Date.now();
  for (;;) {
    const s = await textOf(path);
    if (s.split(text).length - 1 >= count) return s;
    if (Date.now() - t0 > timeoutMs) {
      throw new Error(`'${text}' (×${count}) not in ${path} after ${timeoutMs / 1000} s:\n${s}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

export async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

/** scancel with `args`; throws with scancel's message when it fails. */
export async function scancel(...args: string[]): Promise<void> {
  const r = await new Deno.Command("scancel", { args, stderr: "piped" }).output();
  if (!r.success) throw new Error(`scancel ${args.join(" ")}: ${new TextDecoder().decode(r.stderr).trim()}`);
}
