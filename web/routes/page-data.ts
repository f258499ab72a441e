// What the leaderboard and runs pages are computed from, recomputed only when the database has changed
// (aggregating 5,000 runs takes ~150 ms; twenty browsers asking at once would queue behind each other).

import { leaderboard, type LeaderboardRow } from "../../lib/results/leaderboard.ts";
import type { ResultsStore, RunSummary } from "../../lib/results/store.ts";

/**
 * `compute()`'s value, kept until store.changeStamp() changes (any commit, from this process or another).
 * Callers must not mutate what it returns: it is shared by every request until the next change.
 */
export function cachedByStamp<T>(store: ResultsStore, compute: () => T): () => T {
  let stamp: string | undefined, value: T;
  return () => {
    const now = store.changeStamp();
    if (now !== stamp) value = compute(), stamp = now;
    return value;
  };
}

/** The shared, cached views of the store the page routes read. */
export interface PageData {
  store: ResultsStore;
  /** the database's path, shown on empty pages */
  path: string;
  /** every leaderboard row (the paper's included) and how many rows with a value each protocol has */
  tables: () => { rows: LeaderboardRow[]; counts: Record<string, number> };
  /** every run, and the experiments they belong to (sorted) */
  allRuns: () => { runs: RunSummary[]; experiments: string[] };
}

export function pageData(store: ResultsStore, path: string): PageData {
  const tables = cachedByStamp(store, () => {
    const rows = leaderboard(store, { includePaper: true });
    const counts: Record<string, number> = {};
    for (const r of rows) if (r.value !== null) counts[r.protocol] = (counts[r.protocol] ?? 0) + 1;
    return { rows, counts };
  });
  const allRuns = cachedByStamp(store, () => {
    const runs = store.listRuns();
    return { runs, experiments: [...new Set(runs.map((r) => r.experiment))].sort() };
  });
  return { store, path, tables, allRuns };
}
