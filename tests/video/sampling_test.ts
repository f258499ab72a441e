import {
  roundHalfEven,
  sampleMultiClip,
  sampleTestIndices,
  sampleTrainIndices,
} from "../../lib/video/sampling.ts";
import { Rng, sessionSeed } from "../../lib/random/rng.ts";
import { assert, assertEquals, assertThrows } from "../data/assert.ts";

const seed = sessionSeed();
console.log(`sampling tests seed ${seed} (VIFI_SEED=${seed} to replay)`);

Deno.test("roundHalfEven matches numpy around", () => {
  const cases: [number, number][] = [[0.5, 0], [1.5, 2], [2.5, 2], [3.5, 4], [0.49, 0], [0.51, 1], [2, 2], [
    0,
    0,
  ], [4.625, 5]];
  for (const [x, want] of cases) assertEquals(roundHalfEven(x), want, `around(${x})`);
});

Deno.test("test sampling: segment centres", () => {
  // N=32, T=8: seg 4, centres 2, 6, ..., 30
  assertEquals([...sampleTestIndices(32, 8)], [2, 6, 10, 14, 18, 22, 26, 30]);
  // N=10, T=4: seg 2.5 → ⌊1.25⌋, ⌊3.75⌋, ⌊6.25⌋, ⌊8.75⌋
  assertEquals([...sampleTestIndices(10, 4)], [1, 3, 6, 8]);
  // N < T repeats: N=3, T=8: seg .375 → ⌊.1875 + .375 i⌋
  assertEquals([...sampleTestIndices(3, 8)], [0, 0, 0, 1, 1, 2, 2, 2]); // .19 .56 .94 1.31 1.69 2.06 2.44 2.81
  assertEquals([...sampleTestIndices(0, 4)], [0, 0, 0, 0]);
  assertEquals([...sampleTestIndices(1, 3)], [0, 0, 0]);
});

Deno.test("train sampling, N < T: half-even rounding of i·N/T, repeats, wrap", () => {
  const rng = new Rng(seed);
  // ratio .5: 0, .5→0, 1, 1.5→2, 2, 2.5→2, 3, 3.5→4, 4, 4.5→4
  assertEquals([...sampleTrainIndices(5, 10, rng)], [0, 0, 1, 2, 2, 2, 3, 4, 4, 4]);
  // ratio .375: 0, .375, .75, 1.125, 1.5, 1.875, 2.25, 2.625 → 0 0 1 1 2 2 2 3; 3 wraps to 0
  assertEquals([...sampleTrainIndices(3, 8, rng)], [0, 0, 1, 1, 2, 2, 2, 0]);
  // ratio .25: 0, .25, .5→0, .75→1 → index 1 wraps to 0 for N=1
  assertEquals([...sampleTrainIndices(1, 4, rng)], [0, 0, 0, 0]);
  // ratio 2/3 (inexact in binary): 0, .667→1, 1.333→1
  assertEquals([...sampleTrainIndices(2, 3, rng)], [0, 1, 1]);
  assertEquals([...sampleTrainIndices(0, 4, rng)], [0, 0, 0, 0]);
});

Deno.test("train sampling, seg > 0: one uniform offset per segment covering 0..seg-1", () => {
  const rng = new Rng(seed);
  const n = 37, t = 8, seg = 4; // ⌊37/8⌋ = 4; frames 32..36 are never sampled
  const counts = Array.from({ length: t }, () => new Array(seg).fill(0));
  const trials = 4000;
  for (let k = 0; k < trials; k++) {
    const idx = sampleTrainIndices(n, t, rng);
    for (let i = 0; i < t; i++) {
      const off = idx[i] - i * seg;
      assert(off >= 0 && off < seg, `index ${idx[i]} outside segment ${i}`);
      counts[i][off]++;
    }
  }
  // each offset expects 1000 draws; 6 standard deviations (~164) is a generous band
  for (const c of counts) {
    for (const v of c) assert(Math.abs(v - trials / seg) < 6 * Math.sqrt(trials * 0.25 * 0.75), `${c}`);
  }
  // seg = 1 is deterministic
  assertEquals([...sampleTrainIndices(8, 8, rng)], [0, 1, 2, 3, 4, 5, 6, 7]);
});

Deno.test("multi-clip: independent training draws, clip-major", () => {
  const a = sampleMultiClip(100, 8, 4, new Rng(seed));
  const r = new Rng(seed);
  const b = [0, 1, 2, 3].flatMap(() => [...sampleTrainIndices(100, 8, r)]);
  assertEquals([...a], b);
  assertEquals(a.length, 32);
  for (let c = 0; c < 4; c++) {
    for (let i = 0; i < 8; i++) assert(a[c * 8 + i] >= i * 12 && a[c * 8 + i] < (i + 1) * 12);
  }
  assertEquals([...sampleMultiClip(3, 8, 2, new Rng(1))], [0, 0, 1, 1, 2, 2, 2, 0, 0, 0, 1, 1, 2, 2, 2, 0]);
});

Deno.test("sampling: bad arguments", () => {
  assertThrows(() => sampleTestIndices(-1, 8), "frame count");
  assertThrows(() => sampleTrainIndices(10, 0, new Rng(1)), "number of frames");
  assertThrows(() => sampleMultiClip(10, 8, 0, new Rng(1)), "clips");
});
