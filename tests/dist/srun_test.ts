// The launch `train --slurm --nodes M --gpus-per-node G` writes into its script, run for real on the local
// one-node cluster (.ci/cluster.sh): `srun --mpi=pmix --kill-on-bad-exit=1 -n 2` starting the MPI rank
// script. lib/dist reads the rank from PMIx's PMIX_RANK (no mpirun variables are set), Open MPI joins the
// ranks through Slurm's PMIx plugin, and the collectives agree with float64; a rank that exits with an
// error ends the step through --kill-on-bad-exit instead of leaving the other waiting. Skipped, with the
// reason printed, where Slurm, its pmix plugin or Open MPI's library is missing.

import { assert } from "../data/assert.ts";
import { slurmMissing } from "../cluster/slurm.ts";
import { launchJob } from "./mpirun.ts";

const here = "tests/dist/srun_test.ts";
const RANK = new URL("./mpi_rank.ts", import.meta.url).pathname;
const ROOT = new URL("../../", import.meta.url).pathname;

async function pmixMissing(): Promise<string | undefined> {
  const slurm = await slurmMissing();
  if (slurm) return slurm;
  const r = await new Deno.Command("srun", { args: ["--mpi=list"], stdout: "piped", stderr: "piped" })
    .output();
  const text = new TextDecoder().decode(r.stdout) + new TextDecoder().decode(r.stderr);
  if (!/\bpmix\b/.test(text)) {
    return `srun --mpi=list names no pmix plugin: ${text.trim().replace(/\s+/g, " ")}`;
  }
  try {
    Deno.dlopen("libmpi.so.40", {}).close();
  } catch (e) {
    return `libmpi.so.40 does not load (${(e as Error).message}); Debian: apt-get install libopenmpi3`;
  }
  return undefined;
}

const missing = await pmixMissing();
if (missing) console.log(`skip: ${here}: ${missing}`);

/** `srun --mpi=pmix --kill-on-bad-exit=1 -n 2 deno run -A mpi_rank.ts ARGS…` as the sbatch script runs it. */
function srun(args: string[]) {
  const step = [
    "--mpi=pmix",
    "--kill-on-bad-exit=1",
    "-n",
    "2",
    "--job-name",
    "vifi-srun-test",
    `--chdir=${ROOT}`,
  ];
  // generous: the cluster's two CPUs may be busy with another test's jobs, and srun waits for them first
  return launchJob("srun", [...step, Deno.execPath(), "run", "-A", RANK, ...args], { timeoutS: 400 });
}

Deno.test({
  name: "srun --mpi=pmix -n 2: the ranks from PMIx, all-reduce, broadcast and barrier against float64",
  ignore: missing !== undefined,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "vifi-srun-" });
    try {
      const r = await srun(["collectives", dir]);
      assert(r.code === 0 && !r.timedOut, `exit ${r.code}${r.timedOut ? " (timed out)" : ""}: ${r.err}`);
      for (const rank of [0, 1]) {
        assert(
          r.out.includes(`ok rank ${rank} of 2 checks 11`),
          `rank ${rank} did not finish: ${r.out}${r.err}`,
        );
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "srun --kill-on-bad-exit: a rank that exits with code 3 ends the step, the other does not hang",
  ignore: missing !== undefined,
  fn: async () => {
    const r = await srun(["die"]);
    assert(!r.timedOut, `the step hung: ${r.err}`);
    assert(r.code !== 0, `srun exited 0 although rank 1 exited 3: ${r.out}${r.err}`);
    assert(!/returned without rank 1/.test(r.out), `rank 0's all-reduce returned without rank 1: ${r.out}`);
  },
});
