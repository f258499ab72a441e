// Per-factor accuracy of a synthetic evaluation, from hand-made confusion matrices whose answers are
// counted by hand; names outside the synthetic world are refused naming the class.

import { factorAccuracy, factorsOf } from "../../lib/data/factors.ts";
import { assertEquals, assertThrows } from "./assert.ts";

const names = ["red circle moving left", "red square moving up", "blue circle moving up"];

Deno.test("factor accuracy counts, per factor, the videos whose predicted class shares the true value", () => {
  // rows = true, columns = predicted
  const confusion = [
    [2, 1, 0], // red circle left: 2 right; 1 → red square up (colour only)
    [0, 0, 3], // red square up: 3 → blue circle up (direction only)
    [1, 0, 1], // blue circle up: 1 → red circle left (shape only); 1 right
  ];
  const f = factorAccuracy(names, confusion);
  assertEquals(f.videos, 8);
  // colour right: 2 + 1 + 1 = 4; shape: 2 + 1 + 1 = 4; motion: 2 + 3 + 1 = 6
  assertEquals([f.colour, f.shape, f.motion], [50, 50, 75]);
  assertEquals(factorAccuracy(names, [[0, 0, 0], [0, 0, 0], [0, 0, 0]]).colour, 0, "no videos");
});

Deno.test("only synthetic class names and square matrices of their size are taken", () => {
  assertEquals(factorsOf("yellow triangle moving down"), {
    colour: "yellow",
    shape: "triangle",
    motion: "down",
  });
  assertThrows(
    () => factorsOf("purple circle moving left"),
    'class "purple circle moving left" is not a synthetic',
  );
  assertThrows(() => factorsOf("red circle moving  left"), "is not a synthetic");
  assertThrows(() => factorAccuracy(names, [[1, 0], [0, 1]]), "the confusion matrix is not 3 × 3");
});
