// Our numbers aggregated the way the paper aggregates them (docs/upstream.md §9), with the published number beside
// each. Only finished ("done") runs count. Within one cell (dataset, variant, K, split or seed) the most
// recently finished run wins: a re-run replaces an earlier attempt instead of being averaged with it, so a
// broken early run cannot drag a number down and nobody can pick the best of several tries by averaging.
// Missing splits or seeds are shown as such (`partial`), never silently averaged over fewer parts.

import type { ProtocolKind } from "../dsl/types.ts";
import { PAPER, type PaperMetric, paperValue } from "./paper-numbers.ts";
import type { ResultRow, ResultsStore } from "./store.ts";

export interface LeaderboardRow {
  protocol: ProtocolKind;
  /** normalised dataset name (hmdb, ucf, k400, k600, ssv2, …); null where no run says */
  dataset: string | null;
  /** custom protocol: the experiment the row groups */
  experiment: string | null;
  /** custom protocol: the evaluation name within the experiment */
  evalName: string | null;
  /** paper naming: "vifi" for both towers fine-tuned, else the ModelSpec variant */
  variant: string;
  shots: number | null;
  metric: PaperMetric;
  /** ours, percent; null where a part it needs is missing (HM without novel) */
  value: number | null;
  paper: number | null;
  /** value − paper */
  delta: number | null;
  /** splits (zero-shot, few-shot) or seeds (base-to-novel) that contributed; null = unsplit */
  parts: (number | null)[];
  /** how many parts the paper's number averages; null where the paper fixes none */
  expectedParts: number | null;
  partial: boolean;
  /** done runs in this row's group */
  runs: number;
  /** the runs whose values the row uses (the latest per part), ascending */
  runIds: number[];
  /** test views of the contributing evaluations, "clips×crops" */
  views: string[];
  notes: string[];
  /** whether the evaluations behind the row used the upstream's drop_last: all, none or some of them */
  dropLast: "yes" | "no" | "some";
  /** few-shot: which epoch `value` is ("final" by default), and the other one beside it */
  epoch?: "final" | "best";
  /** few-shot: the mean over splits of each run's best validated epoch; null where a split has none */
  best?: number | null;
  /** few-shot: the same mean of the final epochs */
  final?: number | null;
}

export interface LeaderboardOptions {
  protocol?: ProtocolKind;
  /** also list the paper's cells we have no run for (value null) */
  includePaper?: boolean;
  /**
   * few-shot: report the final epoch (default) or the best validated one. The upstream logs its
   * max accuracy over epochs; its README does not say which the paper's table holds.
   */
  fewShotEpoch?: "final" | "best";
}

const DATASET_ALIASES: Record<string, string> = {
  hmdb51: "hmdb",
  "hmdb-51": "hmdb",
  ucf101: "ucf",
  "ucf-101": "ucf",
  kinetics400: "k400",
  "kinetics-400": "k400",
  kinetics600: "k600",
  "kinetics-600": "k600",
  ssv2: "ssv2",
  "something-something-v2": "ssv2",
  sthsthv2: "ssv2",
};

export function normalizeDataset(d: string | null | undefined): string | null {
  if (d === null || d === undefined || d === "") return null;
  const s = d.toLowerCase();
  return DATASET_ALIASES[s] ?? s;
}

/** The paper calls the both-towers variant ViFi-CLIP. */
export function paperVariant(v: string): string {
  return v === "both" ? "vifi" : v;
}

export function harmonicMean(base: number, novel: number): number {
  return base + novel === 0 ? 0 : (2 * base * novel) / (base + novel);
}

function mean(xs: number[]): number {
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}

const PROTOCOL_ORDER: ProtocolKind[] = [
  "zero-shot",
  "base-to-novel",
  "few-shot",
  "fully-supervised",
  "custom",
];
const METRIC_ORDER: PaperMetric[] = ["top1", "top5", "base", "novel", "hm"];

// a later finish wins; among evaluations of one run, the later-written
function newer(a: ResultRow, b: ResultRow): boolean {
  return a.finishedAt !== b.finishedAt ? a.finishedAt > b.finishedAt : a.id > b.id;
}

