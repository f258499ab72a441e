// A pretrain experiment run end to end (lib/train/run-pretrain.ts through runExperiment): the store holds
// the run, done, with one step row per step whose losses are the ones returned; last.safetensors loads back
// (arch inferred) with the weights pretrainClip gives the same model, seed and options; the leaderboard
// has nothing of it to rank; Ctrl-C stops after the current step, saves, and marks the run interrupted.

import { assert, assertEquals } from "../data/assert.ts";
import { novelTriples } from "../../lib/data/captions.ts";
import { resolveExperiment } from "../../lib/dsl/resolve.ts";
import type { Experiment } from "../../lib/dsl/types.ts";
import { getRuntime } from "../../lib/gpu/runtime.ts";
import { loadModel } from "../../lib/models/load.ts";
import { aggregate } from "../../lib/results/leaderboard.ts";
import { ResultsStore } from "../../lib/results/store.ts";
import { ByteTokenizer } from "../../lib/text/tokenizer.ts";
import { pretrainClip } from "../../lib/train/pretrain.ts";
import { runExperiment } from "../../lib/train/trainer.ts";

const dir = await Deno.makeTempDir({ prefix: "vifi-run-pretrain-" });

function experiment(name: string): Experiment {
  return {
    name,
    protocol: { kind: "pretrain", dataset: "synthetic" },
    model: { arch: "synthetic", variant: "both", tokenizer: "bytes", precision: "f32" },
    pretrain: { steps: 3, batch: 4, lr: 2e-3, warmupSteps: 1, frames: 2, novelSeed: 1 },
    evals: [],
    seed: 5,
    output: `${dir}/${name}`,
  };
}

Deno.test("run pretrain: stored steps, a loadable last.safetensors with the trained weights", async () => {
  const rt = await getRuntime();
  const store = ResultsStore.open(`${dir}/results.db`);
  try {
    const exp = await resolveExperiment(experiment("pre"), { source: "test", cwd: dir });
    const out = await runExperiment(rt, exp, { recorder: store });
    const path = `${dir}/pre/last.safetensors`;
    assertEquals([out.status, out.losses.length, out.checkpoints, out.evals], ["done", 3, [path], []]);
    assert(out.losses.every(Number.isFinite), `${out.losses}`);
    const run = store.getRun(out.runId!)!;
    assertEquals([run.status, run.protocol.kind], ["done", "pretrain"]);
    assertEquals(store.stepMetrics(out.runId!).map((s) => [s.step, s.epoch, s.loss]), [
      [0, 0, out.losses[0]],
      [1, 0, out.losses[1]],
      [2, 0, out.losses[2]],
    ]);
    assertEquals(run.checkpoints.map((c) => [c.kind, c.path]), [["last", path]]);
    assertEquals(aggregate(store.results()).filter((r) => r.experiment === "pre"), []);

    // the same model, seed and options trained directly: what the checkpoint must hold
    const fresh = await loadModel(rt, { arch: "synthetic", variant: "both", precision: "f32", seed: 5 });
    const saved = await loadModel(rt, { weights: path, variant: "both", precision: "f32" });
    try {
      const name = "visual.conv1.weight";
      const init = await fresh.model.clip.params.get(name)!.value.read();
      const want = await pretrainClip(fresh.model, new ByteTokenizer(), {
        steps: 3,
        batch: 4,
        lr: 2e-3,
        warmupSteps: 1,
        weightDecay: 0.05,
        seed: 5,
        data: { frames: 2, novel: novelTriples(1), novelClips: "partial", fullShare: 0.4 },
      });
      assertEquals(want.losses, out.losses);
      // the architecture is inferred from the file's shapes
      assertEquals([saved.config.embedDim, saved.config.text.context, saved.config.vision.resolution], [
        64,
        48,
        32,
      ]);
      for (const [n, p] of fresh.model.clip.params) {
        const a = await p.value.read(), b = await saved.model.clip.params.get(n)!.value.read();
        assert(a.every((v, i) => v === b[i]), `${n} differs from the trained model's`);
      }
      const trained = await saved.model.clip.params.get(name)!.value.read();
      assert(trained.some((v, i) => Math.abs(v - init[i]) > 1e-6), "the saved weights are the trained ones");
    } finally {
      fresh.model.dispose();
      saved.model.dispose();
    }
  } finally {
    store.close();
  }
});

Deno.test("run pretrain: Ctrl-C stops after the current step, saves, and the run is interrupted", async () => {
  const rt = await getRuntime();
  const store = ResultsStore.open(`${dir}/results.db`);
  try {
    const exp = await resolveExperiment(experiment("stopped"), { source: "test", cwd: dir });
    const stop = new AbortController();
    const out = await runExperiment(rt, exp, {
      recorder: store,
      signal: stop.signal,
      onProgress: () => stop.abort(),
    });
    assertEquals([out.status, out.losses.length], ["interrupted", 1]);
    const run = store.getRun(out.runId!)!;
    assertEquals(run.status, "interrupted");
    assertEquals(store.stepMetrics(out.runId!).map((s) => s.loss), out.losses);
    const saved = await loadModel(rt, {
      weights: `${dir}/stopped/last.safetensors`,
      variant: "both",
      precision: "f32",
    });
    saved.model.dispose();
  } finally {
    store.close();
  }
});
