// Run-change events for the runs page's live updates: one poller shared by every listener, so a hundred
// open tabs cost one query per interval, and it polls only while anybody listens. A poll of an unchanged
// database costs one pragma (store.changeStamp()), not a read of every run.

import type { ResultsStore, RunSummary } from "../lib/results/store.ts";
import type { RunRowData } from "./islands/LiveRuns.tsx";
import { runRowData } from "./pages/runs.tsx";

export type RunListener = (rows: RunRowData[]) => void;

export interface RunEvents {
  /** calls `listener` with the rows of the runs that changed; returns the unsubscribe */
  subscribe(listener: RunListener): () => void;
  /** an open stream's `end`, called by close(); returns the call that forgets it */
  track(end: () => void): () => void;
  /** ends every tracked stream, stops the poller and drops the listeners */
  close(): void;
}

/** What an open runs page needs to know changed. */
function fingerprint(r: RunSummary): string {
  return `${r.status}|${r.heartbeatAt}|${r.finishedAt}|${JSON.stringify(r.metrics)}|${r.error}`;
}

export function runEvents(store: ResultsStore, pollMs: number): RunEvents {
  const listeners = new Set<RunListener>();
  const closers = new Set<() => void>();
  let timer: ReturnType<typeof setInterval> | undefined;
  let last = new Map<number, string>();
  let polled: string | undefined;
  const snapshot = () => {
    polled = store.changeStamp();
    const runs = store.listRuns();
    const next = new Map<number, string>();
    const changed: RunSummary[] = [];
    for (const r of runs) {
      const f = fingerprint(r);
      next.set(r.id, f);
      if (last.get(r.id) !== f) changed.push(r);
    }
    last = next;
    return { runs, changed };
  };
  const tick = () => {
    let changed: RunSummary[];
    try {
      if (store.changeStamp() === polled) return;
      changed = snapshot().changed;
    } catch (e) {
      console.error(`dashboard: polling the database failed: ${e instanceof Error ? e.message : e}`);
      return;
    }
    if (!changed.length) return;
    const rows = changed.map((r) => runRowData(r));
    for (const l of listeners) l(rows);
  };
  return {
    subscribe(l) {
      if (listeners.size === 0) {
        snapshot(); // the baseline: only changes from now on are news
        timer = setInterval(tick, pollMs);
      }
      listeners.add(l);
      return () => {
        listeners.delete(l);
        if (listeners.size === 0 && timer !== undefined) clearInterval(timer), timer = undefined;
      };
    },
    track(end) {
      closers.add(end);
      return () => closers.delete(end);
    },
    close() {
      for (const end of [...closers]) end();
      if (timer !== undefined) clearInterval(timer), timer = undefined;
      listeners.clear();
    },
  };
}
