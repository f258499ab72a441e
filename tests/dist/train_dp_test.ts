// The real `train` command, data-parallel (issue 18): `mpirun -np 2 deno run -A lib/cli/train.ts FILE`
// with 2 videos a rank against one process with 4 (the same effective batch, 4 videos an update): the
// stored loss curve and learning rates, the validations (sharded by rank, an odd count of videos, their
// counts summed) and the final weights agree; rank 0 alone wrote the store (one run) and the output
// folder. Then each run's epoch-0 checkpoint is continued in the other world (`--resume … --continue`):
// 2-rank → 1 process and 1 process → 2 ranks both end where the unbroken runs end. Skipped, with the
// reason printed, where mpirun is missing.

import { assert, assertEquals } from "../data/assert.ts";
import { runCli } from "../run_cli.ts";
import { ResultsStore } from "../../lib/results/store.ts";
import { readCheckpoint } from "../../lib/train/checkpoint.ts";
import { mpirun, mpirunMissing } from "./mpirun.ts";

const here = "tests/dist/train_dp_test.ts";
const TRAIN = new URL("../../lib/cli/train.ts", import.meta.url).pathname;
const missing = await mpirunMissing();
if (missing) console.log(`skip: ${here}: ${missing}`);

const dir = await Deno.makeTempDir({ prefix: "vifi-train-dp-" });

/** Synthetic clips (8 to train on: 2 updates of 4 an epoch; 5 to validate: rank 1 scores 2) and the experiment. */
async function makeExperiment(): Promise<string> {
  const data = `${dir}/data`;
  const r = await runCli("synthetic", data, "--clips-per-class", "3", "--frames", "4", "--size", "32");
  assert(r.code === 0, r.err);
  const head = async (from: string, to: string, n: number) => {
    const lines = (await Deno.readTextFile(`${data}/${from}`)).trim().split("\n");
    assert(lines.length >= n, `${from} has ${lines.length} lines, want ${n}`);
    await Deno.writeTextFile(`${data}/${to}`, lines.slice(0, n).join("\n") + "\n");
  };
  await head("base_train.txt", "train8.txt", 8);
  await head("base_val.txt", "val5.txt", 5);
  const exp = {
    name: "dp",
    protocol: { kind: "custom" },
    model: { arch: "synthetic", variant: "both", tokenizer: "bytes", precision: "f32" },
    data: { root: data, frames: 2, workers: 1 },
    train: {
      list: `${data}/train8.txt`,
      labels: `${data}/base_labels.csv`,
      epochs: 2,
      warmupEpochs: 1,
      saveFreq: 1,
      // 2 videos a device, as a 2-device run: 4 an update (one process takes --batch-size 4 --world-size 1)
      batch: 2,
      worldSize: 2,
      lr: 1e-3,
      mixup: 0,
      cutmix: 0,
    },
    evals: [{ name: "val", list: `${data}/val5.txt`, labels: `${data}/base_labels.csv` }],
    seed: 3,
  };
  const file = `${dir}/dp.exp.ts`;
  await Deno.writeTextFile(file, `export default ${JSON.stringify(exp)};\n`);
  return file;
}

const ONE = ["--batch-size", "4", "--world-size", "1"];

/** `train FILE --output OUT --db DB …` as one process or under mpirun -np 2; fails the test unless it ends 0. */
async function train(ranks: 1 | 2, file: string, out: string, db: string, more: string[] = []) {
  const args = [file, "--output", `${dir}/${out}`, "--db", `${dir}/${db}`, ...more];
  if (ranks === 1) {
    const r = await runCli("train", ...args);
    assert(r.code === 0, `train ${args.join(" ")}: exit ${r.code}\n${r.err}`);
    return r.err;
  }
  const r = await mpirun(2, TRAIN, args, { timeoutS: 240 });
  assert(
    r.code === 0 && !r.timedOut,
    `mpirun train: exit ${r.code}${r.timedOut ? " (timed out)" : ""}\n${r.err}`,
  );
  return r.err;
}

/**
 * The largest |a − b| over every parameter of two checkpoints, and where. Not counted: the key third of
 * each attention's in_proj_bias, whose exact gradient is 0 (softmax ignores a shift every key shares):
 * its gradient is rounding noise, which AdamW's eps of 1e-8 turns into steps of ±lr whatever its size,
 * so two orders of summation move it apart by up to lr per update (seen: 8.9e-4 after 4 updates).
 */
