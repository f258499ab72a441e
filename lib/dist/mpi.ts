// The few MPI calls data-parallel training needs, through Deno's FFI into Open MPI's libmpi: init and
// finalize, rank and size, an in-place sum all-reduce, broadcast and barrier. A process no launcher
// started gets a world of one that does nothing and loads nothing, so single-process training is the
// code it always was.
//
// Collectives are non-blocking FFI calls: they run on a thread of Deno's pool while JavaScript goes on
// (recording the next layer's backward, say), so MPI is initialised with MPI_THREAD_MULTIPLE and the
// calls are still issued one at a time, in program order, which is what every rank must agree on.

import { oneLine } from "../io/messages.ts";
import { readEnv } from "../io/env.ts";
import { LAUNCHER_VARIABLES, launchFromEnv, type LaunchInfo } from "./launch.ts";

/** The processes training one model together. */
export interface World {
  readonly rank: number;
  readonly size: number;
  readonly localRank: number;
  readonly localSize: number;
  /** false for a world of one (no MPI loaded) */
  readonly distributed: boolean;
  /** Sum `data` over every rank, in place (each rank passes the same length). */
  allreduceSum(data: Float32Array | Float64Array): Promise<void>;
  /** Overwrite `data` on every rank with rank `root`'s bytes. */
  broadcast(data: ArrayBufferView, root?: number): Promise<void>;
  barrier(): Promise<void>;
  /** End MPI (waits for calls in flight); later calls are errors. Idempotent. */
  finalize(): Promise<void>;
}

export interface WorldOptions {
  /** refuse to run as a world of one when no launcher started the process */
  require?: boolean;
  /** the library to load; default VIFI_MPI_LIB, else libmpi.so.40 (Open MPI 3–5) */
  library?: string;
  /** seconds a collective may wait for the other ranks before the job is aborted; default VIFI_MPI_TIMEOUT or 900 */
  timeoutS?: number;
  /** the launch, when not read from this process's environment (tests) */
  launch?: LaunchInfo;
}

/** A world of one: every collective is the identity. */
class SingleWorld implements World {
  readonly rank = 0;
  readonly size = 1;
  readonly localRank = 0;
  readonly localSize = 1;
  readonly distributed = false;
  allreduceSum(): Promise<void> {
    return Promise.resolve();
  }
  broadcast(_data: ArrayBufferView, root = 0): Promise<void> {
    if (root !== 0) return Promise.reject(new Error(`vifi: MPI: broadcast root ${root} in a world of 1`));
    return Promise.resolve();
  }
  barrier(): Promise<void> {
    return Promise.resolve();
  }
  finalize(): Promise<void> {
    return Promise.resolve();
  }
}

const SYMBOLS = {
  MPI_Init_thread: { parameters: ["pointer", "pointer", "i32", "buffer"], result: "i32" },
  MPI_Initialized: { parameters: ["buffer"], result: "i32" },
  MPI_Finalize: { parameters: [], result: "i32" },
  MPI_Abort: { parameters: ["pointer", "i32"], result: "i32" },
  MPI_Comm_rank: { parameters: ["pointer", "buffer"], result: "i32" },
  MPI_Comm_size: { parameters: ["pointer", "buffer"], result: "i32" },
  MPI_Allreduce: {
    parameters: ["pointer", "buffer", "i32", "pointer", "pointer", "pointer"],
    result: "i32",
    nonblocking: true,
  },
  MPI_Bcast: { parameters: ["buffer", "i32", "pointer", "i32", "pointer"], result: "i32", nonblocking: true },
  MPI_Barrier: { parameters: ["pointer"], result: "i32", nonblocking: true },
  // Open MPI's predefined handles are the addresses of these globals (a pointer static is its address)
  ompi_mpi_comm_world: { type: "pointer" },
  ompi_mpi_float: { type: "pointer" },
  ompi_mpi_double: { type: "pointer" },
  ompi_mpi_byte: { type: "pointer" },
  ompi_mpi_op_sum: { type: "pointer" },
} as const;

type Lib = Deno.DynamicLibrary<typeof SYMBOLS>;