function latestBy<K>(rows: ResultRow[], key: (r: ResultRow) => K): Map<K, ResultRow> {
  const m = new Map<K, ResultRow>();
  for (const r of rows) {
    const k = key(r), cur = m.get(k);
    if (!cur || newer(r, cur)) m.set(k, r);
  }
  return m;
}

function groupBy<T>(xs: T[], key: (x: T) => string): Map<string, T[]> {
  const m = new Map<string, T[]>();
  for (const x of xs) {
    const k = key(x);
    const g = m.get(k);
    if (g) g.push(x);
    else m.set(k, [x]);
  }
  return m;
}

const views = (rs: ResultRow[]) => [...new Set(rs.map((r) => `${r.clips}×${r.crops}`))].sort();
const ids = (rs: ResultRow[]) => [...new Set(rs.map((r) => r.runId))].sort((a, b) => a - b);
const runCount = (rs: ResultRow[]) => new Set(rs.map((r) => r.runId)).size;
const sortParts = (ps: (number | null)[]) => [...ps].sort((a, b) => (a ?? -Infinity) - (b ?? -Infinity));
const isAll = (r: ResultRow) => r.subset === null || r.subset === "all";

/** Which of the rows scored as the upstream's drop_last validation does; said in a note unless none. */
function dropLastOf(rs: ResultRow[]): LeaderboardRow["dropLast"] {
  const n = rs.filter((r) => r.dropLast).length;
  return n === 0 ? "no" : n === rs.length ? "yes" : "some";
}

function row(
  base: Omit<LeaderboardRow, "paper" | "delta" | "experiment" | "evalName" | "dropLast"> & {
    experiment?: string | null;
    evalName?: string | null;
    /** the evaluations the value comes from */
    from: ResultRow[];
  },
): LeaderboardRow {
  const { from, ...rest } = base;
  const dropLast = dropLastOf(from);
  const notes = dropLast === "no"
    ? base.notes
    : [...base.notes, dropLast === "yes" ? "drop_last (upstream's validation)" : "drop_last in some parts"];
  const paper = base.protocol === "custom" ? null : paperValue({
    protocol: base.protocol,
    dataset: base.dataset,
    variant: base.variant,
    shots: base.shots,
    metric: base.metric,
  });
  return {
    ...rest,
    experiment: base.experiment ?? null,
    evalName: base.evalName ?? null,
    paper,
    delta: paper !== null && base.value !== null ? base.value - paper : null,
    dropLast,
    notes,
  };
}

// Mean over splits of the latest evaluation per split: the zero-shot and few-shot rule.
function splitRows(
  protocol: ProtocolKind,
  group: ResultRow[],
  dataset: string | null,
  variant: string,
  shots: number | null,
  expected: number | null,
): LeaderboardRow {
  const perSplit = [...latestBy(group, (r) => r.split).values()];
  const parts = sortParts(perSplit.map((r) => r.split));
  const notes: string[] = [];
  if (expected !== null && parts.includes(null)) notes.push("an evaluation names no split");
  const have = parts.filter((p) => p !== null).length;
  const partial = expected !== null && have < expected;
  if (partial) notes.push(`${have} of ${expected} splits`);
  const v = views(perSplit);
  if (v.some((x) => x !== "1×1")) notes.push("paper uses 1×1 views");
  return row({
    protocol,
    dataset,
    variant,
    shots,
    metric: "top1",
    value: mean(perSplit.map((r) => r.top1)),
    parts,
    expectedParts: expected,
    partial,
    runs: runCount(group),
    runIds: ids(perSplit),
    views: v,
    notes,
    from: perSplit,
  });
}

function zeroShot(rs: ResultRow[]): LeaderboardRow[] {
  const evals = rs.filter(isAll);
  const groups = groupBy(
    evals,
    (r) => JSON.stringify([normalizeDataset(r.dataset ?? r.protocol.dataset), paperVariant(r.variant)]),
  );
  return [...groups.entries()].map(([k, g]) => {
    const [dataset, variant] = JSON.parse(k) as [string | null, string];
    // the paper's HMDB, UCF and K600 numbers each average three splits (docs/upstream.md §9)
    const expected = dataset === "hmdb" || dataset === "ucf" || dataset === "k600" ? 3 : null;
    return splitRows("zero-shot", g, dataset, variant, null, expected);
  });
}

