// The training loop on a small synthetic dataset: accumulation equals one larger batch, a resumed run
// continues the loss curve bit for bit, Ctrl-C saves and marks the run interrupted, a failing file
// marks it failed, and what the store receives adds up.

import { assert, assertEquals } from "../data/assert.ts";
import { generateSynthetic } from "../../lib/data/synthetic.ts";
import { defineExperiment } from "../../lib/dsl/define.ts";
import { resolveExperiment } from "../../lib/dsl/resolve.ts";
import type { Experiment, ResolvedExperiment } from "../../lib/dsl/types.ts";
import { getRuntime } from "../../lib/gpu/runtime.ts";
import { clipConfig, initClipWeights } from "../../lib/models/config.ts";
import { ViFiClip } from "../../lib/models/vifi.ts";
import { ResultsStore } from "../../lib/results/store.ts";
import { Rng, sessionSeed } from "../../lib/selftest/rng.ts";
import { Tensor } from "../../lib/tensor/tensor.ts";
import { AdamW } from "../../lib/train/optimizer.ts";
import { CompiledStep } from "../../lib/train/step.ts";
import { runExperiment } from "../../lib/train/trainer.ts";

const seed = sessionSeed();
console.log(`trainer tests seed ${seed} (VIFI_SEED=${seed} to replay)`);

const dir = await Deno.makeTempDir({ prefix: "vifi-trainer-" });
const data = await generateSynthetic(`${dir}/data`, {
  seed: 3,
  clipsPerClass: 3,
  frames: 6,
  size: 32,
  colours: ["red", "green", "blue"],
  shapes: ["circle", "square"],
  motions: ["left", "up"],
});

function experiment(name: string, over: Partial<Experiment["train"]> = {}): Experiment {
  const d = `${dir}/data`;
  return defineExperiment({
    name,
    protocol: { kind: "base-to-novel", dataset: "synthetic", seed: 1 },
    model: { arch: "synthetic", variant: "both", tokenizer: "bytes", precision: "f32" },
    data: { root: d, frames: 2, workers: 1 },
    train: {
      list: `${d}/base_train.txt`,
      labels: `${d}/base_labels.csv`,
      epochs: 3,
      lr: 1e-3,
      batch: 4,
      warmupEpochs: 1,
      saveFreq: 2,
      ...over,
    },
    evals: [
      { name: "base", subset: "base", list: `${d}/base_val.txt`, labels: `${d}/base_labels.csv` },
      { name: "novel", subset: "novel", list: `${d}/novel_val.txt`, labels: `${d}/novel_labels.csv` },
    ],
    seed,
    output: `${dir}/runs/${name}`,
  });
}

function resolved(e: Experiment): Promise<ResolvedExperiment> {
  return resolveExperiment(e, { source: `${dir}/test.exp.ts`, cwd: dir });
}

