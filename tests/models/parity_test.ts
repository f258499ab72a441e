// The measure the parity checks use for logits: the worst error in units of the logit scale.
import { cosineErr } from "../../lib/models/parity.ts";

function expectClose(got: number, want: number, what: string) {
  if (!(Math.abs(got - want) < 1e-12)) throw new Error(`${what}: ${got}, want ${want}`);
}

Deno.test("cosineErr is the largest logit difference over the logit scale", () => {
  expectClose(cosineErr([10, -20, 0.5], [10.3, -20, 0.5], 100), 0.003, "one moved logit");
  expectClose(cosineErr([1, 2, 3], [1, 2, 3], 100), 0, "identical");
  expectClose(cosineErr([0, 0], [0.2, -0.7], 14.3), 0.7 / 14.3, "the worst of two");
});

Deno.test("cosineErr stays small where a relative error of near-zero logits would explode", () => {
  // Cosines of 1e-3 read 1e-5 off: relatively 1 %, but 1e-5 of a cosine.
  expectClose(cosineErr([0.1 + 1e-3, -0.1], [0.1, -0.1 - 1e-3], 100), 1e-5, "near zero");
});

Deno.test("cosineErr reports NaN for a non-finite output or a length mismatch", () => {
  if (!Number.isNaN(cosineErr([NaN, 1], [0, 1], 100))) throw new Error("NaN output passed");
  if (!Number.isNaN(cosineErr([Infinity], [0], 100))) throw new Error("Infinity output passed");
  if (!Number.isNaN(cosineErr([1, 2], [1], 100))) throw new Error("length mismatch passed");
});