const MPI_THREAD_SERIALIZED = 2;
const MPI_THREAD_MULTIPLE = 3;
/** Open MPI's MPI_IN_PLACE is the address 1 */
const MPI_IN_PLACE = Deno.UnsafePointer.create(1n);
/** MPI counts are C ints: longer arrays go in pieces of this many elements */
const MAX_COUNT = 1 << 30;
/**
 * All-reduces go in pieces of 2^20 elements (4 MB of f32): measured with 2 ranks on one machine
 * (shared memory), 150 M floats took 540 ms as one call and 160 ms in 4 MB pieces (a piece's sum stays
 * in cache; 16 MB pieces: 360 ms, 1 MB: 178 ms). Between nodes the library pipelines large messages
 * itself and 150 calls cost microseconds each, so the pieces cost nothing there.
 */
const ALLREDUCE_PIECE = 1 << 20;

/** One loaded, initialised MPI for the process (MPI_Init may run once). */
let initialised: MpiWorld | undefined;

class MpiWorld implements World {
  readonly distributed = true;
  readonly rank: number;
  readonly size: number;
  readonly localRank: number;
  readonly localSize: number;
  private queue: Promise<unknown> = Promise.resolve();
  /** collectives whose FFI call has not returned */
  private inFlight = 0;
  private finalized = false;
  private readonly threads: number;

  constructor(private readonly lib: Lib, launch: LaunchInfo, private readonly timeoutS: number) {
    const s = lib.symbols;
    const provided = new Int32Array(1);
    check("MPI_Init_thread", s.MPI_Init_thread(null, null, MPI_THREAD_MULTIPLE, provided));
    this.threads = provided[0];
    if (this.threads < MPI_THREAD_SERIALIZED) {
      throw new Error(
        `vifi: MPI: the library gives thread level ${this.threads}; vifi needs ≥ 2 (serialized)`,
      );
    }
    const out = new Int32Array(1);
    check("MPI_Comm_rank", s.MPI_Comm_rank(s.ompi_mpi_comm_world, out));
    this.rank = out[0];
    check("MPI_Comm_size", s.MPI_Comm_size(s.ompi_mpi_comm_world, out));
    this.size = out[0];
    if (this.size !== launch.size || this.rank !== launch.rank) {
      throw new Error(
        `vifi: MPI: the library says rank ${this.rank} of ${this.size}, the launcher's environment ` +
          `rank ${launch.rank} of ${launch.size} (a libmpi other than the launcher's?)`,
      );
    }
    this.localRank = launch.localRank;
    this.localSize = launch.localSize;
    // A rank whose script simply ends must still finalize, or mpirun reports it as failed. Not a rank
    // that exits with an error code: MPI_Finalize would wait there for the ranks that still wait in a
    // collective for it, while exiting unfinalized makes the launcher end the job. Nor while a call
    // is in flight: finalize would wait for it.
    globalThis.addEventListener("unload", () => {
      if (!this.finalized && this.inFlight === 0 && !Deno.exitCode) {
        this.finalized = true;
        s.MPI_Finalize();
      }
    });
  }

  allreduceSum(data: Float32Array | Float64Array): Promise<void> {
    const s = this.lib.symbols;
    const type = data instanceof Float32Array ? s.ompi_mpi_float : s.ompi_mpi_double;
    return this.serial("allreduce", async () => {
      for (const part of pieces(data, ALLREDUCE_PIECE)) {
        const rc = await this.timed(
          "allreduce",
          s.MPI_Allreduce(MPI_IN_PLACE, part, part.length, type, s.ompi_mpi_op_sum, s.ompi_mpi_comm_world),
        );
        check("MPI_Allreduce", rc);
      }
    });
  }

  broadcast(data: ArrayBufferView, root = 0): Promise<void> {
    if (!Number.isInteger(root) || root < 0 || root >= this.size) {
      return Promise.reject(
        new Error(`vifi: MPI: broadcast root ${root} is outside a world of ${this.size}`),
      );
    }
    const s = this.lib.symbols;
    const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    return this.serial("broadcast", async () => {
      for (const part of pieces(bytes)) {
        const rc = await this.timed(
          "broadcast",
          s.MPI_Bcast(part, part.length, s.ompi_mpi_byte, root, s.ompi_mpi_comm_world),
        );
        check("MPI_Bcast", rc);
      }
    });
  }

  barrier(): Promise<void> {
    const s = this.lib.symbols;
    return this.serial("barrier", async () => {
      check("MPI_Barrier", await this.timed("barrier", s.MPI_Barrier(s.ompi_mpi_comm_world)));
    });
  }

