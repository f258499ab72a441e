// A 2-D map of an evaluation's video embeddings for the dashboard: exact t-SNE (van der Maaten & Hinton
// 2008) with the optimiser settings scikit-learn uses (early exaggeration 12 for 250 iterations, momentum
// 0.5 → 0.8, delta-bar-delta gains, learning rate max(N / 12 / 4, 50)). Exact rather than Barnes-Hut
// because evals hold at most a few thousand videos and the map is computed once and cached in the store.
// Everything runs in float64 in a fixed order, so the same embeddings and seed give the same bytes.

import type { ResultsStore } from "./store.ts";

export interface EmbeddingMapOptions {
  /** default min(30, (N - 1) / 3), as the perplexity must stay well below the number of neighbours */
  perplexity?: number;
  /** seeds the subsample and the random init; default 0 */
  seed?: number;
  /** "pca" (default) or "random" (Gaussian, σ = 1e-4) */
  init?: "pca" | "random";
  /** gradient steps; default 1000 */
  iterations?: number;
  /** above this many videos a deterministic random subset is mapped; default 3000 */
  maxPoints?: number;
  /** recompute even if the store holds a map made with the same settings */
  refresh?: boolean;
}

export interface EmbeddingMap {
  /** n × 2, row-major */
  points: Float32Array;
  /** n label indices into classNames */
  labels: Int32Array;
  classNames: string[];
  /** points mapped */
  n: number;
  /** videos the eval holds; more than n when subsampled */
  total: number;
  /** when subsampled: the eval's row of each point (ascending); null when every video is mapped */
  indices: Int32Array | null;
  /** the cache key: the algorithm and every setting that changes its output */
  method: string;
  perplexity: number;
  /** true when read from the store rather than computed now */
  cached: boolean;
}

export interface TsneOptions {
  perplexity?: number;
  seed?: number;
  init?: "pca" | "random";
  iterations?: number;
}

const EXAGGERATION = 12;
const EXAGGERATION_ITERS = 250;
const MIN_GAIN = 0.01;

/** Deterministic 32-bit generator (mulberry32); the map must not depend on Math.random. */
function rng(seed: number): () => number {
  let a = (seed >>> 0) ^ 0x9e3779b9;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function gaussian(next: () => number): number {
  // Box-Muller; 1 - u keeps the logarithm finite
  const u = 1 - next(), v = next();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}

export function defaultPerplexity(n: number): number {
  return Math.min(30, (n - 1) / 3);
}

/** `k` of `n` row indices, ascending, chosen by a seeded shuffle. */
export function subsampleIndices(n: number, k: number, seed: number): Int32Array {
  const idx = Int32Array.from({ length: n }, (_, i) => i);
  const next = rng(seed ^ 0x5bd1e995);
  for (let i = 0; i < k; i++) {
    const j = i + Math.floor(next() * (n - i));
    const t = idx[i];
    idx[i] = idx[j];
    idx[j] = t;
  }
  return idx.slice(0, k).sort();
}

function squaredDistances(x: Float64Array, n: number, dim: number): Float64Array {
  const d = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      let s = 0;
      for (let k = 0; k < dim; k++) {
        const t = x[i * dim + k] - x[j * dim + k];
        s += t * t;
      }
      d[i * n + j] = s;
      d[j * n + i] = s;
    }
  }
  return d;
}

/**
 * Joint probabilities P (n × n, symmetric, summing to 1): per row a Gaussian whose precision is found by
 * bisection so that the row's entropy is log(perplexity), then (P + Pᵀ) / 2n.
 */
function jointProbabilities(d: Float64Array, n: number, perplexity: number): Float64Array {
  const p = new Float64Array(n * n);
  // a perplexity below 1 asks for less than one neighbour: the nearest one is as sharp as it gets
  const target = Math.log(Math.max(perplexity, 1));
  const row = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let beta = 1, lo = -Infinity, hi = Infinity;
    for (let step = 0; step < 100; step++) {
      let sum = 0, dsum = 0;
      for (let j = 0; j < n; j++) {
        const v = j === i ? 0 : Math.exp(-d[i * n + j] * beta);
        row[j] = v;
        sum += v;
      }
      if (sum === 0) {
        // every neighbour underflowed: the precision is too high
        hi = beta;
        beta = lo === -Infinity ? beta / 2 : (beta + lo) / 2;
        continue;
      }
      for (let j = 0; j < n; j++) {
        row[j] /= sum;
        dsum += d[i * n + j] * row[j];
      }
      const entropy = Math.log(sum) + beta * dsum;
      const diff = entropy - target;
      if (Math.abs(diff) < 1e-5) break;
      if (diff > 0) {
        lo = beta;
        beta = hi === Infinity ? beta * 2 : (beta + hi) / 2;
      } else {
        hi = beta;
        beta = lo === -Infinity ? beta / 2 : (beta + lo) / 2;
      }
    }
    for (let j = 0; j < n; j++) p[i * n + j] = row[j];
  }
  const scale = 1 / (2 * n);
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      const v = Math.max((p[i * n + j] + p[j * n + i]) * scale, 1e-12);
      p[i * n + j] = v;
      p[j * n + i] = v;
    }
    p[i * n + i] = 0;
  }
  return p;
}

