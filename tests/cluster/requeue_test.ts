// Preemption on the local cluster (.ci/cluster.sh start): the time-limit warning (`scancel --batch
// --signal=USR1`, what `--signal=B:USR1@120` sends) reaches a training task, which saves, requeues itself
// and continues; the store then holds ONE run for it, done, whose step-by-step losses equal an
// uninterrupted run's of the same experiment (trained here, locally, at the same time) value for value:
// same code, same machine, same seed, and the continued run replays the stopped epoch from its saved
// position, so no tolerance. And the bound: a task warned again after --max-requeues requeues stops, and a
// task that fails for a reason of its own is not requeued at all (a stand-in trainer: no model needed).
// Skipped, with the reason printed, where `sinfo` does not answer.

import { runCli } from "../run_cli.ts";
import { assert, assertEquals } from "../data/assert.ts";
import { ResultsStore } from "../../lib/results/store.ts";
import { renderSbatch } from "../../lib/cluster/sbatch.ts";
import { scancel, slurmMissing, textOf, tinyExperiment, waitForJob, waitForLine } from "./slurm.ts";

const missing = await slurmMissing();
if (missing) console.log(`skip: tests/cluster/requeue_test.ts: ${missing}`);
const dir = await Deno.makeTempDir({ prefix: "vifi-requeue-" });

/** A tiny synthetic experiment of two epochs (12 steps each). */
async function experimentFile(): Promise<string> {
  const data = `${dir}/data`;
  const r = await runCli("synthetic", data, "--clips-per-class", "1", "--frames", "4", "--size", "32");
  assert(r.code === 0, r.err);
  const exp = tinyExperiment(data, "tiny", 4, { epochs: 2, saveFreq: 1 });
  const file = `${dir}/tiny.exp.ts`;
  await Deno.writeTextFile(file, `export default ${JSON.stringify(exp)};\n`);
  return file;
}

/** Every step row of the store's one run: [step, epoch, loss]. */
function curveOf(db: string): { runs: string[]; curve: number[][] } {
  const store = ResultsStore.open(db, { recover: false });
  try {
    const runs = store.listRuns();
    const curve = runs.length ? store.stepMetrics(runs[0].id).map((r) => [r.step, r.epoch, r.loss]) : [];
    return { runs: runs.map((r) => `${r.id}:${r.experiment}:${r.status}:${r.slurmJob}`), curve };
  } finally {
    store.close();
  }
}

Deno.test({
  name: "USR1 before the time limit: the task saves, requeues and continues; one run, its loss curve exact",
  ignore: missing !== undefined,
  async fn() {
    const file = await experimentFile();
    const [db, out] = [`${dir}/slurm.db`, `${dir}/slurm-runs`];
    const r = await runCli("train", file, "--slurm", "--gpus-per-task", "0", "--output", out, "--db", db);
    assertEquals(r.code, 0, r.err);
    const jobId = r.out.trim();
    // the uninterrupted run, meanwhile, in this machine's own process
    const straight = runCli("train", file, "--db", `${dir}/local.db`, "--output", `${dir}/local-runs`);
    const log = `${out}/slurm/${jobId}_0.err`;
    try {
      // once epoch 0 is done, during epoch 1: the step in flight ends, the run saves mid-epoch
      await waitForLine(log, "epoch 0: loss", 300_000);
      await scancel("--batch", "--signal=USR1", `${jobId}_0`);
      await waitForJob(jobId, 300_000);
    } finally {
      await scancel(jobId).catch(() => {});
    }
    const local = await straight;
    assertEquals(local.code, 0, local.err);
    const text = await textOf(log);
    for (
      const line of ["SIGTERM: finishing the step", "requeueing", "restart 1", "continuing run 1 ", "done in"]
    ) {
      assert(text.includes(line), `no '${line}' in the task's log:\n${text}`);
    }
    assert(/continuing \S+ at epoch 1, batch [1-9]/.test(text), `not continued inside epoch 1:\n${text}`);
    const slurm = curveOf(db), want = curveOf(`${dir}/local.db`);
    assertEquals(slurm.runs, [`1:tiny:done:${jobId}_0`], text);
    assertEquals(slurm.curve.length, 24);
    assertEquals(slurm.curve, want.curve);
  },
});

