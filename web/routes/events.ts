// The live-updates routes, server-sent-event streams fed by the shared poller in run-events.ts:
// - /api/runs/events?ids=…: the rows of runs that changed (event "runs", a JSON array of RunRowData);
// - /api/run/:id/steps?since=N: one run's step rows as they are logged (event "steps", a JSON array of
//   StepRow, those after step N first). Logging steps moves the run's heartbeat in the same write, so
//   a change of its row is when new steps are read: no poll of its own, one query per change.

import type { Hono } from "npm:hono@4.13.19";
import { type SSEStreamingApi, streamSSE } from "npm:hono@4.13.19/streaming";
import type { ResultsStore } from "../../lib/results/store.ts";
import type { RunRowData } from "../islands/LiveRuns.tsx";
import { runRowData } from "../pages/runs.tsx";
import type { RunEvents } from "../run-events.ts";
import { idList, intParam, strictId } from "./params.ts";

/**
 * Writes `event` batches to `stream` until the client goes away or the dashboard closes: first what
 * `take(null)` gives (what the client may have missed before it connected), then what `take(changed)`
 * gives for each batch of changed run rows. An empty batch is not sent.
 */
async function pumpEvents(
  stream: SSEStreamingApi,
  events: RunEvents,
  event: string,
  take: (changed: RunRowData[] | null) => unknown[],
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
  const send = async (batch: unknown[]) => {
    if (batch.length) await stream.writeSSE({ event, data: JSON.stringify(batch) });
  };
  try {
    await send(take(null));
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
      const changed = queue.flat();
      queue = [];
      await send(take(changed));
    }
  } finally {
    unsubscribe();
    untrack();
  }
}

export function eventRoutes(app: Hono, store: ResultsStore, events: RunEvents): void {
  app.get("/api/runs/events", (c) => {
    const ids = new Set(idList(c.req.query("ids")));
    // first the page's own rows as they are now: anything that changed between rendering and connecting
    return streamSSE(
      c,
      (stream) =>
        pumpEvents(
          stream,
          events,
          "runs",
          (changed) =>
            changed ??
              (ids.size ? store.listRuns().filter((r) => ids.has(r.id)).map((r) => runRowData(r)) : []),
        ),
    );
  });

  app.get("/api/run/:id/steps", (c) => {
    const id = strictId(c.req.param("id"));
    if (id === null || !store.getRun(id)) return c.text(`no run ${c.req.param("id")}\n`, 404);
    let since = intParam(c.req.query("since"), -1, -1, Number.MAX_SAFE_INTEGER);
    const newSteps = () => {
      const rows = store.stepMetrics(id, { sinceStep: since });
      if (rows.length) since = rows[rows.length - 1].step;
      return rows;
    };
    return streamSSE(
      c,
      (stream) =>
        pumpEvents(
          stream,
          events,
          "steps",
          (changed) => changed === null || changed.some((r) => r.id === id) ? newSteps() : [],
        ),
    );
  });
}
