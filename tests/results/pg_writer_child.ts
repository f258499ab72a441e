// One of pg_writers_test.ts's concurrent writers: opens the store at the agreed moment (so eight opens of a
// fresh database race its migration), then until the deadline starts runs and logs steps, epochs,
// evaluations and checkpoints as fast as it can, and prints exactly what it wrote (only calls that
// returned) as one JSON line.
// args: TARGET WRITER START_MS SECONDS

import { ResultsStore } from "../../lib/results/store.ts";

export interface WrittenRun {
  id: number;
  experiment: string;
  steps: number;
  epochs: number;
  evals: number;
  classRows: number;
  checkpoints: number;
  done: boolean;
}

const [target, writer, startMs, seconds] = Deno.args;
const start = Number(startMs), end = start + Number(seconds) * 1000;
await new Promise((r) => setTimeout(r, Math.max(0, start - Date.now())));
const s = ResultsStore.open(target);
const runs: WrittenRun[] = [];
let k = 0;
while (Date.now() < end) {
  const experiment = `w${writer}-r${k++}`;
  const id = s.startRun({
    experiment,
    protocol: { kind: "custom" },
    variant: "vifi",
    config: { writer: Number(writer) },
    commit: null,
    seed: k,
    device: "writer",
  });
  const w: WrittenRun = {
    id,
    experiment,
    steps: 0,
    epochs: 0,
    evals: 0,
    classRows: 0,
    checkpoints: 0,
    done: false,
  };
  runs.push(w);
  // a run of 3 epochs × 4 batches of 1..7 steps, an eval and a checkpoint each epoch
  for (let epoch = 0; epoch < 3 && Date.now() < end; epoch++) {
    for (let b = 0; b < 4; b++) {
      const n = 1 + (w.steps + b) % 7;
      s.logSteps(
        id,
        Array.from(
          { length: n },
          (_, i) => ({ step: w.steps + i, epoch, loss: 1 / (w.steps + i + 1), lr: 1e-3 }),
        ),
      );
      w.steps += n;
    }
    s.logEpoch(id, { epoch, trainLoss: 1 / (epoch + 1) });
    w.epochs++;
    const c = 1 + epoch;
    s.addEval(id, {
      name: `val${epoch}`,
      clips: 1,
      crops: 1,
      top1: 10 * epoch,
      top5: 50,
      count: c,
      perClass: Array.from({ length: c }, (_, i) => ({ name: `c${i}`, correct: 0, total: 1 })),
      confusion: Array.from({ length: c }, () => new Array(c).fill(0)),
    });
    w.evals++;
    w.classRows += c;
    s.addCheckpoint(id, { epoch, kind: "epoch", path: `/w${writer}/${k}/${epoch}` });
    w.checkpoints++;
  }
  s.finishRun(id, { status: "done" });
  w.done = true;
}
s.close();
console.log(JSON.stringify(runs));
