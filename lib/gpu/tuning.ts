// The kernel choices measured on this adapter: for an op family ("matmul", "attention", …) and a shape
// class (a string the family derives from the shapes that change which kernel is fastest), the id of
// the candidate that won. Ops ask `get` before falling back to their heuristic; the tuner (lib/tune/)
// fills it and saves it to a per-adapter file in the cache folder, which `loadTuning` reads back when
// the process-wide runtime starts. The file itself is read and written by tuning-cache.ts, which
// getRuntime loads only under Deno: a browser bundle of the runtime must not carry file I/O (node:path).
//
// A cache is only trusted for the adapter, driver and vifi version that measured it: a new driver or
// new kernels can change the winner (or retire a candidate id), so a file measured under anything else
// is stale and ignored with a warning rather than silently applied.

/** What the tuner measured for a choice (shown by `deno task tune --show`; ops read only the id). */
export interface TuningDetail {
  /** the winner's time per run */
  ms?: number;
  /** the heuristic's choice and its time, when it ran */
  heuristic?: string;
  heuristicMs?: number;
  /** the shape that was timed for this class, e.g. "1576x3072x768 transB f32" */
  shape?: string;
}

export interface TuningEntry extends TuningDetail {
  family: string;
  shapeClass: string;
  candidate: string;
}

export class Tuning {
  readonly #choices = new Map<string, string>();
  readonly #details = new Map<string, TuningDetail>();

  /** The measured winner for this family and shape class, or undefined (the op's heuristic decides). */
  get(family: string, shapeClass: string): string | undefined {
    return this.#choices.get(`${family}|${shapeClass}`);
  }

  set(family: string, shapeClass: string, candidate: string, detail?: TuningDetail): void {
    this.#choices.set(`${family}|${shapeClass}`, candidate);
    if (detail) this.#details.set(`${family}|${shapeClass}`, detail);
    else this.#details.delete(`${family}|${shapeClass}`);
  }

  /** Every choice, as [family, shape class, candidate]. */
  entries(): [string, string, string][] {
    return [...this.#choices].map(([k, v]) => {
      const i = k.indexOf("|");
      return [k.slice(0, i), k.slice(i + 1), v];
    });
  }

  /** Every choice with what was measured for it. */
  records(): TuningEntry[] {
    return this.entries().map(([family, shapeClass, candidate]) => ({
      family,
      shapeClass,
      candidate,
      ...this.#details.get(`${family}|${shapeClass}`),
    }));
  }

  clear(): void {
    this.#choices.clear();
    this.#details.clear();
  }
}
