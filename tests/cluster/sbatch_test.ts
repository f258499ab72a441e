// The sweep's sbatch script: the exact text for a plain 3-experiment sweep, quoting that survives both
// sbatch's own #SBATCH parser and bash (names and paths with spaces, quotes, `#`, `%`, `$`), and the
// one-line refusals of bad options. tests/cluster/submit_test.ts runs such a script on a real cluster.

import { assertEquals, assertThrows } from "../data/assert.ts";
import {
  parseTimeLimit,
  renderSbatch,
  sbatchValue,
  shellQuote,
  type SlurmOptions,
  type SweepJob,
} from "../../lib/cluster/sbatch.ts";

const sweep: SweepJob = {
  jobName: "base-to-novel",
  experimentFile: "/lab/vifi/experiments/base-to-novel.exp.ts",
  names: ["k400-s1", "k400-s2", "hmdb-s1"],
  outputDir: "/shared/runs/b2n",
  cwd: "/lab/vifi",
  deno: "/opt/deno/bin/deno",
  trainScript: "/lab/vifi/lib/cli/train.ts",
  trainArgs: ["--db", "postgres://lab@db:5432/vifi"],
};
const options: SlurmOptions = {
  partition: "gpu",
  gpusPerTask: 1,
  time: "12:00:00",
  maxParallel: 2,
  account: "vision-lab",
  extraArgs: ["--qos=normal", "--exclusive"],
  maxRequeues: 5,
};

Deno.test("a 3-experiment sweep: the whole script", () => {
  const expected = `#!/bin/bash
#SBATCH --job-name="base-to-novel"
#SBATCH --array=0-2%2
#SBATCH --ntasks=1
#SBATCH --partition=gpu
#SBATCH --account=vision-lab
#SBATCH --gpus-per-task=1
#SBATCH --time=12:00:00
#SBATCH --signal=B:USR1@120
#SBATCH --requeue
#SBATCH --chdir="/lab/vifi"
#SBATCH --output="/shared/runs/b2n/slurm/%A_%a.out"
#SBATCH --error="/shared/runs/b2n/slurm/%A_%a.err"
#SBATCH --open-mode=append
#SBATCH --qos="normal"
#SBATCH --exclusive
# vifi: 3 experiment(s) of /lab/vifi/experiments/base-to-novel.exp.ts, one array task each
set -uo pipefail
names=('k400-s1' 'k400-s2' 'hmdb-s1')
name="\${names[$SLURM_ARRAY_TASK_ID]}"
max_requeues=5
restarts="\${SLURM_RESTART_COUNT:-0}"
export INIT_CWD='/lab/vifi'
cd '/lab/vifi' || exit 1
echo "vifi: array task $SLURM_ARRAY_TASK_ID ($name), job $SLURM_JOB_ID, restart $restarts, on $(hostname) at $(date +%s.%3N)" >&2
'/opt/deno/bin/deno' 'run' '-A' '/lab/vifi/lib/cli/train.ts' '/lab/vifi/experiments/base-to-novel.exp.ts' \
--only "$name" --exact --continue '--db' 'postgres://lab@db:5432/vifi' &
child=$!
usr1=0
trap 'usr1=1; kill -TERM "$child" 2>/dev/null' USR1
trap 'kill -TERM "$child" 2>/dev/null' TERM
while kill -0 "$child" 2>/dev/null; do wait "$child"; done
wait "$child"
status=$?
if [ "$usr1" = 1 ]; then
  if [ "$restarts" -lt "$max_requeues" ]; then
    echo "vifi: $name saved before the time limit (exit $status); requeueing" >&2
    scontrol requeue "$SLURM_JOB_ID" && exit 0
  fi
  echo "vifi: $name reached the time limit after $restarts requeues (at most $max_requeues)" >&2
fi
exit "$status"
`;
  // the long command line is split in the literal above only to stay within the line width
  assertEquals(renderSbatch(sweep, options), expected.replace(" \\\n--only", " --only"));
});

Deno.test("no partition, account, time, GPUs or throttle: those lines are left out", () => {
  const s = renderSbatch({ ...sweep, names: ["only"] }, { gpusPerTask: 0, extraArgs: [], maxRequeues: 0 });
  const head = s.split("\n").filter((l) => l.startsWith("#SBATCH"));
  assertEquals(head.slice(0, 5), [
    '#SBATCH --job-name="base-to-novel"',
    "#SBATCH --array=0-0",
    "#SBATCH --ntasks=1",
    "#SBATCH --signal=B:USR1@120",
    "#SBATCH --requeue",
  ]);
  assertEquals(head.length, 9);
});