Deno.test("accumulation: gradients of two half batches with targets / 2 sum to the whole batch's; the update plan applies and zeroes them", async () => {
  const rt = await getRuntime();
  const cfg = clipConfig("tiny");
  const weights = initClipWeights(cfg, seed, { randomNorms: true });
  const rng = new Rng(seed);
  const [B, T, C, R] = [3, 2, 4, cfg.vision.resolution];
  const per = B * T * 3 * R * R;
  const frames = Float32Array.from(rng.normals(2 * per));
  const labels = Array.from({ length: 2 * B }, () => rng.int(C));
  const targets = new Float32Array(2 * B * C).map((
    _,
    i,
  ) => (labels[Math.floor(i / C)] === i % C ? 0.9 : 0.1 / 3));
  const tokens = new Int32Array(C * cfg.text.context);
  for (let c = 0; c < C; c++) {
    tokens.set([cfg.text.vocab - 2, 10 + c, 20 + c, cfg.text.vocab - 1], c * cfg.text.context);
  }
  const gradsOf = async (m: ViFiClip) => {
    const out = new Map<string, Float32Array>();
    for (const p of m.trainable()) out.set(p.name, Float32Array.from(await p.gradBuffer().read()));
    return out;
  };

  const whole = ViFiClip.fromWeights(rt, cfg, weights, "both");
  const wholeOpt = new AdamW(whole.trainable());
  const fw = Tensor.from(rt, frames, [2 * B, T, 3, R, R]);
  const tw = Tensor.from(rt, targets, [2 * B, C]);
  const wholeGrads = await CompiledStep.compile(
    whole,
    wholeOpt,
    { frames: fw, tokens, classes: C, targets: tw },
    0,
    undefined,
    {
      parts: "gradients",
    },
  );
  const want = await gradsOf(whole);

  const split = ViFiClip.fromWeights(rt, cfg, weights, "both");
  const splitOpt = new AdamW(split.trainable());
  const fh = Tensor.from(rt, frames.subarray(0, per), [B, T, 3, R, R]);
  const th = Tensor.from(rt, targets.subarray(0, B * C).map((v) => v / 2), [B, C]);
  const batch = { frames: fh, tokens, classes: C, targets: th };
  const grads = await CompiledStep.compile(split, splitOpt, batch, 0, undefined, { parts: "gradients" });
  rt.write(fh.buffer, frames.subarray(per));
  rt.write(th.buffer, targets.subarray(B * C).map((v) => v / 2));
  await grads.run(0);
  const got = await gradsOf(split);
  let num = 0, den = 0;
  for (const [name, g] of want) {
    const h = got.get(name)!;
    for (let i = 0; i < g.length; i++) {
      num += (g[i] - h[i]) ** 2;
      den += g[i] ** 2;
    }
  }
  const rel = Math.sqrt(num / den);
  console.log(`  ‖Σ half-batch gradients − whole-batch gradient‖/‖whole‖ = ${rel.toExponential(2)}`);
  assert(den > 0 && rel < 1e-5, `accumulated gradients differ from the whole batch's: ${rel}`);
  assertEquals(splitOpt.step, 0);

  const update = await CompiledStep.compile(split, splitOpt, batch, 1e-3, undefined, { parts: "update" });
  assertEquals(splitOpt.step, 1);
  let moved = 0;
  for (const p of split.trainable()) {
    const v = await p.value.read();
    const w0 = weights.get(p.name)!.data;
    for (let i = 0; i < v.length; i++) if (v[i] !== w0[i]) moved++;
    assert(
      (await p.gradBuffer().read()).every((x) => x === 0),
      `${p.name}: gradient not zeroed by the update`,
    );
  }
  assert(moved > 1000, `only ${moved} parameter values moved`);
  for (const x of [wholeGrads, grads, update, fw, tw, fh, th]) x.dispose();
  wholeOpt.dispose();
  splitOpt.dispose();
  whole.dispose();
  split.dispose();
});

Deno.test("train → store: runs, steps, epochs, evals with per-class results, checkpoints", async () => {
  const rt = await getRuntime();
  const store = ResultsStore.open(`${dir}/results.db`);
  const exp = await resolved(experiment("full"));
  const lines: string[] = [];
  const r = await runExperiment(rt, exp, { recorder: store, log: (s) => lines.push(s) });
  assertEquals(r.status, "done");
  assertEquals(r.epochsRun, 3);
  const iters = Math.floor(
    data.clips.filter((c) => c.split === "train" && data.baseClasses.includes(c.label)).length / 4,
  );
  assertEquals(r.losses.length, 3 * iters);
  assert(r.losses.every(Number.isFinite), `losses ${r.losses}`);
  const run = store.getRun(r.runId!)!;
  assertEquals(run.status, "done");
  assertEquals(run.epochs.length, 3);
  // validation at epoch 0 (epoch % SAVE_FREQ == 0) and at the last epoch, not at epoch 1
  assertEquals(run.epochs.map((e) => e.valTop1 !== null), [true, false, true]);
  assertEquals(store.stepMetrics(r.runId!).length, 3 * iters);
  assertEquals(run.evals.map((e) => e.name).sort(), ["base", "novel"]);
  const base = run.evals.find((e) => e.name === "base")!;
  const detail = store.evalDetail(base.id)!;
  assertEquals(detail.perClass.length, data.baseClasses.length);
  assertEquals(detail.perClass.reduce((a, c) => a + c.total, 0), base.count);
  assertEquals(
    base.count,
    data.clips.filter((c) => c.split === "val" && data.baseClasses.includes(c.label)).length,
  );
  // the final validation is the "base" result on the final weights, reported once
  assertEquals(base.top1, run.epochs[2].valTop1);
  const kinds = run.checkpoints.map((c) => `${c.kind}@${c.epoch}`).sort();
  assert(kinds.includes("epoch@0") && kinds.includes("epoch@2") && kinds.includes("last@2"), kinds.join());
  for (const c of run.checkpoints) assert((await Deno.stat(c.path)).isFile, c.path);
  assertEquals(store.embeddings(base.id)!.n, base.count);
  store.close();
});