async function weightsApart(a: string, b: string): Promise<[number, string]> {
  const [x, y] = [await readCheckpoint(a), await readCheckpoint(b)];
  assertEquals([...x.params.keys()].sort(), [...y.params.keys()].sort());
  let worst: [number, string] = [0, ""];
  for (const [name, v] of x.params) {
    const w = y.params.get(name)!;
    const key = name.endsWith("attn.in_proj_bias") ? [v.length / 3, (2 * v.length) / 3] : [0, 0];
    for (let i = 0; i < v.length; i++) {
      if (i >= key[0] && i < key[1]) continue;
      const d = Math.abs(v[i] - w[i]);
      if (!(d <= worst[0])) worst = [d, `${name}[${i}]`];
    }
  }
  return worst;
}

/** How far the weights moved from `from` (so a comparison within 1e-5 says something). */
async function moved(from: string, to: string): Promise<number> {
  return (await weightsApart(from, to))[0];
}

function stepRows(db: string) {
  const s = ResultsStore.open(`${dir}/${db}`);
  try {
    const runs = s.listRuns({});
    assertEquals(runs.length, 1, `${db}: ${runs.length} runs`);
    const run = s.getRun(runs[0].id)!;
    return { status: runs[0].status, steps: s.stepMetrics(runs[0].id), epochs: run.epochs, evals: run.evals };
  } finally {
    s.close();
  }
}

let file = "";

Deno.test({
  name:
    "train on 2 MPI ranks of batch 2 = 1 process of batch 4: losses, validations, weights; one run, one folder",
  ignore: missing !== undefined,
  fn: async () => {
    file = await makeExperiment();
    const t0 = performance.now();
    await train(1, file, "one", "one.db", ONE);
    const t1 = performance.now();
    const log = await train(2, file, "two", "two.db");
    console.log(
      `1 process ${((t1 - t0) / 1000).toFixed(1)} s, 2 ranks ${
        ((performance.now() - t1) / 1000).toFixed(1)
      } s`,
    );
    assert(log.includes("data-parallel over 2 MPI ranks"), log);
    const one = stepRows("one.db"), two = stepRows("two.db");
    assertEquals([one.status, two.status], ["done", "done"]);
    assertEquals(two.steps.length, 4);
    assertEquals(two.steps.map((r) => [r.step, r.epoch]), one.steps.map((r) => [r.step, r.epoch]));
    let lossApart = 0;
    for (const [i, r] of two.steps.entries()) {
      lossApart = Math.max(lossApart, Math.abs(r.loss - one.steps[i].loss));
      assert(Math.abs(r.lr - one.steps[i].lr) <= 1e-12 * one.steps[i].lr, `lr at step ${i}`);
    }
    const lossMoved = Math.abs(one.steps[3].loss - one.steps[0].loss);
    console.log(
      `loss curve: ${lossApart.toExponential(2)} apart at worst (it moved ${lossMoved.toExponential(2)})`,
    );
    assert(lossApart <= 1e-5, `losses ${lossApart} apart`);
    // the validation of 5 videos, 3 on rank 0 and 2 on rank 1, summed: the same counts
    const scores = (e: typeof one.epochs) => e.map((r) => [r.epoch, r.valTop1, r.valTop5]);
    assertEquals(scores(two.epochs), scores(one.epochs));
    assertEquals(two.evals.length, one.evals.length);
    const [apart, at] = await weightsApart(`${dir}/one/last.safetensors`, `${dir}/two/last.safetensors`);
    const m = await moved(`${dir}/one/ckpt_epoch_0.safetensors`, `${dir}/one/last.safetensors`);
    console.log(
      `final weights: ${apart.toExponential(2)} apart at worst (${at}); epoch 1 moved them ${
        m.toExponential(2)
      }`,
    );
    assert(apart <= 1e-5, `final weights ${apart} apart at ${at}`);
    // rank 1 wrote nothing: one store, one folder, rank 0's
    const entries = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
    assertEquals(entries.filter((n) => n.startsWith("two")), ["two", "two.db"]);
    const meta = (await readCheckpoint(`${dir}/two/last.safetensors`)).meta;
    assertEquals(meta.world, { ranks: 2, batch: 2 });
  },
});

