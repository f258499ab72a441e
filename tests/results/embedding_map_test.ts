// The embedding map: t-SNE keeps well-separated clusters apart, the same input gives the same bytes, the
// map is computed once and then read from the store, tiny evals do not break it, and a database made
// before the embedding_maps table existed upgrades in place.

import { DatabaseSync } from "node:sqlite";
import { backends } from "./backends.ts";
import { embeddingMap, subsampleIndices, tsne } from "../../lib/results/embedding-map.ts";
import { ResultsStore, SCHEMA_VERSION } from "../../lib/results/store.ts";

function assert(cond: unknown, what: string): asserts cond {
  if (!cond) throw new Error(what);
}

function sameBytes(a: Float32Array | Int32Array, b: Float32Array | Int32Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) return false;
  return true;
}

/** `k` Gaussian clusters (σ = 0.5) of `per` points in `dim` dimensions, centres 5√2 apart. */
function clusters(k: number, per: number, dim: number, seed: number) {
  let s = seed >>> 0;
  const u = () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s + 0.5) / 4294967296;
  };
  const g = () => Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u());
  const n = k * per;
  const vectors = new Float32Array(n * dim);
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    // interleaved labels, so that a map which kept input order would not look clustered
    const c = i % k;
    labels[i] = c;
    for (let d = 0; d < dim; d++) {
      // centre c sits at +5 on axis c: in 32 dimensions two points of one cluster are ≈ 4 apart and of two
      // clusters ≈ 8, with little spread either way
      vectors[i * dim + d] = (d === c ? 5 : 0) + 0.5 * g();
    }
  }
  return { vectors, labels, n, dim };
}

/** Fraction of points whose nearest other point in the map has the same label. */
function nnAgreement(points: Float32Array, labels: Int32Array): number {
  const n = labels.length;
  let agree = 0;
  for (let i = 0; i < n; i++) {
    let best = -1, bestD = Infinity;
    for (let j = 0; j < n; j++) {
      if (j === i) continue;
      const d = (points[2 * i] - points[2 * j]) ** 2 + (points[2 * i + 1] - points[2 * j + 1]) ** 2;
      if (d < bestD) bestD = d, best = j;
    }
    if (labels[best] === labels[i]) agree++;
  }
  return agree / n;
}

function withStore<T>(fn: (s: ResultsStore, dir: string) => T): T {
  const dir = Deno.makeTempDirSync({ prefix: "vifi-map-" });
  const s = ResultsStore.open(`${dir}/r.db`);
  try {
    return fn(s, dir);
  } finally {
    s.close();
    Deno.removeSync(dir, { recursive: true });
  }
}

function evalWith(s: ResultsStore, vectors: Float32Array, dim: number, labels: ArrayLike<number>): number {
  const run = s.startRun({
    experiment: "map",
    protocol: { kind: "fully-supervised", dataset: "synthetic" },
    variant: "vifi",
    config: {},
    commit: null,
    seed: 0,
    device: "test",
  });
  const classes = Math.max(1, ...Array.from(labels, (l) => l + 1));
  const id = s.addEval(run, {
    name: "val",
    clips: 1,
    crops: 1,
    top1: 50,
    top5: 100,
    count: labels.length,
    perClass: Array.from({ length: classes }, (_, i) => ({ name: `c${i}`, correct: 0, total: 0 })),
    confusion: Array.from({ length: classes }, () => new Array(classes).fill(0)),
  });
  s.addEmbeddings(id, {
    vectors,
    dim,
    labels,
    classNames: Array.from({ length: classes }, (_, i) => `c${i}`),
  });
  return id;
}

