// Seeded random numbers for everything that draws: the trainer's shuffling and augmentation, the
// sampler's random offsets, weight initialisation, synthetic data, and the self-checks, tests and
// benchmarks (which print their seed so a failure can be replayed with VIFI_SEED=<seed>).

export class Rng {
  private s: number;
  constructor(readonly seed: number) {
    this.s = seed >>> 0 || 0x9e3779b9;
  }

  /** uniform in [0, 1) (mulberry32) */
  next(): number {
    let t = (this.s = (this.s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  uniform(lo = -1, hi = 1): number {
    return lo + (hi - lo) * this.next();
  }

  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  normal(): number {
    const u = 1 - this.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.next());
  }

  /** n values in [lo, hi); rounded to f16 when `f16` so the CPU reference sees what the GPU sees. */
  array(n: number, lo = -1, hi = 1, f16 = false): Float64Array {
    const a = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const v = this.uniform(lo, hi);
      a[i] = f16 ? Math.f16round(v) : Math.fround(v);
    }
    return a;
  }

  normals(n: number, std = 1, f16 = false): Float64Array {
    const a = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const v = this.normal() * std;
      a[i] = f16 ? Math.f16round(v) : Math.fround(v);
    }
    return a;
  }
}

/** The seed for this process: VIFI_SEED if set, else fresh (a browser page has no environment). */
export function sessionSeed(): number {
  let env: string | undefined;
  try {
    if (typeof Deno !== "undefined") env = Deno.env.get("VIFI_SEED");
  } catch { /* no env permission */ }
  if (env) return Number(env) >>> 0;
  return (Math.random() * 2 ** 32) >>> 0;
}
