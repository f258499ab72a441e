// lib/dist: the launch read from the environment, the world of one, the refusals, and the collectives
// of 2 and 3 ranks under mpirun (tests/dist/mpi_rank.ts) against float64, and a rank that dies or
// hangs ending the job with an error instead of a hang. The mpirun parts are skipped, with the reason
// printed, where mpirun is missing.

import { assert, assertEquals, assertThrows } from "../data/assert.ts";
import { launchFromEnv } from "../../lib/dist/launch.ts";
import { initWorld } from "../../lib/dist/mpi.ts";
import { mpirun, mpirunMissing } from "./mpirun.ts";

const RANK = new URL("./mpi_rank.ts", import.meta.url).pathname;
const missing = await mpirunMissing();
if (missing) console.log(`tests/dist/mpi_test.ts: the mpirun tests are skipped: ${missing}`);

const envOf = (vars: Record<string, string>) => (name: string) => vars[name];

Deno.test("launchFromEnv: mpirun, srun (pmix, pmi2), none, and bad values", () => {
  assertEquals(
    launchFromEnv(envOf({
      OMPI_COMM_WORLD_SIZE: "4",
      OMPI_COMM_WORLD_RANK: "3",
      OMPI_COMM_WORLD_LOCAL_RANK: "1",
      OMPI_COMM_WORLD_LOCAL_SIZE: "2",
    })),
    { launcher: "mpirun", rank: 3, size: 4, localRank: 1, localSize: 2 },
  );
  assertEquals(
    launchFromEnv(
      envOf({ PMIX_RANK: "5", SLURM_NTASKS: "8", SLURM_LOCALID: "1", SLURM_NTASKS_PER_NODE: "4" }),
    ),
    { launcher: "pmix", rank: 5, size: 8, localRank: 1, localSize: 4 },
  );
  assertEquals(
    launchFromEnv(envOf({ PMI_RANK: "0", PMI_SIZE: "2" })),
    { launcher: "pmi", rank: 0, size: 2, localRank: 0, localSize: 1 },
  );
  // an sbatch script's batch shell: SLURM_* but no launcher, one trainer
  assertEquals(
    launchFromEnv(envOf({ SLURM_NTASKS: "4", SLURM_PROCID: "0" })),
    { launcher: "none", rank: 0, size: 1, localRank: 0, localSize: 1 },
  );
  assertThrows(() => launchFromEnv(envOf({ OMPI_COMM_WORLD_SIZE: "2" })), "no rank");
  assertThrows(
    () => launchFromEnv(envOf({ OMPI_COMM_WORLD_SIZE: "2", OMPI_COMM_WORLD_RANK: "2" })),
    "outside",
  );
  assertThrows(() => launchFromEnv(envOf({ PMI_SIZE: "two", PMI_RANK: "0" })), "PMI_SIZE");
});

Deno.test("initWorld: a plain process is a world of one; require and a missing library are one-line errors", async () => {
  const none = { launcher: "none" as const, rank: 0, size: 1, localRank: 0, localSize: 1 };
  const w = initWorld({ launch: none, library: "/nonexistent/libmpi.so" }); // loads nothing
  assertEquals([w.rank, w.size, w.distributed], [0, 1, false]);
  const x = Float32Array.of(1.5, -2);
  await w.allreduceSum(x);
  await w.broadcast(x);
  await w.barrier();
  assertEquals(Array.from(x), [1.5, -2]);
  const e = assertThrows(() => initWorld({ launch: none, require: true }), "not started by a launcher");
  assert(!e.message.includes("\n"), e.message);
  // mpirun -np 1 is a world of one too: no library is loaded
  const alone = { launcher: "mpirun" as const, rank: 0, size: 1, localRank: 0, localSize: 1 };
  assertEquals(initWorld({ launch: alone, library: "/nonexistent/libmpi.so.40" }).distributed, false);
  const launched = { launcher: "mpirun" as const, rank: 0, size: 2, localRank: 0, localSize: 2 };
  const l = assertThrows(
    () => initWorld({ launch: launched, library: "/nonexistent/libmpi.so.40" }),
    "cannot load",
  );
  assert(!l.message.includes("\n") && l.message.includes("VIFI_MPI_LIB"), l.message);
});

for (const np of [2, 3]) {
  Deno.test({
    name:
      `mpirun -np ${np}: all-reduce (f32, f64), broadcast and barrier on 1, 3, 77, 1_000_003, 2_500_001 elements`,
    ignore: missing !== undefined,
    fn: async () => {
      const dir = await Deno.makeTempDir({ prefix: "vifi-mpi-" });
      try {
        const r = await mpirun(np, RANK, ["collectives", dir], { timeoutS: 120 });
        assert(r.code === 0 && !r.timedOut, `exit ${r.code}${r.timedOut ? " (timed out)" : ""}: ${r.err}`);
        for (let rank = 0; rank < np; rank++) {
          assert(
            r.out.includes(`ok rank ${rank} of ${np} checks 11`),
            `rank ${rank} did not finish: ${r.out}`,
          );
        }
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    },
  });
}

for (const [mode, how] of [["die", "exits with code 3"], ["throw", "ends with an uncaught error"]]) {
  Deno.test({
    name: `mpirun -np 2: a rank that ${how} ends the job with an error, not a hang`,
    ignore: missing !== undefined,
    fn: async () => {
      const r = await mpirun(2, RANK, [mode], { timeoutS: 60 });
      assert(!r.timedOut, `the job hung 60 s: ${r.err}`);
      assert(r.code !== 0, "mpirun exited 0");
      assert(!r.out.includes("returned without rank 1"), r.out);
      // Open MPI says a process exited with a non-zero status and names it
      assert(/non-zero/i.test(r.err) && /Process name: \[\[\d+,\d+\],1\]/.test(r.err), r.err);
      if (mode === "throw") assert(r.err.includes("rank 1 fails before the all-reduce"), r.err);
    },
  });
}

Deno.test({
  name: "mpirun -np 2: a rank that hangs ends the job after VIFI_MPI_TIMEOUT with one clear line",
  ignore: missing !== undefined,
  fn: async () => {
    const r = await mpirun(2, RANK, ["hang"], { timeoutS: 50, env: { VIFI_MPI_TIMEOUT: "2" } });
    assert(!r.timedOut, `the job hung 50 s: ${r.err}`);
    assert(r.code !== 0, "mpirun exited 0");
    assert(r.err.includes("rank 0 of 2 waited 2 s in allreduce"), r.err);
    assert(!r.out.includes("the all-reduce returned"), r.out);
  },
});
