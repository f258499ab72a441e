// `--continue` of a stopped run takes up its own row again (issue 17: a requeued Slurm task is one run,
// not one per attempt). Here, without Slurm: a run stopped mid-epoch (as SIGTERM stops it) and continued
// in its own folder is one run, done, whose step rows equal an unbroken run's value for value; a
// continue into a store other than the one the folder's owner names starts a new run and says why. The
// rows a checkpoint accounts for (rowsHeld) on canned rows, and which state a --continue takes.

import { assert, assertEquals } from "../data/assert.ts";
import { generateSynthetic } from "../../lib/data/synthetic.ts";
import { defineExperiment } from "../../lib/dsl/define.ts";
import { resolveExperiment } from "../../lib/dsl/resolve.ts";
import type { ResolvedExperiment } from "../../lib/dsl/types.ts";
import { getRuntime } from "../../lib/gpu/runtime.ts";
import { ResultsStore, type StepRow } from "../../lib/results/store.ts";
import type { CheckpointMeta } from "../../lib/train/checkpoint.ts";
import { rowsHeld } from "../../lib/train/run-records.ts";
import { newestState } from "../../lib/train/output.ts";
import { runExperiment } from "../../lib/train/trainer.ts";

const dir = await Deno.makeTempDir({ prefix: "vifi-continue-" });
await generateSynthetic(`${dir}/data`, {
  seed: 5,
  clipsPerClass: 2,
  frames: 4,
  size: 32,
  colours: ["red", "green", "blue"],
  shapes: ["circle"],
  motions: ["left"],
});

function experiment(output: string): Promise<ResolvedExperiment> {
  const d = `${dir}/data`;
  const e = defineExperiment({
    name: "tiny",
    protocol: { kind: "base-to-novel", dataset: "synthetic", seed: 1 },
    model: { arch: "synthetic", variant: "both", tokenizer: "bytes", precision: "f32" },
    data: { root: d, frames: 2, workers: 1 },
    train: {
      list: `${d}/base_train.txt`,
      labels: `${d}/base_labels.csv`,
      epochs: 2,
      lr: 1e-3,
      batch: 1,
      warmupEpochs: 1,
      saveFreq: 1,
      mixup: 0,
      cutmix: 0,
    },
    evals: [],
    seed: 7,
    output: `${dir}/${output}`,
  });
  return resolveExperiment(e, { source: `${dir}/test.exp.ts`, cwd: dir });
}

const losses = (s: ResultsStore, id: number) => s.stepMetrics(id).map((r) => [r.step, r.epoch, r.loss]);