Deno.test("names and paths with spaces, quotes, # and %: quoted for sbatch and for bash", () => {
  const dir = `/data/my runs/it's "x" #2 50%`;
  const s = renderSbatch(
    { ...sweep, jobName: `a "b" #c`, names: ["a b", "it's", 'q"#$x'], outputDir: dir, cwd: dir },
    { gpusPerTask: 0, extraArgs: ["--comment=one # two"], maxRequeues: 1 },
  );
  const lines = s.split("\n");
  const line = (p: string) => lines.find((l) => l.startsWith(p));
  assertEquals(line("#SBATCH --job-name"), '#SBATCH --job-name="a \\"b\\" \\#c"');
  assertEquals(
    line("#SBATCH --output"),
    `#SBATCH --output="/data/my runs/it's \\"x\\" \\#2 50%%/slurm/%A_%a.out"`,
  );
  assertEquals(line("#SBATCH --chdir"), `#SBATCH --chdir="/data/my runs/it's \\"x\\" \\#2 50%"`);
  assertEquals(line("#SBATCH --comment"), '#SBATCH --comment="one \\# two"');
  assertEquals(line("names="), `names=('a b' 'it'\\''s' 'q"#$x')`);
  assertEquals(line("cd "), `cd '/data/my runs/it'\\''s "x" #2 50%' || exit 1`);
});

Deno.test("quoting helpers round-trip through bash", async () => {
  const odd = [`it's`, `"dq" $HOME \`x\` \\ #`, "a\tb", ""];
  for (const v of odd) {
    const out = await new Deno.Command("bash", { args: ["-c", `printf %s ${shellQuote(v)}`] }).output();
    assertEquals(new TextDecoder().decode(out.stdout), v);
  }
  assertEquals(sbatchValue('a"b\\c#d', "x"), '"a\\"b\\\\c\\#d"');
});

Deno.test("time limits", () => {
  assertEquals(parseTimeLimit("12:00:00"), 43200);
  assertEquals(parseTimeLimit("1-02:03:04"), 93784);
  assertEquals(parseTimeLimit("0:02:01"), 121);
});

Deno.test("refusals: one line naming the option", () => {
  const bad: [Partial<SlurmOptions>, RegExp][] = [
    [{ partition: "gpu a" }, /^--partition must be/],
    [{ account: "a;b" }, /^--account must be/],
    [{ gpusPerTask: -1 }, /^--gpus-per-task must be an integer >= 0/],
    [{ gpusPerTask: 1.5 }, /^--gpus-per-task/],
    [{ maxParallel: 0 }, /^--max-parallel must be an integer >= 1/],
    [{ maxRequeues: -1 }, /^--max-requeues/],
    [{ time: "90" }, /^--time must be HH:MM:SS/],
    [{ time: "01:60:00" }, /^--time has minutes or seconds over 59/],
    [{ time: "00:02:00" }, /^--time must be over 120 s/],
    [{ extraArgs: ["qos=high"] }, /^--sbatch-arg must be --name=value/],
    [{ extraArgs: ["--array=0-9"] }, /^--sbatch-arg --array=0-9: vifi sets --array itself/],
    [{ extraArgs: ["-o", "x"] }, /^--sbatch-arg -o: vifi sets --output itself/],
    [{ extraArgs: ["--no-requeue"] }, /vifi sets --no-requeue itself/],
    [{ extraArgs: ["--comment=a\nb"] }, /^--sbatch-arg has a line break/],
  ];
  for (const [o, re] of bad) {
    const e = assertThrows(() => renderSbatch(sweep, { ...options, ...o }), "");
    const msg = (e as Error).message;
    assertEquals(re.test(msg) && !msg.includes("\n"), true, msg);
  }
  const badSweep: [Partial<SweepJob>, RegExp][] = [
    [{ outputDir: "runs/b2n" }, /^--output must be an absolute path/],
    [{ outputDir: "~/runs" }, /^--output must be an absolute path/],
    [{ outputDir: "/a\\b" }, /^--output has a backslash/],
    [{ experimentFile: "experiments/x.exp.ts" }, /experiment file\) must be an absolute path/],
    [{ names: [] }, /^--slurm has no experiment/],
    [{ names: ["a", "a"] }, /^--slurm: |two experiments of the sweep are named "a"/],
    [{ names: ["a\nb"] }, /cannot submit an experiment named/],
  ];
  for (const [s, re] of badSweep) {
    const e = assertThrows(() => renderSbatch({ ...sweep, ...s }, options), "");
    assertEquals(re.test((e as Error).message), true, (e as Error).message);
  }
});
