// A loader worker: prepares videos on request and sends the frames back without copying.
/// <reference lib="deno.worker" />
import { type PrepareJob, prepareVideo } from "./prepare.ts";

self.onmessage = async (e: MessageEvent<{ id: number; job: PrepareJob }>) => {
  const { id, job } = e.data;
  try {
    const r = await prepareVideo(job);
    self.postMessage({ id, data: r.data, shape: r.shape, indices: r.indices }, [
      r.data.buffer as ArrayBuffer,
    ]);
  } catch (err) {
    self.postMessage({ id, error: err instanceof Error ? err.message : String(err) });
  }
};
