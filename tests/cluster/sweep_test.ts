// Issue 17's sweep: four tiny synthetic experiments (three seeds of base-to-novel and one custom) trained
// (a) as a Slurm job array on the local cluster (.ci/cluster.sh start) into a PostgreSQL database of this
// test's own, and (b) in this machine's one process into a SQLite file. Same code, same machine, same
// seeds: the PostgreSQL store must end with four runs done and the same leaderboard, every number equal
// (run ids and times aside), and the same loss at every step. The two sweeps run at once (both are mostly
// pipeline compiles, each task a process of its own), to keep the test near a minute and a half here.
// Skipped, with the reason printed, where `sinfo` fails or VIFI_TEST_POSTGRES is unset or unreachable.

import { runCli } from "../run_cli.ts";
import { assert, assertEquals } from "../data/assert.ts";
import { ResultsStore } from "../../lib/results/store.ts";
import { leaderboard, type LeaderboardRow } from "../../lib/results/leaderboard.ts";
import { freshPostgres, postgresMissing } from "../results/backends.ts";
import { exists, slurmMissing, tinyExperiment, waitForJob } from "./slurm.ts";

const here = "tests/cluster/sweep_test.ts";
const noSlurm = await slurmMissing();
const skip = noSlurm ?? postgresMissing() ?? undefined;
if (skip) console.log(`skip: ${here}: the Slurm → PostgreSQL sweep: ${skip}`);

// "b2n-s1-own" contains "b2n-s1": each task must run its own member only (--only NAME --exact), or the store
// would hold five runs
const NAMES = ["b2n-s1", "b2n-s1-own", "b2n-s2", "b2n-s3"];

/** Synthetic clips and a sweep file of four one-epoch runs of three train batches each. */
async function makeSweep(dir: string): Promise<string> {
  const data = `${dir}/data`;
  const r = await runCli("synthetic", data, "--clips-per-class", "2", "--frames", "4", "--size", "32");
  assert(r.code === 0, r.err);
  // 6 training clips (3 steps of 2) and 5 of each evaluation: the pipelines' compile is most of the time
  const head = async (from: string, to: string, n: number) => {
    const lines = (await Deno.readTextFile(`${data}/${from}`)).trim().split("\n");
    await Deno.writeTextFile(`${data}/${to}`, lines.slice(0, n).join("\n") + "\n");
  };
  await head("base_train.txt", "train6.txt", 6);
  await head("base_val.txt", "base5.txt", 5);
  await head("novel_val.txt", "novel5.txt", 5);
  const member = (name: string, protocol: Record<string, unknown>, seed: number) =>
    tinyExperiment(data, name, seed, { list: `${data}/train6.txt` }, {
      protocol,
      evals: [
        { name: "base", subset: "base", list: `${data}/base5.txt`, labels: `${data}/base_labels.csv` },
        { name: "novel", subset: "novel", list: `${data}/novel5.txt`, labels: `${data}/novel_labels.csv` },
      ],
    });
  const sweep = [
    ...[1, 2, 3].map((s) => member(`b2n-s${s}`, { kind: "base-to-novel", dataset: "synthetic", seed: s }, s)),
    member("b2n-s1-own", { kind: "custom" }, 4),
  ];
  const file = `${dir}/sweep.exp.ts`;
  await Deno.writeTextFile(file, `export default ${JSON.stringify(sweep)};\n`);
  return file;
}

/** A leaderboard row without what differs between two stores of the same results (run ids). */
const comparable = ({ runIds: _ids, ...rest }: LeaderboardRow) => rest;

/** Per experiment, what training and evaluation wrote: every step's loss and lr, each evaluation's scores. */
function outcomes(store: ResultsStore): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  // in name order: the two stores list their runs in the order they finished
  for (const r of store.listRuns().sort((a, b) => a.experiment.localeCompare(b.experiment))) {
    const detail = store.getRun(r.id)!;
    out[r.experiment] = {
      steps: store.stepMetrics(r.id).map((s) => [s.step, s.epoch, s.loss, s.lr]),
      evals: detail.evals.map((e) => [e.name, e.subset, e.top1, e.top5, e.count]).sort(),
    };
  }
  return out;
}