  async finalize(): Promise<void> {
    if (this.finalized) return;
    await this.queue.catch(() => {});
    if (this.finalized) return;
    this.finalized = true;
    check("MPI_Finalize", this.lib.symbols.MPI_Finalize());
  }

  /** Calls run one after another in the order they were made, the same order on every rank. */
  private serial(what: string, call: () => Promise<void>): Promise<void> {
    if (this.finalized) return Promise.reject(new Error(`vifi: MPI: ${what} after finalize`));
    const p = this.queue.then(call);
    this.queue = p.catch(() => {});
    return p;
  }

  /**
   * A collective that waits longer than the timeout means a rank died without the launcher noticing,
   * or hangs. Its thread cannot be taken back, so the job is aborted (MPI_Abort ends every rank)
   * after one line saying why; a library without MPI_THREAD_MULTIPLE cannot call MPI meanwhile, so
   * that process just exits.
   */
  private async timed(what: string, call: Promise<number>): Promise<number> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const expired = new Promise<never>(() => {
      timer = setTimeout(() => {
        console.error(
          `vifi: MPI: rank ${this.rank} of ${this.size} waited ${this.timeoutS} s in ${what} for the other ` +
            `ranks (one died or hangs; VIFI_MPI_TIMEOUT sets the limit); aborting the job`,
        );
        if (this.threads >= MPI_THREAD_MULTIPLE) {
          this.lib.symbols.MPI_Abort(this.lib.symbols.ompi_mpi_comm_world, 124);
        }
        Deno.exit(124);
      }, this.timeoutS * 1000);
    });
    this.inFlight++;
    try {
      return await Promise.race([call, expired]);
    } finally {
      this.inFlight--;
      clearTimeout(timer);
    }
  }
}

/** `a` in pieces of at most `size` elements (one empty piece for an empty array: every rank still calls). */
function pieces<T extends Float32Array | Float64Array | Uint8Array>(a: T, size = MAX_COUNT): T[] {
  const out: T[] = [];
  for (let o = 0; o < a.length; o += size) out.push(a.subarray(o, o + size) as T);
  return out.length ? out : [a];
}

function check(call: string, rc: number) {
  // With MPI's default handler (errors are fatal) a failing call never returns; this is for the rest.
  if (rc !== 0) throw new Error(`vifi: MPI: ${call} failed with error code ${rc}`);
}

function openLibrary(path: string): Lib {
  try {
    return Deno.dlopen(path, SYMBOLS);
  } catch (e) {
    const why = oneLine(e instanceof Error ? e.message : String(e));
    throw new Error(
      `vifi: MPI: cannot load Open MPI's ${path} (Debian: apt-get install openmpi-bin libopenmpi-dev; ` +
        `or VIFI_MPI_LIB=/path/to/libmpi.so): ${why}`,
    );
  }
}

/** The timeout from VIFI_MPI_TIMEOUT (seconds), checked. */
function timeoutFromEnv(): number {
  const v = readEnv("VIFI_MPI_TIMEOUT");
  if (v === undefined || v === "") return 900;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) {
    throw new Error(`vifi: MPI: VIFI_MPI_TIMEOUT=${JSON.stringify(v)} is not seconds > 0`);
  }
  return n;
}

/**
 * The world this process belongs to. Started by mpirun or srun (its environment says so) with more
 * than one rank: MPI is loaded and initialised once, and later calls return the same world. Otherwise
 * a world of one, or, with `require` and no launcher, a one-line error saying how to launch.
 */
export function initWorld(opts: WorldOptions = {}): World {
  if (initialised) return initialised;
  const launch = opts.launch ?? launchFromEnv();
  if (launch.launcher === "none") {
    if (opts.require) {
      throw new Error(
        `vifi: MPI: this process was not started by a launcher (mpirun -np N … or srun --mpi=pmix …): ` +
          `${LAUNCHER_VARIABLES} are unset`,
      );
    }
    return new SingleWorld();
  }
  // mpirun -np 1: nothing to exchange, so nothing is loaded either
  if (launch.size === 1) return new SingleWorld();
  const timeoutS = opts.timeoutS ?? timeoutFromEnv();
  const lib = openLibrary(opts.library ?? readEnv("VIFI_MPI_LIB") ?? "libmpi.so.40");
  initialised = new MpiWorld(lib, launch, timeoutS);
  return initialised;
}

/** A world of one, for code that takes a World and runs alone. */
export function singleWorld(): World {
  return new SingleWorld();
}
