// The train / eval / demo commands as processes: --dry-run JSON, --check-data, the demo end to end on a
// small synthetic set with the results store and leaderboard, Ctrl-C, SIGTERM and a second signal
// during training, a folder another run owns, usage errors.

import { expect } from "./fixture.ts";
import { runCliEnv } from "../run_cli.ts";
import { readCheckpoint } from "../../lib/train/checkpoint.ts";

const dir = await Deno.makeTempDir({ prefix: "vifi-train-cli-" });
const exp = new URL("../../experiments/synthetic.exp.ts", import.meta.url).pathname;
const db = `${dir}/results.db`;
/** added to this file's child processes' environment (not Deno.env: see runCliEnv) */
const env: Record<string, string> = {};
const runCli = (name: string, ...args: string[]) => runCliEnv(env, name, ...args);

/** One factor breakdown: each factor right at least as often as the whole class (a right class has all three). */
function expectFactors(f: Record<string, number>, top1: number, what: string) {
  for (const factor of ["colour", "shape", "motion"]) {
    expect(f[factor] >= top1 - 1e-9 && f[factor] <= 100, `${what} ${factor} ${f[factor]} vs top-1 ${top1}`);
  }
  expect(f.videos > 0, `${what}: factors over ${f.videos} videos`);
}

const demoArgs = (...more: string[]): [string, ...string[]] => [
  "demo",
  "--dir",
  `${dir}/demo`,
  "--pretrain-steps",
  "6",
  "--epochs",
  "2",
  "--clips-per-class",
  "3",
  "--db",
  db,
  "--json",
  ...more,
];

Deno.test("demo: pretraining, zero-shot and fine-tuned rows, stored runs, leaderboard; the cache on a second run", async () => {
  env.VIFI_CACHE = `${dir}/cache`;
  const r = await runCli(...demoArgs());
  expect(r.code === 0, `demo exited ${r.code}: ${r.err}`);
  const out = JSON.parse(r.out);
  const { pretrain, zeroShot, fineTuned } = out.runs;
  expect([pretrain, zeroShot, fineTuned].every(Number.isInteger), `run ids: ${r.out}`);
  expect(out.cached === false && out.weights.startsWith(`${dir}/cache/demo/`), r.out);
  for (const row of ["zeroShot", "fineTuned"]) {
    const { base, novel, hm, factors } = out[row];
    expect(base >= 0 && base <= 100 && novel >= 0 && novel <= 100, `${row}: ${base} / ${novel}`);
    expect(
      Math.abs(hm - (base + novel > 0 ? 2 * base * novel / (base + novel) : 0)) < 1e-9,
      `${row} HM ${hm}`,
    );
    expectFactors(factors.base, base, `${row} base`);
    expectFactors(factors.novel, novel, `${row} novel`);
  }
  // both models in the base-to-novel leaderboard: frozen (zero-shot) and fine-tuned (vifi)
  const rows = out.leaderboard.map((row: { variant: string; metric: string }) =>
    `${row.variant} ${row.metric}`
  );
  expect(
    JSON.stringify(rows.sort()) ===
      JSON.stringify(["frozen base", "frozen hm", "frozen novel", "vifi base", "vifi hm", "vifi novel"]),
    `leaderboard rows ${rows}`,
  );
  const files = [...Deno.readDirSync(`${dir}/demo/train`)].map((e) => e.name);
  expect(files.includes("last.safetensors") && files.includes("best.safetensors"), files.join());
  const lb = await runCli("leaderboard", "--db", db, "--json");
  expect(lb.code === 0, lb.err);
  expect(lb.out.includes("synthetic"), lb.out);
  // the stored checkpoint evaluates with `eval --weights`, and gives the same base accuracy
  env.VIFI_SYNTHETIC_DIR = `${dir}/demo/data`;
  env.VIFI_SYNTHETIC_WEIGHTS = out.weights;
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
  expect(Math.abs(evals.find((e) => e.name === "base")!.top1 - out.fineTuned.base) < 1e-9, ev.out);
  // a second demo loads the pretrained file from the cache: no pretrain run, the same zero-shot row
  const again = await runCli(...demoArgs());
  expect(again.code === 0, `second demo exited ${again.code}: ${again.err}`);
  const second = JSON.parse(again.out);
  expect(
    second.cached === true && second.weights === out.weights && second.runs.pretrain === null,
    again.out,
  );
  expect(JSON.stringify(second.zeroShot) === JSON.stringify(out.zeroShot), `${again.out} vs ${r.out}`);
  // --fresh pretrains again, into the same cache file, and gives the same weights from the same seed
  const before = (await readCheckpoint(out.weights)).params;
  const fresh = await runCli(...demoArgs("--fresh", "--epochs", "1"));
  expect(fresh.code === 0, `--fresh exited ${fresh.code}: ${fresh.err}`);
  const third = JSON.parse(fresh.out);
  expect(third.cached === false && Number.isInteger(third.runs.pretrain), fresh.out);
  const after = (await readCheckpoint(out.weights)).params;
  expect(after.size === before.size && after.size > 0, `${after.size} vs ${before.size} tensors`);
  for (const [name, v] of before) {
    expect(after.get(name)!.every((x, i) => x === v[i]), `pretraining is not deterministic: ${name} differs`);
  }
});

