/** @jsxImportSource npm:preact@11.2.0 */
// One run: its configuration, training curves, per-class accuracy, confusion matrix, embedding map and
// checkpoints. Every chart is built by `runChart`, which both the page and /run/:id/chart/:name.svg use,
// so the download is exactly the figure on the page.

import type { VNode } from "npm:preact@11.2.0";
import type { EvalSummary, ResultsStore, RunDetail } from "../../lib/results/store.ts";
import { embeddingMap } from "../../lib/results/embedding-map.ts";
import { ConfusionChart, LineChart, PerClassChart, ScatterChart } from "../charts.tsx";
import { fmt1, formatDuration, formatTime, Island, Page } from "../html.tsx";
import { ChartTools } from "../islands/ChartTools.tsx";
import { metricsLine, protocolLabel } from "./runs.tsx";

export const CHARTS = ["loss", "lr", "accuracy", "per-class", "confusion", "embedding"] as const;
export type ChartName = typeof CHARTS[number];
/** the charts drawn from one evaluation (the others are drawn from the run's steps and epochs) */
export const EVAL_CHARTS: ChartName[] = ["per-class", "confusion", "embedding"];

/** The eval the page shows: the one asked for, else the run's last. */
export function pickEval(run: RunDetail, asked: number | null): EvalSummary | null {
  if (asked !== null) return run.evals.find((e) => e.id === asked) ?? null;
  return run.evals.at(-1) ?? null;
}

/** The loss or learning-rate curve over the run's steps (the loss with its epoch means). */
function stepChart(store: ResultsStore, run: RunDetail, name: "loss" | "lr", id: string): VNode | null {
  const steps = store.stepMetrics(run.id);
  if (!steps.length && name === "lr") return null;
  const series = name === "loss"
    ? [
      { name: "step loss", points: steps.map((s) => [s.step, s.loss] as [number, number]) },
      ...(run.epochs.some((e) => e.trainLoss !== null) && steps.length
        ? [{
          name: "epoch mean",
          // epoch means sit at the last step of their epoch, on the same x axis as the step losses
          points: run.epochs.filter((e) => e.trainLoss !== null).map((e) => {
            const last = steps.filter((s) => s.epoch === e.epoch).at(-1);
            return [last?.step ?? e.epoch, e.trainLoss!] as [number, number];
          }),
        }]
        : []),
    ]
    : [{ name: "lr", points: steps.map((s) => [s.step, s.lr] as [number, number]) }];
  if (!series[0].points.length) return null;
  return (
    <LineChart
      id={id}
      title={name === "loss" ? `run ${run.id}: training loss` : `run ${run.id}: learning rate`}
      xLabel="step"
      yLabel={name === "loss" ? "loss" : "learning rate"}
      series={series}
    />
  );
}

/** Validation top-1 and top-5 per epoch. */
function accuracyChart(run: RunDetail, id: string): VNode | null {
  const ep = run.epochs.filter((e) => e.valTop1 !== null || e.valTop5 !== null);
  if (!ep.length) return null;
  return (
    <LineChart
      id={id}
      title={`run ${run.id}: validation accuracy`}
      xLabel="epoch"
      yLabel="accuracy (%)"
      series={[
        { name: "top-1", points: ep.filter((e) => e.valTop1 !== null).map((e) => [e.epoch, e.valTop1!]) },
        { name: "top-5", points: ep.filter((e) => e.valTop5 !== null).map((e) => [e.epoch, e.valTop5!]) },
      ]}
    />
  );
}

/** One of EVAL_CHARTS, drawn from the eval `ev`: the embedding map, per-class accuracy or confusion. */
function evalChart(
  store: ResultsStore,
  run: RunDetail,
  name: string,
  ev: EvalSummary,
  id: string,
): VNode | null {
  if (name === "embedding") {
    const map = embeddingMap(store, ev.id);
    if (!map) return null;
    return (
      <ScatterChart
        id={id}
        title={`run ${run.id} · ${ev.name}: t-SNE of ${map.n} video embeddings`}
        points={map.points}
        labels={map.labels}
        classNames={map.classNames}
      />
    );
  }
  const detail = store.evalDetail(ev.id);
  if (!detail) return null;
  if (name === "per-class") {
    if (!detail.perClass.length) return null;
    return (
      <PerClassChart
        id={id}
        title={`run ${run.id} · ${ev.name}: per-class top-1`}
        classes={detail.perClass.map((c) => ({
          name: c.name,
          accuracy: c.total ? (100 * c.correct) / c.total : 0,
        }))}
      />
    );
  }
  if (!detail.confusion) return null;
  return (
    <ConfusionChart
      id={id}
      title={`run ${run.id} · ${ev.name}: confusion`}
      classNames={detail.perClass.map((c) => c.name)}
      confusion={detail.confusion}
    />
  );
}

/** A chart of the run, or null when the run has no data for it (or the name is unknown). */
export function runChart(
  store: ResultsStore,
  run: RunDetail,
  name: string,
  ev: EvalSummary | null,
): VNode | null {
  const id = `chart-${name}`;
  if (name === "loss" || name === "lr") return stepChart(store, run, name, id);
  if (name === "accuracy") return accuracyChart(run, id);
  if (!ev || !EVAL_CHARTS.includes(name as ChartName)) return null;
  return evalChart(store, run, name, ev, id);
}