function fewShot(rs: ResultRow[], shown: "final" | "best"): LeaderboardRow[] {
  const groups = groupBy(
    rs.filter(isAll),
    (r) =>
      JSON.stringify([
        normalizeDataset(r.dataset ?? r.protocol.dataset),
        paperVariant(r.variant),
        r.protocol.shots ?? null,
      ]),
  );
  return [...groups.entries()].map(([k, g]) => {
    const [dataset, variant, shots] = JSON.parse(k) as [string | null, string, number | null];
    const r = splitRows("few-shot", g, dataset, variant, shots, null);
    if (shots === null) r.notes.push("runs name no K (protocol.shots)");
    return withEpochs(r, [...latestBy(g, (x) => x.split).values()], shown);
  });
}

/** Few-shot: the final and best-epoch means side by side, `value` the one asked for, and a note saying which. */
function withEpochs(r: LeaderboardRow, perSplit: ResultRow[], shown: "final" | "best"): LeaderboardRow {
  const final = r.value;
  const bests = perSplit.map((x) => x.best?.top1);
  const best = bests.every((b) => b !== undefined) ? mean(bests as number[]) : null;
  const value = shown === "final" ? final : best;
  const other = shown === "final" ? best : final;
  const otherName = shown === "final" ? "best" : "final";
  const notes = [`${shown} epoch; ${otherName} ${other === null ? "—" : other.toFixed(1)}`, ...r.notes];
  if (value === null) notes.push("a split has no validated epoch");
  const paper = r.paper;
  return {
    ...r,
    value,
    delta: paper !== null && value !== null ? value - paper : null,
    epoch: shown,
    best,
    final,
    notes,
  };
}

function subsetOf(r: ResultRow): "base" | "novel" | null {
  if (r.subset === "base" || r.subset === "novel") return r.subset;
  if (r.subset === null && (r.name === "base" || r.name === "novel")) return r.name;
  return null;
}

function baseToNovel(rs: ResultRow[]): LeaderboardRow[] {
  const evals = rs.filter((r) => subsetOf(r) !== null);
  const groups = groupBy(
    evals,
    (r) => JSON.stringify([normalizeDataset(r.protocol.dataset ?? r.dataset), paperVariant(r.variant)]),
  );
  const out: LeaderboardRow[] = [];
  for (const [k, g] of groups) {
    const [dataset, variant] = JSON.parse(k) as [string | null, string];
    const latest = (
      s: "base" | "novel",
    ) => [...latestBy(g.filter((r) => subsetOf(r) === s), (r) => r.protocol.seed ?? null).values()];
    const base = latest("base"), novel = latest("novel");
    const baseSeeds = sortParts(base.map((r) => r.protocol.seed ?? null));
    const novelSeeds = sortParts(novel.map((r) => r.protocol.seed ?? null));
    const baseMean = base.length ? mean(base.map((r) => r.top1)) : null;
    const novelMean = novel.length ? mean(novel.map((r) => r.top1)) : null;
    const seedNote = (seeds: (number | null)[]) => {
      const n: string[] = [];
      const have = seeds.filter((s) => s !== null).length;
      if (have < 3) n.push(`${have} of 3 seeds`);
      if (seeds.includes(null)) n.push("a run names no seed (protocol.seed)");
      return n;
    };
    const common = {
      protocol: "base-to-novel" as const,
      dataset,
      variant,
      shots: null,
      expectedParts: 3,
      runs: runCount(g),
    };
    const bNotes = seedNote(baseSeeds), nNotes = seedNote(novelSeeds);
    out.push(row({
      ...common,
      metric: "base",
      value: baseMean,
      parts: baseSeeds,
      partial: bNotes.length > 0,
      runIds: ids(base),
      views: views(base),
      notes: bNotes,
      from: base,
    }));
    out.push(row({
      ...common,
      metric: "novel",
      value: novelMean,
      parts: novelSeeds,
      partial: nNotes.length > 0,
      runIds: ids(novel),
      views: views(novel),
      notes: nNotes,
      from: novel,
    }));
    const hmNotes = [...new Set([...bNotes.map((n) => `base: ${n}`), ...nNotes.map((n) => `novel: ${n}`)])];
    if (JSON.stringify(baseSeeds) !== JSON.stringify(novelSeeds)) {
      hmNotes.push(
        `base seeds ${baseSeeds.join(",") || "none"} ≠ novel seeds ${novelSeeds.join(",") || "none"}`,
      );
    }
    const both = baseSeeds.filter((s) => novelSeeds.includes(s));
    out.push(row({
      ...common,
      metric: "hm",
      // HM of the seed means, as the README computes it, not the mean of per-seed HMs
      value: baseMean !== null && novelMean !== null ? harmonicMean(baseMean, novelMean) : null,
      parts: both,
      partial: hmNotes.length > 0,
      runIds: ids([...base, ...novel]),
      views: views([...base, ...novel]),
      notes: hmNotes,
      from: [...base, ...novel],
    }));
  }
  return out;
}

