// Starting test scripts under Open MPI's mpirun, and saying why not where it is missing.

import { exclusively } from "../exclusive.ts";

export interface MpirunResult {
  code: number;
  out: string;
  err: string;
  seconds: number;
  /** killed by the test's own limit (the job hung) */
  timedOut: boolean;
}

/** Why mpirun cannot run here, or undefined when it can. */
export async function mpirunMissing(): Promise<string | undefined> {
  try {
    const r = await new Deno.Command("mpirun", { args: ["--version"], stdout: "piped", stderr: "piped" })
      .output();
    return r.success ? undefined : `mpirun --version failed: ${new TextDecoder().decode(r.stderr).trim()}`;
  } catch (e) {
    return `mpirun cannot run (${(e as Error).message}); Debian: apt-get install openmpi-bin libopenmpi-dev`;
  }
}

/**
 * `mpirun -np N deno run -A SCRIPT ARGS…`, killed after `timeoutS`. As root mpirun wants
 * --allow-run-as-root; --oversubscribe lets N exceed the cores (CI has 2).
 */
export function mpirun(
  np: number,
  script: string,
  args: string[],
  opts: { timeoutS?: number; env?: Record<string, string> } = {},
): Promise<MpirunResult> {
  const root = Deno.uid?.() === 0 ? ["--allow-run-as-root"] : [];
  const deno = [Deno.execPath(), "run", "-A", script, ...args];
  return launchJob("mpirun", [...root, "--oversubscribe", "-np", String(np), ...deno], opts);
}

/**
 * A launcher (`mpirun`, `srun`) starting a job's ranks, killed after `timeoutS` (default 120). One job at
 * a time on the machine (tests/exclusive.ts): the ranks of two jobs beside each other on 2 cores would
 * each wait for the others' compiles, and the timeouts would measure the neighbours.
 */
export function launchJob(
  launcher: string,
  args: string[],
  opts: { timeoutS?: number; env?: Record<string, string> } = {},
): Promise<MpirunResult> {
  return exclusively(async () => {
    const t0 = performance.now();
    const child = new Deno.Command(launcher, { args, env: opts.env, stdout: "piped", stderr: "piped" })
      .spawn();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill("SIGKILL");
    }, (opts.timeoutS ?? 120) * 1000);
    const r = await child.output();
    clearTimeout(timer);
    const dec = new TextDecoder();
    return {
      code: r.code,
      out: dec.decode(r.stdout),
      err: dec.decode(r.stderr),
      seconds: (performance.now() - t0) / 1000,
      timedOut,
    };
  });
}