function Figure(
  { run, name, ev, chart }: { run: RunDetail; name: string; ev: EvalSummary | null; chart: VNode | null },
): VNode | null {
  if (!chart) return null;
  const q = ev && EVAL_CHARTS.includes(name as ChartName) ? `?eval=${ev.id}` : "";
  const file = `run-${run.id}-${name}${q ? `-eval-${ev!.id}` : ""}`;
  const href = `/run/${run.id}/chart/${name}.svg${q}`;
  return (
    <figure data-figure={name}>
      {chart}
      <div class="tools">
        <a href={`${href}${q ? "&" : "?"}download=1`} download={`${file}.svg`} data-download="svg">SVG</a>
        <Island
          name="ChartTools"
          component={ChartTools}
          props={{ target: `chart-${name}`, filename: file }}
        />
      </div>
    </figure>
  );
}

/** The run's facts: protocol, variant, where and when it ran, and its final metrics. */
function RunFacts({ run }: { run: RunDetail }): VNode {
  const end = run.finishedAt ?? run.heartbeatAt;
  return (
    <table>
      <tbody>
        <tr>
          <th>protocol</th>
          <td>{protocolLabel(run.protocol)}</td>
          <th>variant</th>
          <td>{run.variant}</td>
        </tr>
        <tr>
          <th>device</th>
          <td>{run.device}</td>
          <th>seed</th>
          <td>{run.seed}</td>
        </tr>
        <tr>
          <th>started</th>
          <td>{formatTime(run.startedAt)}</td>
          <th>duration</th>
          <td>{formatDuration(end - run.startedAt)}</td>
        </tr>
        <tr>
          <th>commit</th>
          <td>{run.commit ?? "—"}</td>
          <th>host / pid</th>
          <td>{run.host} / {run.pid}</td>
        </tr>
        <tr>
          <th>final metrics</th>
          <td colSpan={3}>{metricsLine(run.metrics)}</td>
        </tr>
      </tbody>
    </table>
  );
}

/** The run's evals, each linking to the page with that eval's charts; `ev`'s row is marked. */
function EvalsTable({ run, ev }: { run: RunDetail; ev: EvalSummary | null }): VNode {
  return (
    <table class="evals">
      <thead>
        <tr>
          <th>eval</th>
          <th>dataset</th>
          <th>subset</th>
          <th class="num">epoch</th>
          <th class="num">videos</th>
          <th>views</th>
          <th class="num">top-1</th>
          <th class="num">top-5</th>
        </tr>
      </thead>
      <tbody>
        {run.evals.map((e) => (
          <tr class={e.id === ev?.id ? "diff" : undefined}>
            <td>
              <a href={`/run/${run.id}?eval=${e.id}`}>{e.name}</a>
            </td>
            <td>{e.dataset ?? "—"}</td>
            <td>{e.subset ?? "—"}</td>
            <td class="num">{e.epoch ?? "—"}</td>
            <td class="num">{e.count}</td>
            <td>{e.clips}×{e.crops}</td>
            <td class="num">{fmt1(e.top1)}</td>
            <td class="num">{fmt1(e.top5)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** The "Evaluations" section: the table, then the shown eval's per-class, confusion and embedding charts. */
function Evaluations(
  { store, run, ev, chart }: {
    store: ResultsStore;
    run: RunDetail;
    ev: EvalSummary | null;
    chart: (n: ChartName) => VNode;
  },
): VNode {
  if (run.evals.length === 0) return <p>No evaluations yet.</p>;
  const detail = ev ? store.evalDetail(ev.id) : null;
  return (
    <>
      <EvalsTable run={run} ev={ev} />
      {ev && (
        <>
          <h3>{ev.name} (eval {ev.id})</h3>
          <div class="charts">
            {chart("per-class")}
            {chart("confusion")}
            {detail?.hasEmbeddings
              ? chart("embedding")
              : <p class="muted">No embeddings stored for this eval.</p>}
          </div>
        </>
      )}
    </>
  );
}

function Checkpoints({ run }: { run: RunDetail }): VNode {
  if (run.checkpoints.length === 0) return <p>None.</p>;
  return (
    <table class="checkpoints">
      <thead>
        <tr>
          <th>kind</th>
          <th class="num">epoch</th>
          <th class="num">top-1</th>
          <th>path</th>
          <th>written</th>
        </tr>
      </thead>
      <tbody>
        {run.checkpoints.map((c) => (
          <tr>
            <td>{c.kind}</td>
            <td class="num">{c.epoch}</td>
            <td class="num">{fmt1(c.top1 ?? null)}</td>
            <td>
              <code>{c.path}</code>
            </td>
            <td>{formatTime(c.createdAt)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

export function RunPage(
  { store, run, ev }: { store: ResultsStore; run: RunDetail; ev: EvalSummary | null },
): VNode {
  const chart = (n: ChartName) => <Figure run={run} name={n} ev={ev} chart={runChart(store, run, n, ev)} />;
  return (
    <Page title={`run ${run.id} ${run.experiment}`} here="/runs">
      <h1>
        Run {run.id}: {run.experiment} <span class={`status-${run.status}`}>({run.status})</span>
      </h1>
      {run.error && <p class="neg">error: {run.error}</p>}
      <RunFacts run={run} />
      <h2>Training</h2>
      <div class="charts">
        {chart("loss")}
        {chart("lr")}
        {chart("accuracy")}
      </div>
      <h2>Evaluations</h2>
      <Evaluations store={store} run={run} ev={ev} chart={chart} />
      <h2>Checkpoints</h2>
      <Checkpoints run={run} />
      <h2>Configuration</h2>
      <pre class="config">{JSON.stringify(run.config, null, 2)}</pre>
    </Page>
  );
}