Deno.test("resume (continue) continues the loss curve bit for bit; Ctrl-C saves and says interrupted", async () => {
  const rt = await getRuntime();
  const straight = await runExperiment(rt, await resolved(experiment("straight", { saveFreq: 5 })));
  const store = ResultsStore.open(`${dir}/results.db`);
  const abort = new AbortController();
  let steps = 0;
  const first = await runExperiment(rt, await resolved(experiment("interrupted", { saveFreq: 5 })), {
    recorder: store,
    signal: abort.signal,
    onProgress: (e) => {
      // stop at the end of the first epoch: the step in flight finishes, then the run saves
      if (++steps === e.iterations) abort.abort();
    },
  });
  assertEquals(first.status, "interrupted");
  assertEquals(store.getRun(first.runId!)!.status, "interrupted");
  const last = `${dir}/runs/interrupted/last.safetensors`;
  assert(first.checkpoints.includes(last), first.checkpoints.join());
  const resumed = await runExperiment(
    rt,
    await resolved(experiment("resumed", { saveFreq: 5, resume: { path: last, mode: "continue" } })),
  );
  assertEquals(resumed.status, "done");
  const curve = [...first.losses, ...resumed.losses];
  assertEquals(curve, straight.losses);
  store.close();
});

Deno.test("a video that cannot be read fails the run, names the file, and the store says failed", async () => {
  const rt = await getRuntime();
  const store = ResultsStore.open(`${dir}/results.db`);
  const d = `${dir}/broken`;
  await Deno.mkdir(`${d}/videos`, { recursive: true });
  for (const f of ["base_labels.csv", "base_val.txt", "novel_labels.csv", "novel_val.txt"]) {
    await Deno.copyFile(`${dir}/data/${f}`, `${d}/${f}`);
  }
  const lines = (await Deno.readTextFile(`${dir}/data/base_train.txt`)).trim().split("\n");
  await Deno.writeTextFile(`${d}/base_train.txt`, lines.join("\n") + "\n");
  for (const l of lines) await Deno.copyFile(`${dir}/data/${l.split(" ")[0]}`, `${d}/${l.split(" ")[0]}`);
  const victim = lines[0].split(" ")[0];
  await Deno.writeFile(`${d}/${victim}`, new Uint8Array([0, 0, 0, 8, 1, 2, 3]));
  const e = experiment("broken");
  e.data.root = d;
  e.train!.list = `${d}/base_train.txt`;
  let err = "";
  const before = store.listRuns({ experiment: "broken" }).length;
  try {
    await runExperiment(rt, await resolved(e), { recorder: store });
  } catch (x) {
    err = String(x);
  }
  assert(err.includes(victim), `error does not name ${victim}: ${err}`);
  const runs = store.listRuns({ experiment: "broken" });
  assertEquals(runs.length, before + 1);
  assertEquals(runs[0].status, "failed");
  store.close();
});

Deno.test("resume (init) from a checkpoint of another variant: the fitting tensors load, new prompts stay fresh", async () => {
  const rt = await getRuntime();
  const from = `${dir}/runs/full/last.safetensors`; // written by the store test above
  const e = experiment("prompted", { epochs: 1, saveFreq: 5, resume: { path: from, mode: "init" } });
  e.model = {
    ...e.model,
    variant: "prompt",
    prompt: { textCtx: 2, visionCtx: 2, textDepth: 1, visionDepth: 1 },
  };
  const lines: string[] = [];
  const r = await runExperiment(rt, await resolved(e), { log: (s) => lines.push(s) });
  const init = lines.find((l) => l.startsWith("initialised from"));
  assert(init && /kept their initialisation: .*(VPT|prompt_learner)/.test(init), lines.join("\n"));
  assertEquals(r.status, "done");
  // frozen CLIP tensors are exactly the checkpoint's after training the prompts
  const { readCheckpoint } = await import("../../lib/train/checkpoint.ts");
  const before = (await readCheckpoint(from)).params.get("visual.conv1.weight")!;
  const after = (await readCheckpoint(`${dir}/runs/prompted/last.safetensors`)).params.get(
    "visual.conv1.weight",
  )!;
  assertEquals(Array.from(after.subarray(0, 64)), Array.from(before.subarray(0, 64)));
});
