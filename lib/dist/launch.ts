// Where this process sits among the processes a launcher started: read from the environment the
// launcher sets, before (and without) loading any MPI library. A process no launcher started is a
// world of one, and that path never touches FFI.

import { readEnv } from "../io/env.ts";

export type Launcher = "mpirun" | "pmix" | "pmi" | "none";

export interface LaunchInfo {
  /** who started the process; "none" = a plain process, a world of one */
  launcher: Launcher;
  rank: number;
  size: number;
  /** rank among the processes on this node (which GPU to take) */
  localRank: number;
  localSize: number;
}

/** The launcher variables this module reads, named in error messages. */
export const LAUNCHER_VARIABLES = "OMPI_COMM_WORLD_SIZE, PMIX_RANK, PMI_SIZE";

/**
 * The launch as the environment describes it. Open MPI's mpirun sets OMPI_COMM_WORLD_*; srun sets
 * PMIX_RANK (--mpi=pmix) or PMI_RANK/PMI_SIZE (--mpi=pmi2) with SLURM_NTASKS/SLURM_LOCALID. SLURM_*
 * alone is not a launch: an sbatch script's batch shell has SLURM_NTASKS too, and runs one trainer.
 */
export function launchFromEnv(env: (name: string) => string | undefined = readEnv): LaunchInfo {
  const int = (name: string): number | undefined => {
    const v = env(name);
    if (v === undefined || v === "") return undefined;
    if (!/^\d+$/.test(v.trim())) throw new Error(`vifi: MPI: ${name}=${JSON.stringify(v)} is not a count`);
    return Number(v.trim());
  };
  let launcher: Launcher = "none";
  let rank: number | undefined, size: number | undefined;
  if (int("OMPI_COMM_WORLD_SIZE") !== undefined) {
    launcher = "mpirun";
    rank = int("OMPI_COMM_WORLD_RANK");
    size = int("OMPI_COMM_WORLD_SIZE");
  } else if (int("PMIX_RANK") !== undefined) {
    launcher = "pmix";
    rank = int("PMIX_RANK");
    size = int("SLURM_NTASKS") ?? int("PMIX_SIZE");
  } else if (int("PMI_SIZE") !== undefined) {
    launcher = "pmi";
    rank = int("PMI_RANK");
    size = int("PMI_SIZE");
  }
  if (launcher === "none") return { launcher, rank: 0, size: 1, localRank: 0, localSize: 1 };
  if (rank === undefined || size === undefined) {
    throw new Error(
      `vifi: MPI: the ${launcher} launch sets no rank or no world size (${LAUNCHER_VARIABLES})`,
    );
  }
  if (size < 1 || rank >= size) throw new Error(`vifi: MPI: rank ${rank} is outside a world of ${size}`);
  const localRank = int("OMPI_COMM_WORLD_LOCAL_RANK") ?? int("SLURM_LOCALID") ?? int("MPI_LOCALRANKID") ??
    0;
  const localSize = int("OMPI_COMM_WORLD_LOCAL_SIZE") ?? int("SLURM_NTASKS_PER_NODE") ??
    int("MPI_LOCALNRANKS") ?? 1;
  return { launcher, rank, size, localRank, localSize: Math.max(localSize, localRank + 1) };
}