/** Removes from `v` its projections on the (orthonormal) `comps`, in place; returns the remaining length. */
function deflatedNorm(v: Float64Array, comps: Float64Array[]): number {
  for (const u of comps) {
    let dot = 0;
    for (let k = 0; k < v.length; k++) dot += u[k] * v[k];
    for (let k = 0; k < v.length; k++) v[k] -= dot * u[k];
  }
  let norm = 0;
  for (let k = 0; k < v.length; k++) norm += v[k] * v[k];
  return Math.sqrt(norm);
}

/** The top two principal-component scores (n × 2), or null when the data has no spread. */
function pca2(x: Float64Array, n: number, dim: number): Float64Array | null {
  const c = new Float64Array(n * dim);
  for (let k = 0; k < dim; k++) {
    let m = 0;
    for (let i = 0; i < n; i++) m += x[i * dim + k];
    m /= n;
    for (let i = 0; i < n; i++) c[i * dim + k] = x[i * dim + k] - m;
  }
  const out = new Float64Array(n * 2);
  const xv = new Float64Array(n);
  const comps: Float64Array[] = [];
  for (let comp = 0; comp < 2; comp++) {
    // power iteration on XᵀX from a fixed start vector, deflating the components already found
    let v = Float64Array.from({ length: dim }, (_, k) => 1 + ((k * 7919) % 13) / 13);
    let lambda = 0;
    for (let it = 0; it < 200; it++) {
      const norm = deflatedNorm(v, comps);
      if (norm === 0) return null;
      for (let k = 0; k < dim; k++) v[k] /= norm;
      for (let i = 0; i < n; i++) {
        let s = 0;
        for (let k = 0; k < dim; k++) s += c[i * dim + k] * v[k];
        xv[i] = s;
      }
      const w = new Float64Array(dim);
      for (let i = 0; i < n; i++) {
        const s = xv[i];
        if (s !== 0) { for (let k = 0; k < dim; k++) w[k] += c[i * dim + k] * s; }
      }
      let wn = 0;
      for (let k = 0; k < dim; k++) wn += w[k] * v[k];
      const done = Math.abs(wn - lambda) <= 1e-10 * Math.abs(wn);
      lambda = wn;
      v = w;
      if (done) break;
    }
    const norm = deflatedNorm(v, comps);
    if (!(norm > 1e-12 * Math.max(1, lambda))) {
      if (comp === 0) return null;
      break; // rank one: the second coordinate stays 0
    }
    for (let k = 0; k < dim; k++) v[k] /= norm;
    // the sign of an eigenvector is arbitrary; fixing it keeps maps of similar data from mirroring
    let big = 0;
    for (let k = 0; k < dim; k++) if (Math.abs(v[k]) > Math.abs(v[big])) big = k;
    if (v[big] < 0) { for (let k = 0; k < dim; k++) v[k] = -v[k]; }
    comps.push(v);
    for (let i = 0; i < n; i++) {
      let s = 0;
      for (let k = 0; k < dim; k++) s += c[i * dim + k] * v[k];
      out[i * 2 + comp] = s;
    }
  }
  return out;
}

function initialLayout(
  x: Float64Array,
  n: number,
  dim: number,
  init: "pca" | "random",
  seed: number,
): Float64Array {
  if (init === "pca") {
    const y = pca2(x, n, dim);
    if (y) {
      // scikit-learn's scaling: the first coordinate gets std 1e-4, so early exaggeration starts from a
      // compact layout whatever the embedding's scale
      let m = 0, s = 0;
      for (let i = 0; i < n; i++) m += y[i * 2];
      m /= n;
      for (let i = 0; i < n; i++) s += (y[i * 2] - m) ** 2;
      const std = Math.sqrt(s / n);
      if (std > 0) {
        for (let i = 0; i < 2 * n; i++) y[i] *= 1e-4 / std;
        return y;
      }
    }
  }
  const next = rng(seed);
  return Float64Array.from({ length: 2 * n }, () => 1e-4 * gaussian(next));
}

