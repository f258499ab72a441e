// What the results store learns from the machine it runs on: where the store lives by default, the git
// commit a run was trained at, this host's name, and whether a run's process is still alive.

import process from "node:process";

/** $VIFI_RESULTS, else results.db in the runs folder ($VIFI_RUNS, else runs/). */
export function defaultResultsPath(): string {
  return Deno.env.get("VIFI_RESULTS") || `${Deno.env.get("VIFI_RUNS") || "runs"}/results.db`;
}

/** HEAD of the git repository around `cwd`, or null outside one (or without git). */
export function currentCommit(cwd?: string): string | null {
  try {
    const out = new Deno.Command("git", { args: ["rev-parse", "HEAD"], cwd, stdout: "piped", stderr: "null" })
      .outputSync();
    if (!out.success) return null;
    const s = new TextDecoder().decode(out.stdout).trim();
    return /^[0-9a-f]{40,64}$/.test(s) ? s : null;
  } catch {
    return null;
  }
}

/** Whether a process with this id exists on this host. */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // EPERM: the process exists but belongs to someone else
    return (e as { code?: string }).code === "EPERM";
  }
}

/** The Slurm task this process runs as: "<array job>_<task>" in a job array, "<job>" in a plain job. */
export function slurmJob(env: (k: string) => string | undefined = (k) => Deno.env.get(k)): string | null {
  const array = env("SLURM_ARRAY_JOB_ID"), task = env("SLURM_ARRAY_TASK_ID");
  if (array && task) return `${array}_${task}`;
  return env("SLURM_JOB_ID") ?? null;
}

/** This host's name, as runs record it ("unknown" where it cannot be read). */
export function hostname(): string {
  try {
    return Deno.hostname();
  } catch {
    return "unknown";
  }
}
