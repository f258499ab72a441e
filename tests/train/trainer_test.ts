// The training loop on a small synthetic dataset: accumulation equals one larger batch, a run
// interrupted anywhere (mid-epoch, mid-accumulation) and continued equals an unbroken one bit for bit,
// Ctrl-C saves and marks the run interrupted, a failing file or a GPU error marks it failed and stores no
// result, a finished run's folder is not written over, an unwritable folder fails before the first
// step, and what the store receives adds up.

import { assert, assertEquals } from "../data/assert.ts";
import { generateSynthetic } from "../../lib/data/synthetic.ts";
import { defineExperiment } from "../../lib/dsl/define.ts";
import { resolveExperiment } from "../../lib/dsl/resolve.ts";
import type { Experiment, ResolvedExperiment } from "../../lib/dsl/types.ts";
import { getRuntime } from "../../lib/gpu/runtime.ts";
import { clipConfig, initClipWeights } from "../../lib/models/config.ts";
import { ViFiClip } from "../../lib/models/vifi.ts";
import { ResultsStore } from "../../lib/results/store.ts";
import { Rng, sessionSeed } from "../../lib/random/rng.ts";
import { Tensor } from "../../lib/tensor/tensor.ts";
import { AdamW } from "../../lib/train/optimizer.ts";
import { CompiledStep } from "../../lib/train/step.ts";
import { runExperiment } from "../../lib/train/trainer.ts";
import { readCheckpoint } from "../../lib/train/checkpoint.ts";
import { outputInUse } from "../../lib/train/output.ts";

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
  // every checkpoint the store lists is a complete one
  for (const c of run.checkpoints) assert((await readCheckpoint(c.path)).params.size > 0, c.path);

  // A second run into the same folder would write over the files these rows point at: refused, before
  // it has a run, naming the folder and its run; continuing from that folder is allowed.
  const out = `${dir}/runs/full`;
  const lastBytes = await Deno.readFile(`${out}/last.safetensors`);
  const again = await resolved(experiment("again"));
  again.output = out;
  let err = "";
  try {
    await runExperiment(rt, again, { recorder: store });
  } catch (e) {
    err = String(e instanceof Error ? e.message : e);
  }
  assert(
    err.includes(out) && err.includes(`run ${r.runId} (full, done`) && err.includes("--output") &&
      err.includes(`--resume ${out}/last.safetensors --continue`) && !err.includes("\n"),
    err,
  );
  assertEquals(store.listRuns({ experiment: "again" }).length, 0);
  assertEquals(await Deno.readFile(`${out}/last.safetensors`), lastBytes);
  assertEquals(await outputInUse(out, `${out}/last.safetensors`), undefined);
  assert(await outputInUse(out, `${dir}/runs/elsewhere/last.safetensors`), "another run's checkpoint");
  store.close();
});

Deno.test("an output folder that cannot be written fails before the first step, in one line", async () => {
  const rt = await getRuntime();
  // root writes through permission bits, so it gets a folder on a read-only file system instead
  const ro = Deno.uid() === 0 ? "/proc" : await Deno.makeTempDir({ prefix: "vifi-ro-" });
  if (ro !== "/proc") await Deno.chmod(ro, 0o555);
  const store = ResultsStore.open(`${dir}/results.db`);
  const e = await resolved(experiment("readonly", { epochs: 1 }));
  e.output = ro;
  let steps = 0, err = "";
  try {
    await runExperiment(rt, e, { recorder: store, onProgress: () => steps++ });
  } catch (x) {
    err = String(x instanceof Error ? x.message : x);
  }
  assert(err.includes(`output folder ${ro} is not writable`) && !err.includes("\n"), err);
  assertEquals(steps, 0);
  assertEquals(store.listRuns({ experiment: "readonly" }).length, 0);
  store.close();
});