Deno.test("embedding map: t-SNE keeps well-separated Gaussian clusters apart (1-NN label agreement ≥ 0.95)", () => {
  const { vectors, labels, n, dim } = clusters(4, 40, 32, 11);
  for (const init of ["pca", "random"] as const) {
    const y = tsne(vectors, n, dim, { init, seed: 3 });
    assert(y.length === 2 * n, `${init}: ${y.length} values`);
    assert(y.every(Number.isFinite), `${init}: non-finite coordinates`);
    const agree = nnAgreement(y, labels);
    assert(agree >= 0.95, `${init}: nearest-neighbour label agreement ${agree}`);
    // the clusters must also be apart, not merely locally consistent: mean within-cluster distance well
    // below the mean distance between cluster centroids
    const cx = new Float64Array(4), cy = new Float64Array(4), cnt = new Float64Array(4);
    for (let i = 0; i < n; i++) cx[labels[i]] += y[2 * i], cy[labels[i]] += y[2 * i + 1], cnt[labels[i]]++;
    for (let c = 0; c < 4; c++) cx[c] /= cnt[c], cy[c] /= cnt[c];
    let within = 0;
    for (let i = 0; i < n; i++) within += Math.hypot(y[2 * i] - cx[labels[i]], y[2 * i + 1] - cy[labels[i]]);
    within /= n;
    let between = Infinity;
    for (let a = 0; a < 4; a++) {
      for (let b = a + 1; b < 4; b++) between = Math.min(between, Math.hypot(cx[a] - cx[b], cy[a] - cy[b]));
    }
    assert(between > 3 * within, `${init}: closest centroids ${between} vs mean spread ${within}`);
  }
});

Deno.test("embedding map: deterministic — same input and seed give the same bytes; the seed matters", () => {
  const { vectors, n, dim } = clusters(3, 20, 16, 5);
  for (const init of ["pca", "random"] as const) {
    const a = tsne(vectors, n, dim, { init, seed: 1, iterations: 300 });
    const b = tsne(vectors, n, dim, { init, seed: 1, iterations: 300 });
    assert(sameBytes(a, b), `${init}: two runs differ`);
  }
  const r1 = tsne(vectors, n, dim, { init: "random", seed: 1, iterations: 300 });
  const r2 = tsne(vectors, n, dim, { init: "random", seed: 2, iterations: 300 });
  assert(!sameBytes(r1, r2), "random init ignores the seed");
  assert(
    sameBytes(subsampleIndices(100, 10, 4), subsampleIndices(100, 10, 4)),
    "subsample not deterministic",
  );
});

for (const b of backends) {
  Deno.test(`embedding map [${b.name}]: computed once, then read from the store's embedding_maps row`, async () => {
    await b.with(({ target }) => {
      const s = ResultsStore.open(target);
      try {
        computedOnce(s);
      } finally {
        s.close();
      }
    });
  });
}

function computedOnce(s: ResultsStore) {
  {
    const { vectors, labels, dim } = clusters(2, 15, 8, 9);
    const id = evalWith(s, vectors, dim, labels);
    const first = embeddingMap(s, id, { iterations: 200 })!;
    assert(first && !first.cached, "first call should compute");
    assert(first.n === 30 && first.total === 30 && first.indices === null, "no subsampling expected");
    assert(first.perplexity === 29 / 3, `perplexity ${first.perplexity}`);
    assert(first.labels.every((l, i) => l === labels[i]), "labels");
    assert(first.classNames.join() === "c0,c1", `classNames ${first.classNames}`);
    const row = s.embeddingMapOf(id, first.method);
    assert(row && sameBytes(row.points, first.points), "the map was not stored");

    // Replace the stored row with a sentinel: a second call that recomputed would not return it.
    const sentinel = Float32Array.from({ length: 60 }, (_, i) => i);
    s.saveEmbeddingMap(id, first.method, sentinel);
    const second = embeddingMap(s, id, { iterations: 200 })!;
    assert(second.cached && sameBytes(second.points, sentinel), "second call did not read the table");

    // Other settings are another cache entry; refresh recomputes and overwrites.
    const other = embeddingMap(s, id, { iterations: 200, seed: 5, init: "random" })!;
    assert(!other.cached && other.method !== first.method, "other settings served from the cache");
    const fresh = embeddingMap(s, id, { iterations: 200, refresh: true })!;
    assert(!fresh.cached && sameBytes(fresh.points, first.points), "refresh did not recompute the same map");
    assert(sameBytes(s.embeddingMapOf(id, first.method)!.points, first.points), "refresh not stored");

    // New embeddings for the eval invalidate its maps.
    s.addEmbeddings(id, { vectors, dim, labels, classNames: ["c0", "c1"] });
    assert(s.embeddingMapOf(id, first.method) === null, "stale map kept after new embeddings");
  }
}

