// `deno task runs`: squeue's output parsed, the experiments read back from a script's names line, the
// table from a canned queue beside a store (a task's run matched by its slurmJob, a task with no run yet,
// the store's runs that left the queue), `--job`, the note where Slurm cannot be asked, and once on the
// local cluster (.ci/cluster.sh start): a job array's running and pending tasks with their experiments.

import { runCli } from "../run_cli.ts";
import { assert, assertEquals, assertThrows } from "../data/assert.ts";
import { ResultsStore } from "../../lib/results/store.ts";
import { renderSbatch, shellQuote } from "../../lib/cluster/sbatch.ts";
import { parseNamesLine, parseSqueue, type QueueTask, splitTaskId } from "../../lib/cluster/squeue.ts";
import { formatRunsTable, runsRows } from "../../lib/cluster/runs-table.ts";
import { scancel, slurmMissing } from "./slurm.ts";

const missing = await slurmMissing();
if (missing) console.log(`skip: tests/cluster/runs_test.ts (the local-cluster test): ${missing}`);
const dir = await Deno.makeTempDir({ prefix: "vifi-runs-" });
const SEP = "\x1f";

Deno.test("squeue's lines, task ids and a script's names line are read back", () => {
  const text = [
    ["51_0", "RUNNING", "1:02", "None", "/o/slurm/vifi-a.sbatch", "vifi-a"],
    ["51_1", "PENDING", "0:00", "JobArrayTaskLimit", "/o/slurm/vifi-a.sbatch", `name${SEP}with sep`],
    ["52", "PENDING", "0:00", "Resources", "/x/job.sh", "plain"],
  ].map((f) => f.join(SEP)).join("\n") + "\n";
  const tasks = parseSqueue(text);
  assertEquals(tasks.map((t) => [t.id, t.state, t.reason, t.jobName]), [
    ["51_0", "RUNNING", "None", "vifi-a"],
    ["51_1", "PENDING", "JobArrayTaskLimit", `name${SEP}with sep`],
    ["52", "PENDING", "Resources", "plain"],
  ]);
  assertThrows(() => parseSqueue(`51_0${SEP}RUNNING`), "squeue printed a line");
  assertEquals(splitTaskId("51_3"), ["51", 3]);
  assertEquals(splitTaskId("52"), ["52", undefined]);
  const names = ["a b", "it's", `q"#$x`, "'", "", "back\\slash"];
  assertEquals(parseNamesLine(`names=(${names.map(shellQuote).join(" ")})`), names);
  assertEquals(parseNamesLine("name=('a')"), undefined);
  assertEquals(parseNamesLine("names=(a b)"), undefined);
});

/** A store with: task 60_0 running (2 steps), 59_1 done (best 55), 59_0 interrupted, and a local run. */
function cannedStore(path: string): ResultsStore {
  const s = ResultsStore.open(path);
  const run = (experiment: string, slurmJob: string | null, epochs = 3) =>
    s.startRun({
      experiment,
      protocol: { kind: "custom" },
      variant: "both",
      config: { train: { epochs } },
      seed: 1,
      device: "test",
      slurmJob,
    });
  const old = run("b", "59_0");
  s.finishRun(old, { status: "interrupted" });
  const done = run("c", "59_1", 2);
  s.logSteps(done, [{ step: 0, epoch: 0, loss: 2.5, lr: 0 }, { step: 1, epoch: 1, loss: 1.25, lr: 0 }]);
  s.logEpoch(done, { epoch: 1, trainLoss: 1.25, valTop1: 55 });
  s.finishRun(done, { status: "done", metrics: { best: { epoch: 1, top1: 55.5 } } });
  run("local", null);
  const live = run("a", "60_0");
  s.logSteps(live, [{ step: 0, epoch: 0, loss: 3, lr: 0 }, { step: 4, epoch: 1, loss: 2.125, lr: 0 }]);
  return s;
}

const task = (id: string, state: string): QueueTask => ({
  id,
  state,
  time: "0:00",
  reason: "None",
  script: "/o/vifi-x.sbatch",
  jobName: "vifi-x",
});

