// What the local-cluster tests share: whether Slurm answers (else the reason they are skipped), waiting
// for a job array to leave the queue, and waiting for a line in a task's log.

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