Deno.test("embedding map: evals with 0, 1, 2 or 3 videos; no embeddings → null; subsampling is reported", () => {
  withStore((s) => {
    const run = s.startRun({
      experiment: "map",
      protocol: { kind: "fully-supervised" },
      variant: "vifi",
      config: {},
      commit: null,
      seed: 0,
      device: "test",
    });
    const bare = s.addEval(run, {
      name: "x",
      clips: 1,
      crops: 1,
      top1: 0,
      top5: 0,
      count: 0,
      perClass: [],
      confusion: [],
    });
    assert(embeddingMap(s, bare) === null, "an eval without embeddings has no map");
    assert(embeddingMap(s, 999) === null, "a missing eval has no map");

    const zero = evalWith(s, new Float32Array(0), 4, []);
    const m0 = embeddingMap(s, zero)!;
    assert(m0.n === 0 && m0.points.length === 0 && m0.labels.length === 0, "N = 0");

    const one = evalWith(s, Float32Array.of(1, 2, 3, 4), 4, [0]);
    const m1 = embeddingMap(s, one)!;
    assert(m1.n === 1 && m1.points.length === 2 && m1.points.every((v) => v === 0), `N = 1: ${m1.points}`);

    for (const n of [2, 3]) {
      const v = Float32Array.from({ length: n * 4 }, (_, i) => (i % 4 === 0 ? Math.floor(i / 4) : 0));
      const id = evalWith(s, v, 4, new Array(n).fill(0));
      const m = embeddingMap(s, id)!;
      assert(m.n === n && m.points.length === 2 * n, `N = ${n}: ${m.points.length} values`);
      assert(m.points.every(Number.isFinite), `N = ${n}: non-finite ${m.points}`);
      // distinct inputs stay distinct points
      assert(Math.hypot(m.points[0] - m.points[2], m.points[1] - m.points[3]) > 0, `N = ${n}: collapsed`);
      assert(embeddingMap(s, id)!.cached, `N = ${n}: not cached`);
    }

    const { vectors, labels, n, dim } = clusters(2, 25, 8, 2);
    const big = evalWith(s, vectors, dim, labels);
    const m = embeddingMap(s, big, { maxPoints: 20, iterations: 100 })!;
    assert(m.n === 20 && m.total === n && m.indices?.length === 20, `subsample ${m.n}/${m.total}`);
    const idx = m.indices!;
    for (let k = 1; k < 20; k++) assert(idx[k] > idx[k - 1], "indices not strictly ascending");
    assert(idx.every((r, k) => m.labels[k] === labels[r]), "labels do not follow the subsample");
    assert(m.points.length === 40, `${m.points.length} values`);
    assert(embeddingMap(s, big, { maxPoints: 20, iterations: 100 })!.cached, "subsampled map not cached");
  });
});

Deno.test("embedding map: a database at the previous schema version upgrades and keeps its data", () => {
  const dir = Deno.makeTempDirSync({ prefix: "vifi-map-" });
  try {
    const path = `${dir}/old.db`;
    const { vectors, labels, dim } = clusters(2, 10, 4, 1);
    let s = ResultsStore.open(path);
    const id = evalWith(s, vectors, dim, labels);
    s.close();
    // What the code before embedding_maps left behind: the same tables minus that one (and minus the
    // later evals.drop_last and runs.slurm_job), at version 1.
    const raw = new DatabaseSync(path);
    raw.exec("DROP TABLE embedding_maps");
    raw.exec("ALTER TABLE evals DROP COLUMN drop_last");
    raw.exec("ALTER TABLE runs DROP COLUMN slurm_job");
    raw.exec("UPDATE schema_version SET version = 1");
    raw.close();

    s = ResultsStore.open(path);
    try {
      assert(s.schemaVersion() === SCHEMA_VERSION, `version ${s.schemaVersion()} after upgrade`);
      const e = s.embeddings(id);
      assert(e && e.n === 20 && sameBytes(e.vectors, vectors), "embeddings lost in the upgrade");
      const m = embeddingMap(s, id, { iterations: 100 })!;
      assert(!m.cached && s.embeddingMapOf(id, m.method) !== null, "map not stored after the upgrade");
    } finally {
      s.close();
    }
    // and a reopen at the current version is a plain read
    s = ResultsStore.open(path);
    assert(s.schemaVersion() === SCHEMA_VERSION, "version changed on reopen");
    s.close();
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