/** A stand-in trainer: "loops" runs until SIGTERM (then exits 143, as train does), "fails" exits 3. */
const STAND_IN = `#!/bin/bash
name=""; while [ $# -gt 0 ]; do [ "$1" = --only ] && name="$2"; shift; done
if [ "$name" = fails ]; then echo "stand-in: fails on its own" >&2; exit 3; fi
trap 'echo "stand-in: saved" >&2; exit 143' TERM
echo "stand-in: started" >&2
while :; do sleep 0.2; done
`;

Deno.test({
  name: "--max-requeues bounds the time-limit requeues; a task failing on its own is not requeued",
  ignore: missing !== undefined,
  async fn() {
    const bin = `${dir}/stand-in.sh`;
    await Deno.writeTextFile(bin, STAND_IN);
    await Deno.chmod(bin, 0o755);
    const out = `${dir}/bound`;
    await Deno.mkdir(`${out}/slurm`, { recursive: true });
    const script = `${out}/slurm/bound.sbatch`;
    await Deno.writeTextFile(
      script,
      renderSbatch(
        {
          jobName: "vifi-bound-test",
          experimentFile: `${dir}/none.exp.ts`,
          names: ["loops", "fails"],
          outputDir: out,
          cwd: dir,
          deno: bin,
          trainScript: `${dir}/train.ts`,
          trainArgs: [],
        },
        { gpusPerTask: 0, extraArgs: [], maxRequeues: 1 },
      ),
    );
    const sb = await new Deno.Command("sbatch", { args: ["--parsable", script], stdout: "piped" }).output();
    assert(sb.success, "sbatch failed");
    const jobId = new TextDecoder().decode(sb.stdout).trim().split(";")[0];
    const log = `${out}/slurm/${jobId}_0.err`;
    try {
      // warned once: saved and requeued (restart 1); warned again: the bound is reached, the task ends
      // the node may be busy with other jobs: the first start may wait
      await waitForLine(log, "stand-in: started", 300_000);
      await scancel("--batch", "--signal=USR1", `${jobId}_0`);
      await waitForLine(log, "stand-in: started", 120_000, 2);
      await scancel("--batch", "--signal=USR1", `${jobId}_0`);
      await waitForJob(jobId, 120_000);
    } finally {
      await scancel(jobId).catch(() => {});
    }
    const loops = await textOf(log), fails = await textOf(`${out}/slurm/${jobId}_1.err`);
    assertEquals(loops.split("stand-in: saved").length - 1, 2, loops);
    assertEquals(loops.split("requeueing").length - 1, 1, loops);
    assert(loops.includes("reached the time limit after 1 requeues (at most 1)"), loops);
    assert(fails.includes("fails on its own") && fails.includes("restart 0"), fails);
    assert(!fails.includes("requeueing") && !fails.includes("restart 1"), fails);
    // Slurm's own word (finished jobs stay in its memory MinJobAge seconds): both failed, once requeued
    const show = async (task: number) =>
      new TextDecoder().decode(
        (await new Deno.Command("scontrol", { args: ["show", "job", `${jobId}_${task}`], stdout: "piped" })
          .output()).stdout,
      );
    const [s0, s1] = [await show(0), await show(1)];
    assert(/JobState=FAILED/.test(s0) && /Restarts=1\b/.test(s0) && /ExitCode=143:0/.test(s0), s0);
    assert(/JobState=FAILED/.test(s1) && /Restarts=0\b/.test(s1) && /ExitCode=3:0/.test(s1), s1);
  },
});