Deno.test("a run stopped mid-epoch and continued in its folder is one run whose step rows equal an unbroken run's", async () => {
  const rt = await getRuntime();
  const store = ResultsStore.open(`${dir}/results.db`);
  const straight = await runExperiment(rt, await experiment("straight"), { recorder: store });
  assertEquals(straight.status, "done");
  const perEpoch = straight.losses.length / 2;
  assert(perEpoch >= 3, `want 3 or more steps an epoch, got ${perEpoch}`);

  // stopped one step into epoch 1: epoch 0's rows and one of epoch 1's are the checkpoint's
  const abort = new AbortController();
  let steps = 0;
  const first = await runExperiment(rt, await experiment("requeued"), {
    recorder: store,
    signal: abort.signal,
    onProgress: () => {
      if (++steps === perEpoch + 1) abort.abort();
    },
  });
  assertEquals(first.status, "interrupted");
  const lines: string[] = [];
  const e = await experiment("requeued");
  e.train!.resume = { path: `${dir}/requeued/last.safetensors`, mode: "continue" };
  const again = await runExperiment(rt, e, { recorder: store, log: (l) => lines.push(l) });
  assertEquals(again.status, "done");
  assertEquals(again.runId, first.runId, lines.join("\n"));
  assert(lines.some((l) => l.startsWith(`continuing run ${first.runId} `)), lines.join("\n"));
  const runs = store.listRuns({ experiment: "tiny" }).filter((r) => r.id !== straight.runId);
  assertEquals(runs.map((r) => [r.id, r.status]), [[first.runId, "done"]]);
  assertEquals(losses(store, first.runId!), losses(store, straight.runId!));
  const epochs = (id: number) => store.getRun(id)!.epochs.map((r) => [r.epoch, r.trainLoss]);
  assertEquals(epochs(first.runId!), epochs(straight.runId!));

  // the same folder continued into another store: the owner's run is not there, so a new run, said why
  const other = ResultsStore.open(`${dir}/other.db`);
  const abort2 = new AbortController();
  const stopped = await runExperiment(rt, await experiment("moved"), {
    recorder: store,
    signal: abort2.signal,
    onProgress: () => abort2.abort(),
  });
  const moved = await experiment("moved");
  moved.train!.resume = { path: `${dir}/moved/last.safetensors`, mode: "continue" };
  const said: string[] = [];
  const elsewhere = await runExperiment(rt, moved, { recorder: other, log: (l) => said.push(l) });
  assertEquals(elsewhere.status, "done");
  assert(
    said.some((l) => l.startsWith(`a new run: run ${stopped.runId} is in ${dir}/results.db, not in`)),
    said.join("\n"),
  );
  assertEquals(store.getRun(stopped.runId!)!.status, "interrupted");
  other.close();
  store.close();
});

Deno.test("rowsHeld: the step and epoch rows a checkpoint accounts for", () => {
  // 3 steps an epoch; a file of the second epoch was skipped (2 steps), a third epoch begun
  const rows: StepRow[] = [0, 1, 2, 3, 4, 6].map((step) => ({
    step,
    epoch: Math.floor(step / 3),
    loss: step,
    lr: 0,
  }));
  const meta = (m: Partial<CheckpointMeta>) => m as CheckpointMeta;
  const position = (epoch: number, iteration: number) => ({ epoch, batch: 0, iteration, lossSum: 0, lr: 0 });
  assertEquals(rowsHeld(meta({ epoch: 0 }), rows), { keepSteps: 2, fromEpoch: 1 });
  assertEquals(rowsHeld(meta({ epoch: 0, position: position(1, 1) }), rows), { keepSteps: 3, fromEpoch: 1 });
  assertEquals(rowsHeld(meta({ epoch: 1 }), rows), { keepSteps: 4, fromEpoch: 2 });
  assertEquals(rowsHeld(meta({ epoch: 0, position: position(1, 0) }), rows), { keepSteps: 2, fromEpoch: 1 });
  assertEquals(rowsHeld(meta({ position: position(0, 2) }), rows), { keepSteps: 1, fromEpoch: 0 });
  assertEquals(rowsHeld(meta({ position: position(0, 0) }), rows), { keepSteps: -1, fromEpoch: 0 });
  assertEquals(rowsHeld(meta({}), rows), { keepSteps: -1, fromEpoch: 0 });
  assertEquals(rowsHeld(meta({ epoch: 2 }), rows), { keepSteps: 6, fromEpoch: 3 });
});

Deno.test("newestState: the training state written last, never best", async () => {
  const d = await Deno.makeTempDir({ prefix: "vifi-newest-" });
  assertEquals(await newestState(`${d}/none`), undefined);
  const at = async (name: string, seconds: number) => {
    await Deno.writeFile(`${d}/${name}`, new Uint8Array(1));
    await Deno.utime(`${d}/${name}`, seconds, seconds);
  };
  await at("last.safetensors", 100);
  await at("ckpt_epoch_0.safetensors", 50);
  await at("best.safetensors", 300);
  await at("notes.safetensors", 400);
  assertEquals(await newestState(d), `${d}/last.safetensors`);
  await at("ckpt_epoch_3.safetensors", 200);
  assertEquals(await newestState(d), `${d}/ckpt_epoch_3.safetensors`);
});