Deno.test("interrupted at an epoch's end, then mid-epoch inside an accumulation window, and continued: losses and parameters equal an unbroken run's bit for bit", async () => {
  const rt = await getRuntime();
  const over = { saveFreq: 5, accumulation: 2 };
  const straight = await runExperiment(rt, await resolved(experiment("straight", over)));
  const store = ResultsStore.open(`${dir}/results.db`);
  /** run `name`, continuing from `from`, and Ctrl-C after `stopAt` steps of it */
  const part = async (name: string, stopAt: number, from?: string) => {
    const abort = new AbortController();
    let steps = 0;
    const e = experiment(name, {
      ...over,
      ...(from && { resume: { path: from, mode: "continue" as const } }),
    });
    const r = await runExperiment(rt, await resolved(e), {
      recorder: store,
      signal: abort.signal,
      onProgress: () => {
        // the step in flight finishes, then the run saves where it is
        if (++steps === stopAt) abort.abort();
      },
    });
    assertEquals(r.status, "interrupted");
    assertEquals(store.getRun(r.runId!)!.status, "interrupted");
    const last = `${dir}/runs/${name}/last.safetensors`;
    assert(r.checkpoints.includes(last), r.checkpoints.join());
    return { r, last, meta: (await readCheckpoint(last)).meta };
  };
  const iters = straight.losses.length / 3;
  assert(iters >= 3 && iters % 2 === 1, `the test wants an odd number of batches per epoch, got ${iters}`);
  // after the last batch of epoch 0: the epoch is not complete until it is validated and logged
  const a = await part("interrupted", iters);
  assertEquals(a.meta.position?.epoch, 0);
  assertEquals(a.meta.position?.batch, iters);
  assertEquals(store.getRun(a.r.runId!)!.epochs.length, 0);
  // one batch into epoch 1, half an accumulation window: its gradients travel in the checkpoint
  const b = await part("interrupted-again", 1, a.last);
  assertEquals(b.meta.position?.epoch, 1);
  assertEquals(b.meta.position?.batch, 1);
  assertEquals(b.meta.epoch, 0);
  assert((await readCheckpoint(b.last)).grads.size > 0, "no gradients for the half window");
  assertEquals(store.getRun(b.r.runId!)!.epochs.map((e) => e.epoch), [0]);
  const c = await runExperiment(
    rt,
    await resolved(experiment("resumed", { ...over, resume: { path: b.last, mode: "continue" } })),
    { recorder: store },
  );
  assertEquals(c.status, "done");
  assertEquals([...a.r.losses, ...b.r.losses, ...c.losses], straight.losses);
  const want = await readCheckpoint(`${dir}/runs/straight/last.safetensors`);
  const got = await readCheckpoint(`${dir}/runs/resumed/last.safetensors`);
  assertEquals(want.meta.optimizer?.step, got.meta.optimizer?.step);
  for (const [name, v] of want.params) assertEquals(got.params.get(name), v, name);
  for (const [name, { m, v }] of want.moments) {
    assertEquals(got.moments.get(name)?.m, m, `moment m of ${name}`);
    assertEquals(got.moments.get(name)?.v, v, `moment v of ${name}`);
  }
  assertEquals(c.evals.map((e) => e.result.top1), straight.evals.map((e) => e.result.top1));
  store.close();
});

Deno.test("a GPU error during training fails the run with the error, and stores no result and no checkpoint", async () => {
  const rt = await getRuntime();
  const store = ResultsStore.open(`${dir}/results.db`);
  const module = rt.device.createShaderModule({
    code: `@group(0) @binding(0) var<storage, read_write> a: array<f32>;
      @compute @workgroup_size(1) fn main() { a[0] = 1.0; }`,
  });
  const pipeline = rt.device.createComputePipeline({
    layout: "auto",
    compute: { module, entryPoint: "main" },
  });
  // a buffer without STORAGE usage: WebGPU skips the dispatch and reports it later
  const bad = rt.device.createBuffer({ size: 256, usage: GPUBufferUsage.COPY_DST });
  const e = await resolved(experiment("gpu-error", { epochs: 1, saveFreq: 1 }));
  let steps = 0, err = "";
  try {
    await runExperiment(rt, e, {
      recorder: store,
      // after the epoch's last step: what comes next is its validation, checkpoint and best copy
      onProgress: (p) => {
        if (++steps === p.iterations) rt.dispatch(pipeline, [bad], [1], { label: "test.invalid-dispatch" });
      },
    });
  } catch (x) {
    err = String(x instanceof Error ? x.message : x);
  } finally {
    bad.destroy();
  }
  assert(err.includes("GPU error") && err.includes("test.invalid-dispatch"), err);
  const [run] = store.listRuns({ experiment: "gpu-error" });
  const detail = store.getRun(run.id)!;
  assertEquals(detail.status, "failed");
  assert(detail.error?.includes("test.invalid-dispatch"), String(detail.error));
  assertEquals(detail.evals, []);
  assertEquals(detail.checkpoints, []);
  assertEquals(detail.epochs, []);
  assertEquals(store.results().filter((r) => r.runId === run.id), []);
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
  e.data!.root = d;
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