Deno.test("train --dry-run prints the resolved experiment; --check-data names missing videos", async () => {
  const data = `${dir}/demo/data`;
  env.VIFI_SYNTHETIC_DIR = data;
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
  env.VIFI_SYNTHETIC_DIR = `${dir}/demo/data`;
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
    env,
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

/** An experiment on the demo's data reproducing a `worldSize`-device run, written as a module in `dir`. */
async function worldExperiment(name: string, train: Record<string, unknown>): Promise<string> {
  const data = `${dir}/demo/data`;
  const e = {
    name,
    model: { arch: "synthetic", variant: "both", tokenizer: "bytes", precision: "f32" },
    data: { root: data, frames: 8 },
    train: {
      list: `${data}/base_train.txt`,
      labels: `${data}/base_labels.csv`,
      lr: 1e-3,
      mixup: 0,
      cutmix: 0,
      colorJitter: 0,
      grayScale: 0,
      flip: 0,
      saveFreq: 10,
      ...train,
    },
    evals: [],
    output: `${dir}/${name}`,
  };
  const file = `${dir}/${name}.exp.ts`;
  await Deno.writeTextFile(file, `export default ${JSON.stringify(e)};\n`);
  return file;
}

/** timm's CosineLRScheduler as main.py builds it (warmup from 0, cosine not shifted, floor LR/100). */
function timmLr(t: number, lr: number, warmupIters: number, totalIters: number): number {
  const min = lr / 100;
  if (t < warmupIters) return (lr * t) / warmupIters;
  return min + 0.5 * (lr - min) * (1 + Math.cos((Math.PI * t) / totalIters));
}

Deno.test("train --dry-run: the effective batch, micro-batches per update and updates per epoch; --world-size", async () => {
  const file = await worldExperiment("world-dry", { batch: 2, effectiveBatch: 8, worldSize: 2 });
  const videos = (await Deno.readTextFile(`${dir}/demo/data/base_train.txt`)).trim().split("\n").length;
  const show = async (...flags: string[]) => {
    const r = await runCli("train", file, "--dry-run", ...flags);
    expect(r.code === 0, r.err);
    return JSON.parse(r.out).train;
  };
  const t = await show();
  // 2 ranks of ⌈videos / 2⌉ in batches of 2, an update every 2 of their iterations
  const upstream = (world: number, accumulation: number) =>
    Math.floor(Math.floor(Math.ceil(videos / world) / 2) / accumulation);
  expect(
    t.effectiveBatch === 8 && t.accumulation === 2 && t.microBatchesPerUpdate === 4 &&
      t.updatesPerEpoch === upstream(2, 2),
    JSON.stringify(t),
  );
  // four devices: the same effective batch from one accumulation step each
  const four = await show("--world-size", "4");
  expect(
    four.effectiveBatch === 8 && four.accumulation === 1 && four.worldSize === 4 &&
      four.updatesPerEpoch === upstream(4, 1),
    JSON.stringify(four),
  );
  const bad = await runCli("train", file, "--dry-run", "--world-size", "3");
  expect(bad.code === 1, `exit ${bad.code}`);
  const line = bad.err.trim();
  expect(!line.includes("\n") && line.includes(file) && line.includes("train.effectiveBatch"), bad.err);
  const zero = await runCli("train", file, "--dry-run", "--world-size", "0");
  expect(zero.code === 2 && zero.err.includes("--world-size"), zero.err);
});

Deno.test("train: with worldSize 2 the rate each micro-batch uses is the upstream's per-rank schedule", async () => {
  const file = await worldExperiment("world-run", {
    batch: 4,
    effectiveBatch: 16,
    worldSize: 2,
    epochs: 2,
    warmupEpochs: 1,
  });
  const r = await runCli("train", file, "--db", db, "--json");
  expect(r.code === 0, `train exited ${r.code}: ${r.err}`);
  const runId = JSON.parse(r.out).runId as number;
  const { ResultsStore } = await import("../../lib/results/store.ts");
  const store = ResultsStore.open(db, { recover: false });
  const rows = store.stepMetrics(runId);
  store.close();
  // upstream on 2 ranks: ⌈videos / 2⌉ each, iterations of 4 (drop_last), a step every 2, then
  // step_update(epoch·I + idx); the first update runs at the warmup's initial rate, 0
  const videos = (await Deno.readTextFile(`${dir}/demo/data/base_train.txt`)).trim().split("\n").length;
  const I = Math.floor(Math.ceil(videos / 2) / 4);
  const want: number[] = [];
  let lr = 0;
  for (let epoch = 0; epoch < 2; epoch++) {
    // one device: micro-batch m is rank m % 2's iteration ⌊m / 2⌋; the update after every 4
    for (let m = 0; m < Math.floor(videos / 4); m++) {
      want.push(lr);
      const idx = Math.floor(m / 2);
      if ((m + 1) % 4 === 0) lr = timmLr(epoch * I + idx, 1e-3, I, 2 * I);
    }
  }
  expect(rows.length === want.length, `${rows.length} steps, expected ${want.length}`);
  for (const [i, row] of rows.entries()) {
    expect(Math.abs(row.lr - want[i]) <= 1e-12 * 1e-3, `step ${i}: lr ${row.lr}, upstream ${want[i]}`);
  }
  expect(new Set(want).size > 3, "the schedule moved");
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
