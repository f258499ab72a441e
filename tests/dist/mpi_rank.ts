// What one rank runs under `mpirun` for tests/dist/mpi_test.ts. Mode (first argument):
//   collectives  all-reduce f32/f64, broadcast and barrier on odd sizes, each checked against what
//                every rank's data gives in float64; prints "ok rank R checks N"
//   die          rank 1 exits with code 3 before the all-reduce the others wait in
//   throw        rank 1 ends with an uncaught error there instead
//   hang         rank 1 sleeps past VIFI_MPI_TIMEOUT while the others wait in an all-reduce

import { initWorld, type World } from "../../lib/dist/mpi.ts";

const mode = Deno.args[0];
const world = initWorld({ require: true });

/** Rank r's value i: depends on both, spans magnitudes and signs, exact in f32. */
function value(r: number, i: number): number {
  const m = Math.fround(Math.sin(i * 12.9898 + r * 78.233) * 43758.5453);
  return Math.fround((m - Math.trunc(m)) * 2 ** ((i + 3 * r) % 17 - 8));
}

function fail(msg: string): never {
  throw new Error(`rank ${world.rank}: ${msg}`);
}

async function allreduceChecks(w: World, n: number): Promise<void> {
  const a = new Float32Array(n), d = new Float64Array(n);
  for (let i = 0; i < n; i++) a[i] = d[i] = value(w.rank, i);
  await w.allreduceSum(a);
  await w.allreduceSum(d);
  for (let i = 0; i < n; i++) {
    let exact = 0, abs = 0;
    for (let r = 0; r < w.size; r++) {
      exact += value(r, i);
      abs += Math.abs(value(r, i));
    }
    // summing `size` f32 values in some order rounds (size - 1) times, each within 2^-24 of the
    // partial sum, which is at most sum |x|; the f64 sum of a few f32 values is exact
    const bound = (w.size - 1) * 2 ** -24 * abs;
    if (!(Math.abs(a[i] - exact) <= bound)) fail(`f32 sum of ${n}, element ${i}: ${a[i]} vs ${exact}`);
    if (d[i] !== exact) fail(`f64 sum of ${n}, element ${i}: ${d[i]} vs ${exact}`);
  }
}

async function broadcastChecks(w: World, n: number, root: number): Promise<void> {
  const bytes = new Uint8Array(n + 1);
  // a view at an odd byte offset, so the binding must pass the view, not its buffer
  const view = bytes.subarray(1);
  for (let i = 0; i < n; i++) view[i] = (i * 31 + w.rank * 7) & 255;
  bytes[0] = 200 + w.rank;
  await w.broadcast(view, root);
  for (let i = 0; i < n; i++) {
    if (view[i] !== ((i * 31 + root * 7) & 255)) fail(`broadcast of ${n} bytes from ${root}, byte ${i}`);
  }
  if (bytes[0] !== 200 + w.rank) fail("broadcast wrote before its view");
  const f = new Float32Array(n);
  for (let i = 0; i < n; i++) f[i] = value(w.rank, i);
  await w.broadcast(f, root);
  for (let i = 0; i < n; i++) if (f[i] !== value(root, i)) fail(`f32 broadcast of ${n}, element ${i}`);
}

/** Every rank writes its file, meets the others at the barrier, then must see every rank's file. */
async function barrierCheck(w: World, dir: string): Promise<void> {
  if (w.rank === 0) await new Promise((r) => setTimeout(r, 300)); // a late writer the barrier must wait for
  await Deno.writeTextFile(`${dir}/rank-${w.rank}`, "here");
  await w.barrier();
  for (let r = 0; r < w.size; r++) {
    try {
      await Deno.stat(`${dir}/rank-${r}`);
    } catch {
      fail(`after the barrier rank ${r}'s file is missing`);
    }
  }
}

if (mode === "collectives") {
  let checks = 0;
  // 2_500_001 crosses two of the binding's 2^20-element all-reduce pieces
  for (const n of [1, 3, 77, 1_000_003, 2_500_001]) {
    await allreduceChecks(world, n);
    await broadcastChecks(world, n, world.size - 1);
    checks += 2;
  }
  await barrierCheck(world, Deno.args[1]);
  checks++;
  await world.finalize();
  console.log(`ok rank ${world.rank} of ${world.size} checks ${checks}`);
} else if (mode === "die") {
  if (world.rank === 1) Deno.exit(3);
  await world.allreduceSum(new Float32Array(77));
  console.log(`rank ${world.rank}: the all-reduce returned without rank 1`);
} else if (mode === "throw") {
  if (world.rank === 1) throw new Error("rank 1 fails before the all-reduce");
  await world.allreduceSum(new Float32Array(77));
  console.log(`rank ${world.rank}: the all-reduce returned without rank 1`);
} else if (mode === "hang") {
  if (world.rank === 1) await new Promise((r) => setTimeout(r, 60_000));
  await world.allreduceSum(new Float32Array(77));
  console.log(`rank ${world.rank}: the all-reduce returned`);
} else {
  throw new Error(`mpi_rank.ts: unknown mode ${mode}`);
}