function fullySupervised(rs: ResultRow[]): LeaderboardRow[] {
  const groups = groupBy(
    rs.filter(isAll),
    (r) => JSON.stringify([normalizeDataset(r.protocol.dataset ?? r.dataset), paperVariant(r.variant)]),
  );
  const out: LeaderboardRow[] = [];
  for (const [k, g] of groups) {
    const [dataset, variant] = JSON.parse(k) as [string | null, string];
    const lastRun = g.reduce((a, b) => (newer(b, a) ? b : a)).runId;
    // the latest run's final multi-view evaluation (most views; the later one on a tie)
    const pick = g.filter((r) => r.runId === lastRun).reduce((a, b) => {
      const va = a.clips * a.crops, vb = b.clips * b.crops;
      return vb > va || (vb === va && b.id > a.id) ? b : a;
    });
    const notes = pick.clips === 4 && pick.crops === 3
      ? []
      : [`views ${pick.clips}×${pick.crops}; paper 4×3`];
    for (const metric of ["top1", "top5"] as const) {
      out.push(row({
        protocol: "fully-supervised",
        dataset,
        variant,
        shots: null,
        metric,
        value: metric === "top1" ? pick.top1 : pick.top5,
        parts: [],
        expectedParts: null,
        partial: false,
        runs: runCount(g),
        runIds: [pick.runId],
        views: views([pick]),
        notes: [...notes],
        from: [pick],
      }));
    }
  }
  return out;
}

function custom(rs: ResultRow[]): LeaderboardRow[] {
  const out: LeaderboardRow[] = [];
  for (const [k, g] of groupBy(rs, (r) => JSON.stringify([r.experiment, r.name]))) {
    const [experiment, evalName] = JSON.parse(k) as [string, string];
    const last = g.reduce((a, b) => (newer(b, a) ? b : a));
    const perRun = [...latestBy(g, (r) => r.runId).values()];
    const variants = [...new Set(perRun.map((r) => paperVariant(r.variant)))];
    for (const metric of ["top1", "top5"] as const) {
      const xs = perRun.map((r) => r[metric]);
      const notes = xs.length > 1
        ? [`mean of ${xs.length} runs, ${Math.min(...xs).toFixed(1)}..${Math.max(...xs).toFixed(1)}`]
        : [];
      out.push(row({
        protocol: "custom",
        dataset: normalizeDataset(last.dataset ?? last.protocol.dataset),
        experiment,
        evalName,
        variant: variants.join("/"),
        shots: null,
        metric,
        // custom runs have no paper rule; independent seeds of one experiment are averaged
        value: mean(xs),
        parts: [],
        expectedParts: null,
        partial: false,
        runs: perRun.length,
        runIds: ids(perRun),
        views: views(perRun),
        notes,
        from: perRun,
      }));
    }
  }
  return out;
}

function sortRows(rows: LeaderboardRow[]): LeaderboardRow[] {
  const s = (x: string | null) => x ?? "";
  return rows.sort((a, b) =>
    PROTOCOL_ORDER.indexOf(a.protocol) - PROTOCOL_ORDER.indexOf(b.protocol) ||
    s(a.dataset ?? a.experiment).localeCompare(s(b.dataset ?? b.experiment)) ||
    s(a.experiment).localeCompare(s(b.experiment)) ||
    s(a.evalName).localeCompare(s(b.evalName)) ||
    a.variant.localeCompare(b.variant) ||
    (a.shots ?? 0) - (b.shots ?? 0) ||
    METRIC_ORDER.indexOf(a.metric) - METRIC_ORDER.indexOf(b.metric)
  );
}

