/// <reference lib="deno.worker" />
// The dashboard's model thread: predictions run here, one at a time (each loads its model onto the one
// GPU), so decoding, weight loading and the forward pass never hold up the server's page requests.
// Protocol: { id, job: PredictJob } in, { id, reply: JobReply } out (web/predict-queue.ts).

import { type PredictJob, runPredictJob } from "./predict-job.ts";

let chain: Promise<void> = Promise.resolve();

self.onmessage = (e: MessageEvent<{ id: number; job: PredictJob }>) => {
  const { id, job } = e.data;
  chain = chain.then(async () => {
    self.postMessage({ id, reply: await runPredictJob(job) });
  });
};