Deno.test({
  name:
    "a 2-rank run's checkpoint continues in 1 process, and a 1-process one on 2 ranks, to the unbroken end",
  ignore: missing !== undefined,
  fn: async () => {
    assert(file, "needs the first test's runs");
    const t0 = performance.now();
    await train(1, file, "two-then-one", "c1.db", [
      ...ONE,
      "--resume",
      `${dir}/two/ckpt_epoch_0.safetensors`,
      "--continue",
    ]);
    const t1 = performance.now();
    await train(2, file, "one-then-two", "c2.db", [
      "--resume",
      `${dir}/one/ckpt_epoch_0.safetensors`,
      "--continue",
    ]);
    console.log(
      `continued: 1 process ${((t1 - t0) / 1000).toFixed(1)} s, 2 ranks ${
        ((performance.now() - t1) / 1000).toFixed(1)
      } s`,
    );
    for (const [out, ref] of [["two-then-one", "one"], ["one-then-two", "two"]]) {
      const [apart, at] = await weightsApart(
        `${dir}/${out}/last.safetensors`,
        `${dir}/${ref}/last.safetensors`,
      );
      console.log(`${out}: ${apart.toExponential(2)} from ${ref}'s unbroken end (${at})`);
      assert(apart <= 1e-5, `${out}: ${apart} from ${ref} at ${at}`);
    }
    // the continued runs log epoch 1's steps as the unbroken ones did
    const unbroken = stepRows("one.db").steps.filter((r) => r.epoch === 1);
    for (const db of ["c1.db", "c2.db"]) {
      const rows = stepRows(db).steps;
      assertEquals(rows.map((r) => r.step), unbroken.map((r) => r.step));
      for (const [i, r] of rows.entries()) {
        assert(Math.abs(r.loss - unbroken[i].loss) <= 1e-5, `${db} step ${r.step}`);
      }
    }
  },
});

/** The pid of the rank-`rank` process whose command line names `marker` (Linux /proc), or undefined. */
function rankPid(marker: string, rank: number): number | undefined {
  for (const e of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    try {
      const cmd = Deno.readTextFileSync(`/proc/${e.name}/cmdline`);
      if (!cmd.includes(marker) || !cmd.includes("train.ts")) continue;
      const env = Deno.readTextFileSync(`/proc/${e.name}/environ`).split("\0");
      if (env.includes(`OMPI_COMM_WORLD_RANK=${rank}`)) return Number(e.name);
    } catch {
      // gone meanwhile, or not ours to read
    }
  }
  return undefined;
}

Deno.test({
  name:
    "SIGTERM to rank 1 alone stops both ranks at the same step; rank 0 saves; 1 process continues to the unbroken end",
  ignore: missing !== undefined || Deno.build.os !== "linux",
  fn: async () => {
    assert(file, "needs the first test's runs");
    const out = `${dir}/stopped`;
    const job = mpirun(2, TRAIN, [file, "--output", out, "--db", `${dir}/stop.db`], { timeoutS: 240 });
    // after epoch 0 is validated and saved: SIGTERM to rank 1 only, so the stop must be agreed on
    let signalled = false;
    for (let i = 0; i < 2400 && !signalled; i++) {
      await new Promise((r) => setTimeout(r, 50));
      try {
        Deno.statSync(`${out}/ckpt_epoch_0.safetensors`);
      } catch {
        continue;
      }
      const pid = rankPid(out, 1);
      assert(pid !== undefined, "rank 1 is not running");
      Deno.kill(pid, "SIGTERM");
      signalled = true;
    }
    const r = await job;
    assert(signalled && !r.timedOut, `signalled ${signalled}, timed out ${r.timedOut}\n${r.err}`);
    assert(r.code !== 0, `mpirun exit 0 after a SIGTERM\n${r.err}`);
    const saved = await Deno.stat(`${out}/last.safetensors`).then(() => true, () => false);
    assert(saved, `no last.safetensors after the stop (mpirun exit ${r.code})\n${r.err}`);
    const meta = (await readCheckpoint(`${out}/last.safetensors`)).meta;
    assertEquals(meta.position?.epoch, 1, JSON.stringify(meta.position));
    assertEquals(stepRows("stop.db").status, "interrupted");
    // continued as one process of batch 4 in the same folder and store: one run, the unbroken end
    const log = await train(1, file, "stopped", "stop.db", [...ONE, "--continue"]);
    assert(log.includes("continuing run"), log);
    const [apart, at] = await weightsApart(`${out}/last.safetensors`, `${dir}/one/last.safetensors`);
    console.log(
      `stopped at batch ${meta.position?.batch} of epoch 1, continued: ${
        apart.toExponential(2)
      } from the unbroken end (${at})`,
    );
    assert(apart <= 1e-5, `${apart} from the unbroken end at ${at}`);
    const rows = stepRows("stop.db"), unbroken = stepRows("one.db");
    assertEquals(rows.status, "done");
    assertEquals(rows.steps.map((x) => x.step), unbroken.steps.map((x) => x.step));
    for (const [i, x] of rows.steps.entries()) {
      assert(Math.abs(x.loss - unbroken.steps[i].loss) <= 1e-5, `step ${i}`);
    }
    await Deno.remove(dir, { recursive: true });
  },
});