Deno.test("the runs table: the queue's tasks beside their runs, then the store's other runs", async () => {
  const s = cannedStore(`${dir}/canned.db`);
  try {
    const queue = [task("60_1", "PENDING"), task("60_0", "RUNNING"), task("61", "PENDING")];
    const names = (script: string) => Promise.resolve(script === "/o/vifi-x.sbatch" ? ["a", "z"] : undefined);
    const rows = await runsRows(s, queue, { names });
    const brief = rows.map((r) => [r.experiment, r.slurm, r.status, r.epoch, r.lastLoss, r.bestTop1, r.job]);
    assertEquals(brief, [
      ["a", "RUNNING", "running", "2/3", 2.125, null, "60_0"],
      ["z", "PENDING", null, null, null, null, "60_1"],
      ["vifi-x", "PENDING", null, null, null, null, "61"],
      ["local", null, "running", null, null, null, null],
      ["c", null, "done", "2/2", 1.25, 55.5, "59_1"],
      ["b", null, "interrupted", null, null, null, "59_0"],
    ]);
    assertEquals(rows[0].runId, 4);
    const job59 = await runsRows(s, queue, { jobId: "59", names });
    assertEquals(job59.map((r) => `${r.experiment}:${r.status}`), ["c:done", "b:interrupted"]);
    assertEquals((await runsRows(s, queue, { recent: 1, names })).length, 4);
    assertEquals(formatRunsTable(rows.slice(0, 2)).split("\n"), [
      "experiment  slurm    status   epoch  last loss  best top-1  run  job",
      "a           RUNNING  running  2/3    2.1250     -           4    60_0",
      "z           PENDING  -        -      -          -           -    60_1",
    ]);
  } finally {
    s.close();
  }
});

Deno.test("runs without Slurm: the store's runs, and a note that Slurm is not reachable", async () => {
  cannedStore(`${dir}/alone.db`).close();
  const empty = await Deno.makeTempDir({ prefix: "vifi-nopath-" });
  const cli = new URL("../../lib/cli/runs.ts", import.meta.url).pathname;
  const r = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", cli, "--db", `${dir}/alone.db`],
    env: { PATH: empty },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const [out, err] = [r.stdout, r.stderr].map((b) => new TextDecoder().decode(b));
  assertEquals(r.code, 0, err);
  assert(err.includes("note: Slurm is not reachable (squeue cannot run"), err);
  const lines = out.trim().split("\n");
  assert(lines[0].startsWith("experiment  slurm"), out);
  assert(lines.some((l) => /^c\s+-\s+done\s+2\/2\s+1\.2500\s+55\.50\s+2\s+59_1$/.test(l)), out);
  const bad = await runCli("runs", "--job", "12x");
  assertEquals(bad.code, 2, bad.err);
  assert(bad.err.includes("--job must be a Slurm job id"), bad.err);
});

Deno.test({
  name: "runs on the local cluster: a job array's running and pending tasks, by experiment",
  ignore: missing !== undefined,
  async fn() {
    const bin = `${dir}/sleeper.sh`;
    await Deno.writeTextFile(bin, "#!/bin/bash\ntrap 'exit 143' TERM\nwhile :; do sleep 0.2; done\n");
    await Deno.chmod(bin, 0o755);
    const script = `${dir}/slurm/runs.sbatch`;
    await Deno.mkdir(`${dir}/slurm`, { recursive: true });
    await Deno.writeTextFile(
      script,
      renderSbatch({
        jobName: "vifi-runs-test",
        experimentFile: `${dir}/none.exp.ts`,
        names: ["first one", "second's"],
        outputDir: dir,
        cwd: dir,
        deno: bin,
        trainScript: `${dir}/train.ts`,
        trainArgs: [],
      }, { gpusPerTask: 0, extraArgs: [], maxRequeues: 0, maxParallel: 1 }),
    );
    const sb = await new Deno.Command("sbatch", { args: ["--parsable", script], stdout: "piped" }).output();
    assert(sb.success, "sbatch failed");
    const jobId = new TextDecoder().decode(sb.stdout).trim().split(";")[0];
    try {
      // until the first task runs (the node may be busy with other jobs); the second waits (%1)
      let rows: { experiment: string; slurm: string; job: string }[] = [];
      const t0 = Date.now();
      do {
        const r = await runCli("runs", "--job", jobId, "--json", "--db", `${dir}/none.db`);
        assertEquals(r.code, 0, r.err);
        rows = JSON.parse(r.out);
        if (rows[0]?.slurm === "RUNNING") break;
        await new Promise((res) => setTimeout(res, 300));
      } while (Date.now() - t0 < 300_000);
      assertEquals(rows.map((r) => [r.experiment, r.slurm, r.job]), [
        ["first one", "RUNNING", `${jobId}_0`],
        ["second's", "PENDING", `${jobId}_1`],
      ]);
      // --watch redraws until every task it listed has left the queue, then stops by itself
      const cli = new URL("../../lib/cli/runs.ts", import.meta.url).pathname;
      const watch = new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", cli, "--watch", "--interval", "0.2", "--job", jobId, "--db", `${dir}/none.db`],
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      await new Promise((res) => setTimeout(res, 1000));
      await scancel(jobId);
      const w = await watch.output();
      const text = new TextDecoder().decode(w.stdout);
      assertEquals(w.code, 0, new TextDecoder().decode(w.stderr));
      const tables = text.trim().split("\n\n");
      assert(tables.length >= 2 && tables[0].includes("RUNNING"), text);
      assertEquals(tables.at(-1), "no Slurm task queued and no run in the store", text);
    } finally {
      await scancel(jobId).catch(() => {});
    }
  },
});
