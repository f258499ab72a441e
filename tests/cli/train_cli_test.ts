// The train / eval / demo commands as processes: --dry-run JSON, --check-data, the demo end to end on a
// small synthetic set with the results store and leaderboard, Ctrl-C, SIGTERM and a second signal
// during training, a folder another run owns, usage errors.

import { expect, runCli } from "./fixture.ts";

const dir = await Deno.makeTempDir({ prefix: "vifi-train-cli-" });
const exp = new URL("../../experiments/synthetic.exp.ts", import.meta.url).pathname;
const db = `${dir}/results.db`;

Deno.test("demo: synthetic data, training, base and novel evaluation, stored run, leaderboard", async () => {
  const r = await runCli(
    "demo",
    "--dir",
    `${dir}/demo`,
    "--epochs",
    "2",
    "--clips-per-class",
    "3",
    "--db",
    db,
    "--json",
  );
  expect(r.code === 0, `demo exited ${r.code}: ${r.err}`);
  const out = JSON.parse(r.out);
  expect(Number.isInteger(out.runId), `no run id: ${r.out}`);
  for (const k of ["base", "novel"]) {
    expect(out.evals[k] >= 0 && out.evals[k] <= 100, `${k} accuracy ${out.evals[k]}`);
  }
  const metrics = out.leaderboard.map((row: { metric: string }) => row.metric).sort();
  expect(JSON.stringify(metrics) === JSON.stringify(["base", "hm", "novel"]), `leaderboard rows ${metrics}`);
  const files = [...Deno.readDirSync(`${dir}/demo/train`)].map((e) => e.name);
  expect(files.includes("last.safetensors") && files.includes("best.safetensors"), files.join());
  const lb = await runCli("leaderboard", "--db", db, "--json");
  expect(lb.code === 0, lb.err);
  expect(lb.out.includes("synthetic"), lb.out);
  // the stored checkpoint evaluates with `eval --weights`, and gives the same base accuracy
  Deno.env.set("VIFI_SYNTHETIC_DIR", `${dir}/demo/data`);
  const ev = await runCli(
    "eval",
    exp,
    "--weights",
    `${dir}/demo/train/last.safetensors`,
    "--output",
    `${dir}/eval`,
    "--no-store",
    "--json",
  );
  expect(ev.code === 0, `eval exited ${ev.code}: ${ev.err}`);
  const evals = JSON.parse(ev.out).evals as { name: string; top1: number }[];
  expect(Math.abs(evals.find((e) => e.name === "base")!.top1 - out.evals.base) < 1e-9, ev.out);
});

Deno.test("train --dry-run prints the resolved experiment; --check-data names missing videos", async () => {
  const data = `${dir}/demo/data`;
  Deno.env.set("VIFI_SYNTHETIC_DIR", data);
  const r = await runCli("train", exp, "--dry-run");
  expect(r.code === 0, r.err);
  const j = JSON.parse(r.out);
  const text = JSON.stringify(j);
  for (const k of ["frames", "epochs", "lr", "batch", "accumulation", "mixup", "cutmix", "variant"]) {
    expect(text.includes(`"${k}"`), `dry-run JSON lacks ${k}: ${text}`);
  }
  expect(text.includes(`${data}/base_train.txt`), text);
  const ok = await runCli("train", exp, "--check-data");
  expect(ok.code === 0, ok.out + ok.err);
  const list = (await Deno.readTextFile(`${data}/base_train.txt`)).trim().split("\n");
  const gone = list[1].split(" ")[0];
  await Deno.rename(`${data}/${gone}`, `${data}/${gone}.away`);
  try {
    const bad = await runCli("train", exp, "--check-data");
    expect(bad.code === 1, `exit ${bad.code}`);
    expect(bad.out.includes(gone) && bad.out.includes("1 of"), bad.out);
  } finally {
    await Deno.rename(`${data}/${gone}.away`, `${data}/${gone}`);
  }
});