/** Each array task's submit and start times as slurmctld recorded them (whole seconds), by task index. */
async function taskTimes(jobId: string): Promise<Map<number, { submit: number; start: number }>> {
  const r = await new Deno.Command("scontrol", { args: ["-o", "show", "job", jobId], stdout: "piped" })
    .output();
  const times = new Map<number, { submit: number; start: number }>();
  for (const line of new TextDecoder().decode(r.stdout).split("\n")) {
    const field = (k: string) => line.match(new RegExp(`\\b${k}=(\\S+)`))?.[1];
    const task = field("ArrayTaskId");
    if (task === undefined || !/^\d+$/.test(task)) continue;
    // scontrol prints local time without a zone, as Date reads such a string
    times.set(Number(task), {
      submit: Date.parse(field("SubmitTime")!),
      start: Date.parse(field("StartTime")!),
    });
  }
  return times;
}

Deno.test({
  name: "a 4-experiment sweep through --slurm into PostgreSQL equals the same sweep run locally into SQLite",
  ignore: skip !== undefined,
  // the store's PostgreSQL worker is closed with the store
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "vifi-sweep-" });
    const pg = freshPostgres();
    try {
      const file = await makeSweep(dir);
      const t0 = Date.now();
      const local = (async () => {
        const r = await runCli("train", file, "--db", `${dir}/results.db`, "--output", `${dir}/local`);
        return { ...r, ms: Date.now() - t0 };
      })();
      const out = `${dir}/cluster`;
      const sub = await runCli(
        "train",
        file,
        "--slurm",
        "--gpus-per-task",
        "0",
        "--max-parallel",
        "2",
        "--output",
        out,
        "--db",
        pg.url,
      );
      assertEquals(sub.code, 0, sub.err);
      const jobId = sub.out.trim();
      assert(/^[0-9]+$/.test(jobId), sub.out);
      await waitForJob(jobId, 300_000);
      const clusterMs = Date.now() - t0;
      const loc = await local;
      assertEquals(loc.code, 0, loc.err);
      const logs = async () =>
        (await Promise.all(
          NAMES.map((_, i) => Deno.readTextFile(`${out}/slurm/${jobId}_${i}.err`).catch(() => "")),
        ))
          .join("\n---\n");

      const pgStore = ResultsStore.open(pg.url, { recover: false });
      const sqlite = ResultsStore.open(`${dir}/results.db`, { recover: false });
      try {
        const runs = pgStore.listRuns();
        assertEquals(
          runs.map((r) => `${r.experiment}:${r.status}`).sort(),
          NAMES.map((n) => `${n}:done`).sort(),
          await logs(),
        );
        // each task recorded the array task it ran as
        assertEquals(
          runs.map((r) => r.slurmJob).sort(),
          NAMES.map((_, i) => `${jobId}_${i}`),
          "runs.slurm_job",
        );
        // the script next to the outputs, and each member's own folder
        assert(await exists(`${out}/slurm/vifi-sweep.sbatch`), "no script next to the outputs");
        for (const n of NAMES) assert(await exists(`${out}/${n}/last.safetensors`), `${n}/last.safetensors`);
        const rows = leaderboard(pgStore).map(comparable);
        assertEquals(rows.length, 7, `leaderboard rows: ${JSON.stringify(rows)}`); // base, novel, HM; own × 2 evals × 2
        assert(rows.some((r) => r.protocol === "base-to-novel" && r.metric === "hm"), JSON.stringify(rows));
        assertEquals(rows, leaderboard(sqlite).map(comparable), "leaderboard from PostgreSQL vs SQLite");
        assertEquals(outcomes(pgStore), outcomes(sqlite), "losses and scores per experiment");

        // numbers for the README, not checks (the machine decides): submit → start → first step per task
        const times = await taskTimes(jobId);
        const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
        const per = runs.sort((a, b) => a.experiment.localeCompare(b.experiment)).map((r) => {
          const task = Number(r.slurmJob!.split("_")[1]);
          const t = times.get(task);
          const first = pgStore.stepMetrics(r.id)[0].time!;
          const slurm = t ? `submit→start ${s(t.start - t.submit)}, ` : "";
          return `${r.experiment} (task ${task}): ${slurm}start→run row ${
            t ? s(r.startedAt - t.start) : "?"
          }, →first step ${t ? s(first - t.start) : "?"}`;
        });
        console.log(
          `sweep of 4 (both sweeps at once on this machine): via Slurm (--max-parallel 2) into PostgreSQL ${
            s(clusterMs)
          } from submit to the queue empty; locally (one process) into SQLite ${s(loc.ms)}\n  ${
            per.join("\n  ")
          }`,
        );
      } finally {
        pgStore.close();
        sqlite.close();
      }
    } finally {
      pg.drop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
