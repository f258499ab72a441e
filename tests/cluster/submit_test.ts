// `deno task train FILE --slurm` without a cluster: the script printed by --dry-run after the data check,
// usage errors, and a submission through a stand-in sbatch (what reaches it, what stays out of the
// script). A real sweep on the local cluster is sweep_test.ts; the time-limit warning and requeue,
// requeue_test.ts.

import { runCli } from "../run_cli.ts";
import { assert, assertEquals } from "../data/assert.ts";
import { exists, tinyExperiment } from "./slurm.ts";

const dir = await Deno.makeTempDir({ prefix: "vifi-slurm-" });
const data = `${dir}/data`;

let made = false;
/** The synthetic videos (tiny) and a sweep of two one-epoch runs of a random tiny model over them. */
async function sweepFile(train: Record<string, unknown> = {}, tag = "sweep"): Promise<string> {
  if (!made) {
    const r = await runCli("synthetic", data, "--clips-per-class", "1", "--frames", "4", "--size", "32");
    assert(r.code === 0, r.err);
    made = true;
  }
  const member = (name: string, seed: number) => tinyExperiment(data, name, seed, train);
  const file = `${dir}/${tag}.exp.ts`;
  await Deno.writeTextFile(
    file,
    `export default ${JSON.stringify([member("tiny", 1), member("tiny-b", 2)])};\n`,
  );
  return file;
}

Deno.test("train --slurm --dry-run: the data is checked, then the job array's script is printed", async () => {
  const file = await sweepFile();
  const r = await runCli(
    "train",
    file,
    "--slurm",
    "--dry-run",
    "--output",
    `${dir}/runs`,
    "--max-parallel",
    "1",
  );
  assertEquals(r.code, 0, r.err);
  const lines = r.out.split("\n");
  assert(lines[0] === "#!/bin/bash", r.out);
  assert(lines.includes("#SBATCH --array=0-1%1"), r.out);
  assert(lines.includes(`#SBATCH --output="${dir}/runs/slurm/%A_%a.out"`), r.out);
  assert(lines.includes("#SBATCH --gpus-per-task=1"), r.out);
  assert(lines.includes("names=('tiny' 'tiny-b')"), r.out);
  const run = lines.find((l) => l.includes("--only"))!;
  for (
    const part of [`'${file}'`, `'--db' '${Deno.cwd()}/`, `'--output' '${dir}/runs'`, "--exact --continue"]
  ) {
    assert(run.includes(part), `${part} not in ${run}`);
  }
  // nothing was written or submitted
  assert(!(await exists(`${dir}/runs/slurm`)), "a dry run wrote the script");

  const list = (await Deno.readTextFile(`${data}/base_train.txt`)).trim().split("\n");
  const gone = list[0].split(" ")[0];
  await Deno.rename(`${data}/${gone}`, `${data}/${gone}.away`);
  try {
    const bad = await runCli("train", file, "--slurm", "--dry-run");
    assertEquals(bad.code, 1, bad.err);
    assert(bad.err.includes(gone) && !bad.out.includes("#!/bin/bash"), bad.err + bad.out);
    assert(bad.err.includes("nothing was submitted"), bad.err);
  } finally {
    await Deno.rename(`${data}/${gone}.away`, `${data}/${gone}`);
  }
});

Deno.test("train --slurm: usage errors name the option", async () => {
  const file = await sweepFile();
  const cases: [string[], number, string][] = [
    [["--partition", "gpu"], 2, "--partition needs --slurm"],
    [["--slurm", "--dry-run", "--max-parallel", "0"], 2, "--max-parallel"],
    [["--slurm", "--dry-run", "--time", "1:00"], 1, "--time must be HH:MM:SS"],
    [["--slurm", "--dry-run", "--sbatch-arg=--array=1"], 1, "vifi sets --array itself"],
    [["--exact"], 2, "--exact needs --only"],
  ];
  for (const [args, code, text] of cases) {
    const r = await runCli("train", file, ...args);
    assertEquals(r.code, code, `${args.join(" ")}: ${r.err}`);
    assert(r.err.includes(text), `${args.join(" ")}: ${r.err}`);
  }
});

Deno.test("train --slurm: a postgres:// password stays out of the script and reaches sbatch as PGPASSWORD", async () => {
  const { splitPassword } = await import("../../lib/cli/train-slurm.ts");
  assertEquals(splitPassword("postgres://vifi:s3cr%2Ft@db.lab:5432/runs"), {
    url: "postgres://vifi@db.lab:5432/runs",
    password: "s3cr/t",
  });
  assertEquals(splitPassword("postgresql://db.lab/runs?password=pw&sslmode=require"), {
    url: "postgresql://db.lab/runs?sslmode=require",
    password: "pw",
  });
  assertEquals(splitPassword("postgres://vifi@db.lab/runs"), {
    url: "postgres://vifi@db.lab/runs",
    password: undefined,
  });

  // a stand-in sbatch on PATH records what it was given: the script, and PGPASSWORD from its environment
  const file = await sweepFile();
  const bin = `${dir}/fake-bin`;
  await Deno.mkdir(bin, { recursive: true });
  await Deno.writeTextFile(
    `${bin}/sbatch`,
    `#!/bin/bash\nprintf '%s' "$PGPASSWORD" > '${bin}/pgpassword'\ncp "$2" '${bin}/script'\necho 4242\n`,
  );
  await Deno.chmod(`${bin}/sbatch`, 0o755);
  const db = "postgres://vifi:s3cr%2Ft@db.lab:5432/runs";
  const cli = new URL("../../lib/cli/train.ts", import.meta.url).pathname;
  const r = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", cli, file, "--slurm", "--db", db, "--output", `${dir}/pw-runs`],
    env: { PATH: `${bin}:${Deno.env.get("PATH")}` },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  assertEquals(r.code, 0, dec.decode(r.stderr));
  assertEquals(dec.decode(r.stdout).trim(), "4242");
  const script = await Deno.readTextFile(`${bin}/script`);
  assert(script.includes("'--db' 'postgres://vifi@db.lab:5432/runs'"), script);
  assert(!script.includes("s3cr"), "the password was written into the script");
  assertEquals(await Deno.readTextFile(`${bin}/pgpassword`), "s3cr/t");
});