/** Exact t-SNE of `n` rows of `x` (n × dim) to n × 2. */
export function tsne(x: ArrayLike<number>, n: number, dim: number, opts: TsneOptions = {}): Float32Array {
  if (x.length !== n * dim) throw new Error(`tsne: ${x.length} values for ${n} × ${dim}`);
  if (n === 0) return new Float32Array(0);
  if (n === 1) return new Float32Array(2);
  const xs = Float64Array.from(x);
  const perplexity = opts.perplexity ?? defaultPerplexity(n);
  const seed = opts.seed ?? 0;
  const iterations = opts.iterations ?? 1000;
  const y = initialLayout(xs, n, dim, opts.init ?? "pca", seed);
  if (n < 4) {
    // With fewer than four points the perplexity is below one and the exaggerated attraction overshoots
    // the 1e-4-sized start by orders of magnitude (two points end thousands of units apart); the initial
    // layout at unit scale says all there is to say.
    let big = 0;
    for (const v of y) big = Math.max(big, Math.abs(v));
    return Float32Array.from(y, (v) => (big > 0 ? v / big : 0));
  }
  const p = jointProbabilities(squaredDistances(xs, n, dim), n, perplexity);
  const lr = Math.max(n / EXAGGERATION / 4, 50);
  const update = new Float64Array(2 * n);
  const gains = new Float64Array(2 * n).fill(1);
  const grad = new Float64Array(2 * n);
  for (let it = 0; it < iterations; it++) {
    const early = it < EXAGGERATION_ITERS;
    const exaggeration = early ? EXAGGERATION : 1;
    const momentum = early ? 0.5 : 0.8;
    // Z = Σ_{k≠l} (1 + |y_k - y_l|²)⁻¹; recomputing the kernel below is cheaper than an n × n buffer
    let z = 0;
    for (let i = 0; i < n; i++) {
      const yi0 = y[2 * i], yi1 = y[2 * i + 1];
      for (let j = i + 1; j < n; j++) {
        const a = yi0 - y[2 * j], b = yi1 - y[2 * j + 1];
        z += 2 / (1 + a * a + b * b);
      }
    }
    const invZ = 1 / Math.max(z, 1e-300);
    grad.fill(0);
    for (let i = 0; i < n; i++) {
      const yi0 = y[2 * i], yi1 = y[2 * i + 1];
      for (let j = i + 1; j < n; j++) {
        const a = yi0 - y[2 * j], b = yi1 - y[2 * j + 1];
        const q = 1 / (1 + a * a + b * b);
        const f = 4 * (exaggeration * p[i * n + j] - q * invZ) * q;
        grad[2 * i] += f * a;
        grad[2 * i + 1] += f * b;
        grad[2 * j] -= f * a;
        grad[2 * j + 1] -= f * b;
      }
    }
    for (let k = 0; k < 2 * n; k++) {
      const g = grad[k];
      gains[k] = update[k] * g < 0 ? gains[k] + 0.2 : Math.max(gains[k] * 0.8, MIN_GAIN);
      update[k] = momentum * update[k] - lr * gains[k] * g;
      y[k] += update[k];
    }
  }
  // centred, so that maps differ only by what the data makes them differ by
  let m0 = 0, m1 = 0;
  for (let i = 0; i < n; i++) m0 += y[2 * i], m1 += y[2 * i + 1];
  m0 /= n, m1 /= n;
  const out = new Float32Array(2 * n);
  for (let i = 0; i < n; i++) out[2 * i] = y[2 * i] - m0, out[2 * i + 1] = y[2 * i + 1] - m1;
  return out;
}

/**
 * The eval's stored embeddings mapped to 2-D by t-SNE, computed on first use and read from the store
 * afterwards; null when the eval has no embeddings.
 */
export function embeddingMap(
  store: ResultsStore,
  evalId: number,
  opts: EmbeddingMapOptions = {},
): EmbeddingMap | null {
  const e = store.embeddings(evalId);
  if (!e) return null;
  const seed = opts.seed ?? 0;
  const maxPoints = Math.max(1, Math.floor(opts.maxPoints ?? 3000));
  const indices = e.n > maxPoints ? subsampleIndices(e.n, maxPoints, seed) : null;
  const n = indices ? indices.length : e.n;
  const perplexity = opts.perplexity ?? defaultPerplexity(n);
  const init = opts.init ?? "pca";
  const iterations = opts.iterations ?? 1000;
  // every setting that changes the output is in the key, so a map made otherwise is never served
  const method = `tsne:perplexity=${perplexity}:init=${init}:seed=${seed}:iterations=${iterations}` +
    `:max=${maxPoints}`;
  let labels = e.labels;
  let vectors = e.vectors;
  if (indices) {
    labels = Int32Array.from(indices, (i) => e.labels[i]);
    vectors = new Float32Array(n * e.dim);
    indices.forEach((r, k) => vectors.set(e.vectors.subarray(r * e.dim, (r + 1) * e.dim), k * e.dim));
  }
  const base = { labels, classNames: e.classNames, n, total: e.n, indices, method, perplexity };
  if (!opts.refresh) {
    const hit = store.embeddingMapOf(evalId, method);
    // a row of the wrong size was made from other embeddings; recompute rather than misplace points
    if (hit && hit.points.length === 2 * n) return { ...base, points: hit.points, cached: true };
  }
  const points = tsne(vectors, n, e.dim, { perplexity, seed, init, iterations });
  store.saveEmbeddingMap(evalId, method, points);
  return { ...base, points, cached: false };
}
