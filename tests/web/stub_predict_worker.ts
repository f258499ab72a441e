/// <reference lib="deno.worker" />
// A stand-in for web/predict-worker.ts that runs no model: it answers with the weights path it was given
// (so tests see what the routes allowed), and the first class name picks a behaviour:
//   "block"  holds its thread synchronously (as a long decode would) until the file named by the second
//            class name exists, writing the third class name's file first to say it has started, and
//            answers a second row saying whether it was "released" or gave up at its "deadline";
//   "nogpu"  answers as a machine without an adapter does.
// `handle` is exported so a test can also run it on the calling thread, to see what blocking looks like.
// It imports nothing: `deno test` type-checks a worker's module graph when the worker starts, and the
// real job's graph (the whole model) takes long to check on a busy machine. The shapes below are
// web/predict-job.ts's PredictJob and JobReply, trimmed to what is used.

interface PredictJob {
  weights: string;
  labels: string[];
  frames: number;
}

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

export function handle(job: PredictJob): unknown {
  const [mode, release, started] = job.labels;
  if (mode === "nogpu") return { ok: false, kind: "gpu", message: "no adapter <here>" };
  let ended = "not blocked";
  if (mode === "block") {
    Deno.writeTextFileSync(started, "");
    const nap = new Int32Array(new SharedArrayBuffer(4));
    // a bound, so a test that never releases it still ends (and learns it was not released); long, because
    // a loaded machine can stall the test's own thread for many seconds between two of its requests
    const deadline = Date.now() + 300_000;
    while (!exists(release) && Date.now() < deadline) Atomics.wait(nap, 0, 0, 20);
    ended = exists(release) ? "released" : "deadline";
  }
  return {
    ok: true,
    result: {
      predictions: [{ label: job.weights, prob: 1 }, { label: ended, prob: 0 }],
      probs: new Float32Array([1]),
      views: 1,
      frames: job.frames,
      template: "{name}",
    },
    thumbnails: [],
  };
}

if (typeof WorkerGlobalScope !== "undefined" && self instanceof WorkerGlobalScope) {
  self.onmessage = (e: MessageEvent<{ id: number; job: PredictJob }>) => {
    self.postMessage({ id: e.data.id, reply: handle(e.data.job) });
  };
}
