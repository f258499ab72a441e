// `train FILE --slurm --nodes M --gpus-per-node G` (issue 18): each array task is one data-parallel job of
// M nodes × G ranks started by srun; the script's lines, the flags read, and the one-line refusals
// (bad counts, several GPUs a rank, sbatch arguments that would change the layout, micro-batches per
// update that do not divide among the ranks). No cluster run: script text only.

import { assert, assertEquals, assertThrows } from "../data/assert.ts";
import { ranksOf, renderSbatch, type SlurmOptions, type SweepJob } from "../../lib/cluster/sbatch.ts";
import { checkRanks, slurmOptions } from "../../lib/cli/train-slurm.ts";
import type { ResolvedExperiment } from "../../lib/dsl/types.ts";

const sweep: SweepJob = {
  jobName: "k400",
  experimentFile: "/lab/vifi/experiments/k400.exp.ts",
  names: ["k400-vitb16"],
  outputDir: "/shared/runs/k400",
  cwd: "/lab/vifi",
  deno: "/opt/deno/bin/deno",
  trainScript: "/lab/vifi/lib/cli/train.ts",
  trainArgs: ["--db", "postgres://lab@db:5432/vifi"],
};

const base: SlurmOptions = { gpusPerTask: 1, extraArgs: [], maxRequeues: 3, time: "24:00:00" };

Deno.test("--nodes 2 --gpus-per-node 4: 8 ranks, srun --mpi=pmix, no --ntasks=1 or --gpus-per-task", () => {
  const opts = slurmOptions({ slurm: true, nodes: "2", "gpus-per-node": "4" })!;
  assertEquals(opts.dataParallel, { nodes: 2, gpusPerNode: 4 });
  assertEquals(ranksOf(opts.dataParallel!), 8);
  const script = renderSbatch(sweep, opts);
  const lines = script.split("\n");
  assert(script.includes("#SBATCH --nodes=2\n#SBATCH --ntasks-per-node=4\n"), script);
  assert(lines.includes("#SBATCH --gpus-per-node=4"), script);
  assert(!script.includes("--ntasks=1") && !script.includes("--gpus-per-task"), script);
  const run = lines.find((l) => l.includes("lib/cli/train.ts"))!;
  assert(
    run.startsWith(
      "srun --mpi=pmix --kill-on-bad-exit=1 '/opt/deno/bin/deno' 'run' '-A' '/lab/vifi/lib/cli/train.ts'",
    ),
    run,
  );
  assert(run.endsWith("--exact --continue '--db' 'postgres://lab@db:5432/vifi' &"), run);
  assert(lines.some((l) => l.endsWith(", 8 MPI ranks a task")), script);
  // the shell still forwards the time-limit warning as SIGTERM to srun, which passes it to every rank
  assert(lines.includes(`trap 'usr1=1; kill -TERM "$child" 2>/dev/null' USR1`), script);
});

Deno.test("--gpus-per-node 0 is one rank a node; without --nodes/--gpus-per-node the script is unchanged", () => {
  const cpu = renderSbatch(sweep, { ...base, gpusPerTask: 0, dataParallel: { nodes: 3, gpusPerNode: 0 } });
  assert(cpu.includes("#SBATCH --nodes=3\n#SBATCH --ntasks-per-node=1\n"), cpu);
  assert(!cpu.includes("--gpus-per-node"), cpu);
  const plain = renderSbatch(sweep, base);
  assert(plain.includes("#SBATCH --ntasks=1\n") && plain.includes("#SBATCH --gpus-per-task=1\n"), plain);
  assert(!plain.includes("srun") && !plain.includes("--nodes"), plain);
  assertEquals(slurmOptions({ slurm: true })!.dataParallel, undefined);
  // --gpus-per-node alone: one node
  assertEquals(slurmOptions({ slurm: true, "gpus-per-node": "8" })!.dataParallel, {
    nodes: 1,
    gpusPerNode: 8,
  });
});

Deno.test("data-parallel refusals: one line naming the option", () => {
  const refuse = (o: SlurmOptions, what: string) => {
    const e = assertThrows(() => renderSbatch(sweep, o), what);
    assert(!e.message.includes("\n"), e.message);
  };
  refuse({ ...base, dataParallel: { nodes: 0, gpusPerNode: 4 } }, "--nodes must be an integer >= 1");
  refuse({ ...base, dataParallel: { nodes: 1, gpusPerNode: -1 } }, "--gpus-per-node must be");
  refuse(
    { ...base, gpusPerTask: 2, dataParallel: { nodes: 1, gpusPerNode: 4 } },
    "--gpus-per-task is one GPU",
  );
  for (const a of ["--nodes=4", "-N", "--ntasks=8", "--ntasks-per-node=2"]) {
    refuse({ ...base, extraArgs: [a], dataParallel: { nodes: 1, gpusPerNode: 2 } }, "vifi sets");
  }
  assertThrows(() => slurmOptions({ nodes: "2" }), "--nodes needs --slurm");
  const exp = (accumulation: number, worldSize: number) =>
    ({ name: "e", train: { accumulation, worldSize } }) as unknown as ResolvedExperiment;
  const opts = { ...base, dataParallel: { nodes: 2, gpusPerNode: 4 } };
  checkRanks([exp(1, 8), exp(2, 4), exp(8, 1)], opts);
  const e = assertThrows(() => checkRanks([exp(1, 8), exp(3, 2)], opts), "6 micro-batches per update");
  assert(e.message.includes("8 ranks") && !e.message.includes("\n"), e.message);
});