/**
 * Leaderboard rows from evaluation results (`ResultsStore.results()`). Rows of runs that are not
 * done must already be absent; this function trusts its input.
 */
export function aggregate(results: ResultRow[], opts: LeaderboardOptions = {}): LeaderboardRow[] {
  const rs = opts.protocol ? results.filter((r) => r.protocol.kind === opts.protocol) : results;
  // one value per (run, evaluation name): a run that evaluates "val" every epoch counts its last
  const perRunEval = [...latestBy(rs, (r) => `${r.runId}\u0000${r.name}`).values()].sort((a, b) =>
    a.id - b.id
  );
  const of = (k: ProtocolKind) => perRunEval.filter((r) => r.protocol.kind === k);
  const rows = [
    ...zeroShot(of("zero-shot")),
    ...baseToNovel(of("base-to-novel")),
    ...fewShot(of("few-shot"), opts.fewShotEpoch ?? "final"),
    ...fullySupervised(of("fully-supervised")),
    ...custom(of("custom")),
  ];
  if (opts.includePaper) {
    const have = new Set(
      rows.map((r) => JSON.stringify([r.protocol, r.dataset, r.variant, r.shots, r.metric])),
    );
    for (const p of PAPER) {
      if (opts.protocol && p.protocol !== opts.protocol) continue;
      if (have.has(JSON.stringify([p.protocol, p.dataset, p.variant, p.shots ?? null, p.metric]))) continue;
      rows.push({
        protocol: p.protocol,
        dataset: p.dataset,
        experiment: null,
        evalName: null,
        variant: p.variant,
        shots: p.shots ?? null,
        metric: p.metric,
        value: null,
        paper: p.value,
        delta: null,
        parts: [],
        expectedParts: p.protocol === "base-to-novel" ||
            (p.protocol === "zero-shot" && ["hmdb", "ucf", "k600"].includes(p.dataset))
          ? 3
          : null,
        partial: false,
        runs: 0,
        runIds: [],
        views: [],
        notes: ["no run"],
        dropLast: "no",
      });
    }
  }
  return sortRows(rows);
}

export function leaderboard(store: ResultsStore, opts: LeaderboardOptions = {}): LeaderboardRow[] {
  return aggregate(store.results(opts.protocol), opts);
}

const f1 = (x: number | null) => (x === null ? "—" : x.toFixed(1));
const signed = (x: number | null) => (x === null ? "" : `${x >= 0 ? "+" : ""}${x.toFixed(1)}`);

/** A fixed-width terminal table; partial rows are marked with "*" and explained in the notes column. */
export function formatLeaderboard(rows: LeaderboardRow[]): string {
  if (rows.length === 0) return "no finished runs\n";
  const head = [
    "protocol",
    "dataset / experiment",
    "variant",
    "K",
    "metric",
    "ours",
    "paper",
    "Δ",
    "parts",
    "runs",
    "run ids",
    "notes",
  ];
  const body = rows.map((r) => [
    r.protocol,
    r.protocol === "custom" ? `${r.experiment}/${r.evalName}` : r.dataset ?? "?",
    r.variant,
    r.shots === null ? "" : String(r.shots),
    r.metric,
    f1(r.value) + (r.partial ? "*" : ""),
    f1(r.paper),
    signed(r.delta),
    r.expectedParts !== null
      ? `${r.parts.filter((p) => p !== null).length}/${r.expectedParts}`
      : r.parts.length
      ? r.parts.map((p) => p ?? "-").join(",")
      : "",
    String(r.runs),
    r.runIds.length > 4 ? `${r.runIds.slice(-4).join(",")},…` : r.runIds.join(","),
    [
      ...(r.views.length && r.views.join() !== "1×1" && !r.notes.some((n) => n.startsWith("views "))
        ? [`views ${r.views.join(",")}`]
        : []),
      ...r.notes,
    ].join("; "),
  ]);
  const numeric = new Set([3, 5, 6, 7, 9]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells: string[]) =>
    cells.map((c, i) =>
      i === cells.length - 1 ? c : numeric.has(i) ? c.padStart(widths[i]) : c.padEnd(widths[i])
    ).join("  ").trimEnd();
  return [line(head), line(widths.map((w) => "-".repeat(w))), ...body.map(line)].join("\n") + "\n";
}