/** `train` as a process into `out`; once steps run, `signals` are sent one after another, each once the last was heard. */
async function trainAndSignal(out: string, signals: Deno.Signal[]): Promise<{ code: number; err: string }> {
  Deno.env.set("VIFI_SYNTHETIC_DIR", `${dir}/demo/data`);
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      new URL("../../lib/cli/train.ts", import.meta.url).pathname,
      exp,
      "--output",
      out,
      "--db",
      db,
    ],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const dec = new TextDecoder();
  let err = "";
  const reader = child.stderr.getReader();
  // the first epoch's progress line means steps are running
  while (!/epoch 1\/\d+ \[/.test(err)) {
    const { value, done } = await reader.read();
    if (done) break;
    err += dec.decode(value);
  }
  for (const [i, s] of signals.entries()) {
    child.kill(s);
    // the next signal once this one is heard, so they arrive in order
    while (i < signals.length - 1 && !err.includes(`${s}: finishing`)) {
      const { value, done } = await reader.read();
      if (done) break;
      err += dec.decode(value);
    }
  }
  const rest = (async () => {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      err += dec.decode(value);
    }
  })();
  const status = await child.status;
  await rest;
  await child.stdout.cancel();
  return { code: status.code, err };
}

/** the status of the newest run of the demo experiment, read without the store's own recovery */
async function newestStatus(): Promise<string> {
  const { ResultsStore } = await import("../../lib/results/store.ts");
  const store = ResultsStore.open(db, { recover: false });
  const [run] = store.listRuns({ experiment: "synthetic-b2n", limit: 1 });
  store.close();
  return run.status;
}

Deno.test("train: Ctrl-C finishes the step, saves last.safetensors, marks the run interrupted, exits 130", async () => {
  const out = `${dir}/interrupted`;
  const r = await trainAndSignal(out, ["SIGINT"]);
  expect(r.code === 130, `exit ${r.code}: ${r.err}`);
  expect((await Deno.stat(`${out}/last.safetensors`)).isFile, "no last checkpoint");
  const lb = await runCli("leaderboard", "--db", db, "--json");
  expect(lb.code === 0, lb.err);
  expect((await newestStatus()) === "interrupted", await newestStatus());
  // a new run into that folder would write over the interrupted run's checkpoints: one line, exit 1
  const again = await runCli("train", exp, "--output", out, "--db", db);
  const lines = again.err.trim().split("\n");
  const line = lines.at(-1)!;
  expect(again.code === 1, `exit ${again.code}: ${again.err}`);
  // the error is the last line, after the one saying what was about to start; no stack trace
  expect(lines.length <= 2 && line.startsWith("error: the output folder "), again.err);
  expect(line.includes(out) && line.includes("--resume") && line.includes("--continue"), line);
});

Deno.test("train: SIGTERM behaves as Ctrl-C (saves, marks interrupted) and exits 143", async () => {
  const out = `${dir}/terminated`;
  const r = await trainAndSignal(out, ["SIGTERM"]);
  expect(r.code === 143, `exit ${r.code}: ${r.err}`);
  expect((await Deno.stat(`${out}/last.safetensors`)).isFile, "no last checkpoint");
  expect((await newestStatus()) === "interrupted", await newestStatus());
});

Deno.test("train: a second signal quits at once and still leaves the run marked interrupted, not running", async () => {
  const r = await trainAndSignal(`${dir}/twice`, ["SIGINT", "SIGINT"]);
  expect(r.code === 130, `exit ${r.code}: ${r.err}`);
  expect((await newestStatus()) === "interrupted", await newestStatus());
});

Deno.test("train / eval: usage errors exit 2 and say why", async () => {
  const none = await runCli("train");
  expect(none.code === 2 && none.err.includes("one experiment file"), none.err);
  const odd = await runCli("train", exp, "--opts", "TRAIN.LR");
  expect(odd.code === 2 && odd.err.includes("KEY VALUE"), odd.err);
  const w = await runCli("train", exp, "--weights", "x.pt");
  expect(w.code === 2 && w.err.includes("deno task eval"), w.err);
  const missing = await runCli("train", `${dir}/nope.exp.ts`, "--dry-run");
  expect(missing.code === 1 && missing.err.includes("nope.exp.ts"), missing.err);
});
