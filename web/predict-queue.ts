// The predict form's queue: jobs go to one Deno Worker (predict-worker.ts, or a stand-in in tests) and
// come back as JobReply values. The worker starts with the first job and lives until close(); if it dies,
// the jobs it held fail with a server error and the next job starts a fresh one.

import type { JobReply, PredictJob } from "./predict-job.ts";

export const DEFAULT_WORKER = new URL("./predict-worker.ts", import.meta.url);

interface Waiting {
  resolve: (r: JobReply) => void;
}

export class PredictQueue {
  readonly #url: URL;
  #worker: Worker | undefined;
  readonly #waiting = new Map<number, Waiting>();
  #next = 1;

  constructor(url: URL = DEFAULT_WORKER) {
    this.#url = url;
  }

  /** jobs sent and not yet answered */
  get length(): number {
    return this.#waiting.size;
  }

  run(job: PredictJob): Promise<JobReply> {
    const worker = this.#worker ??= this.#spawn();
    const id = this.#next++;
    return new Promise<JobReply>((resolve) => {
      this.#waiting.set(id, { resolve });
      worker.postMessage({ id, job });
    });
  }

  #spawn(): Worker {
    const w = new Worker(this.#url, { type: "module", name: "vifi-predict" });
    w.onmessage = (e: MessageEvent<{ id: number; reply: JobReply }>) => {
      const waiting = this.#waiting.get(e.data.id);
      this.#waiting.delete(e.data.id);
      waiting?.resolve(e.data.reply);
    };
    w.onerror = (e: ErrorEvent) => {
      e.preventDefault(); // the dashboard keeps serving; the jobs in flight are answered below
      this.#fail(`the prediction worker stopped: ${e.message}`);
    };
    return w;
  }

  #fail(message: string): void {
    this.#worker?.terminate();
    this.#worker = undefined;
    for (const w of this.#waiting.values()) w.resolve({ ok: false, kind: "server", message });
    this.#waiting.clear();
  }

  close(): void {
    this.#fail("the dashboard is shutting down");
  }
}
