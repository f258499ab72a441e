// The kernel choices measured on this adapter: for an op family ("matmul", "attention", …) and a shape
// class (a string the family derives from the shapes that change which kernel is fastest), the id of
// the candidate that won. Ops ask `get` before falling back to their heuristic; the tuner fills it.

export class Tuning {
  readonly #choices = new Map<string, string>();

  /** The measured winner for this family and shape class, or undefined (the op's heuristic decides). */
  get(family: string, shapeClass: string): string | undefined {
    return this.#choices.get(`${family}|${shapeClass}`);
  }

  set(family: string, shapeClass: string, candidate: string): void {
    this.#choices.set(`${family}|${shapeClass}`, candidate);
  }

  /** Every choice, as [family, shape class, candidate]. */
  entries(): [string, string, string][] {
    return [...this.#choices].map(([k, v]) => {
      const i = k.indexOf("|");
      return [k.slice(0, i), k.slice(i + 1), v];
    });
  }

  clear(): void {
    this.#choices.clear();
  }
}
