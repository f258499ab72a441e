// The live-updates route: /api/runs/events, a server-sent-event stream of the rows of runs that changed
// (event "runs", a JSON array of RunRowData), fed by the shared poller in run-events.ts.

import type { Hono } from "npm:hono@4.13.19";
import { type SSEStreamingApi, streamSSE } from "npm:hono@4.13.19/streaming";
import type { ResultsStore } from "../../lib/results/store.ts";
import type { RunRowData } from "../islands/LiveRuns.tsx";
import { runRowData } from "../pages/runs.tsx";
import type { RunEvents } from "../run-events.ts";
import { idList } from "./params.ts";

/**
 * Writes batches of changed rows to `stream` until the client goes away or the dashboard closes. `ids`
 * are the rows the page shows: they are sent once first, as they are now, so anything that changed
 * between rendering and connecting is not missed.
 */
async function pumpRunEvents(
  stream: SSEStreamingApi,
  store: ResultsStore,
  events: RunEvents,
  ids: Set<number>,
): Promise<void> {
  let queue: RunRowData[][] = [];
  let wake: (() => void) | null = null;
  let open = true;
  const unsubscribe = events.subscribe((rows) => {
    queue.push(rows);
    wake?.();
  });
  const end = () => {
    open = false;
    wake?.();
  };
  const untrack = events.track(end);
  stream.onAbort(end);
  try {
    // the page's own rows as they are now: anything that changed between rendering and connecting
    if (ids.size) {
      const now = store.listRuns().filter((r) => ids.has(r.id)).map((r) => runRowData(r));
      await stream.writeSSE({ event: "runs", data: JSON.stringify(now) });
    }
    while (open) {
      if (!queue.length) {
        await new Promise<void>((ok) => {
          wake = ok;
          // a comment now and then finds clients that went away without closing
          setTimeout(ok, 15_000);
        });
        wake = null;
        if (!queue.length && open) await stream.write(": keep-alive\n\n");
        continue;
      }
      const batch = queue.flat();
      queue = [];
      await stream.writeSSE({ event: "runs", data: JSON.stringify(batch) });
    }
  } finally {
    unsubscribe();
    untrack();
  }
}

export function eventRoutes(app: Hono, store: ResultsStore, events: RunEvents): void {
  app.get("/api/runs/events", (c) => {
    const ids = new Set(idList(c.req.query("ids")));
    return streamSSE(c, (stream) => pumpRunEvents(stream, store, events, ids));
  });
}
