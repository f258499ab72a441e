/** @jsxImportSource npm:preact@11.2.0 */
/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
// The runs table. Server-rendered in full; hydrated, it listens to /api/runs/events (server-sent events
// from the server polling the database) and updates status, duration and metrics in place. Runs that
// start after the page was rendered are added on the unfiltered first page and counted elsewhere.

import type { VNode } from "npm:preact@11.2.0";
import { useSignal } from "npm:@preact/signals@2.11.4";
import { useEffect } from "npm:preact@11.2.0/hooks";

export interface RunRowData {
  id: number;
  experiment: string;
  protocol: string;
  variant: string;
  device: string;
  status: string;
  startedAt: number;
  /** ms; for a running run, up to its last heartbeat */
  durationMs: number;
  /** the run's final metrics, one line */
  metrics: string;
  error: string | null;
}

export interface LiveRunsProps {
  rows: RunRowData[];
  /** new runs may be prepended (first page, no filter) */
  prepend: boolean;
  perPage: number;
  /** ids selected for comparison */
  selected: number[];
}

function duration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return "—";
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  return m < 60 ? `${m} min ${s % 60} s` : `${Math.floor(m / 60)} h ${m % 60} min`;
}

const when = (ms: number) => new Date(ms).toISOString().replace("T", " ").slice(0, 19);

export function LiveRuns({ rows: initial, prepend, perPage, selected }: LiveRunsProps): VNode {
  const rows = useSignal(initial);
  const elsewhere = useSignal(0);
  const live = useSignal(false);
  useEffect(() => {
    if (typeof EventSource === "undefined") return;
    const ids = initial.map((r) => r.id).join(",");
    const es = new EventSource(`/api/runs/events?ids=${ids}`);
    es.addEventListener("open", () => live.value = true);
    es.addEventListener("error", () => live.value = false);
    es.addEventListener("runs", (ev) => {
      const changed = JSON.parse((ev as MessageEvent).data) as RunRowData[];
      const byId = new Map(rows.value.map((r) => [r.id, r]));
      const fresh: RunRowData[] = [];
      for (const r of changed) {
        if (byId.has(r.id)) byId.set(r.id, r);
        else if (prepend && r.id > Math.max(0, ...rows.value.map((x) => x.id))) fresh.push(r);
        else if (!prepend) elsewhere.value += 1;
      }
      const next = rows.value.map((r) => byId.get(r.id)!);
      rows.value = fresh.length ? [...fresh.sort((a, b) => b.id - a.id), ...next].slice(0, perPage) : next;
    });
    return () => es.close();
  }, []);
  return (
    <div class="live-runs" data-live={live.value ? "1" : "0"}>
      {elsewhere.value > 0 && (
        <p class="notice">{elsewhere.value} run update(s) outside this page — reload to see them.</p>
      )}
      <table class="runs">
        <thead>
          <tr>
            <th>compare</th>
            <th class="num">id</th>
            <th>status</th>
            <th>experiment</th>
            <th>protocol</th>
            <th>variant</th>
            <th>device</th>
            <th>started</th>
            <th class="num">duration</th>
            <th>final metrics</th>
          </tr>
        </thead>
        <tbody>
          {rows.value.map((r) => (
            <tr key={r.id} data-run={r.id}>
              <td>
                <input
                  type="checkbox"
                  name="id"
                  value={r.id}
                  checked={selected.includes(r.id)}
                  form="compare"
                />
              </td>
              <td class="num">
                <a href={`/run/${r.id}`}>{r.id}</a>
              </td>
              <td class={`status status-${r.status}`} title={r.error ?? undefined}>{r.status}</td>
              <td>
                <a href={`/run/${r.id}`}>{r.experiment}</a>
              </td>
              <td>{r.protocol}</td>
              <td>{r.variant}</td>
              <td>{r.device}</td>
              <td>{when(r.startedAt)}</td>
              <td class="num">{duration(r.durationMs)}</td>
              <td>{r.metrics}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
