// The LayerNorm row of the op registry: every launch layout it offers computes LayerNorm forward and
// backward right at odd shapes (its float64 check passes), an id that is no layout is refused rather than
// checked, and a training step lists both towers' LayerNorm widths.

import { assert, assertEquals } from "../data/assert.ts";
import { getRuntime } from "../../lib/gpu/runtime.ts";
import { clipConfig } from "../../lib/models/config.ts";
import { Rng } from "../../lib/random/rng.ts";
import { LAYERNORM_FAMILY, type LayerNormShape } from "../../lib/tune/families/layernorm.ts";
import { familyNamed } from "../../lib/tune/registry.ts";
import { trainingStepShapes } from "../../lib/tune/shapes.ts";

Deno.test("tune layernorm family: every candidate passes its float64 check at odd shapes", async () => {
  const rt = await getRuntime();
  assertEquals(familyNamed("layernorm"), LAYERNORM_FAMILY);
  const shapes: LayerNormShape[] = [{ rows: 3, width: 68, dtype: "f32" }, {
    rows: 77,
    width: 64,
    dtype: "f32",
  }];
  for (const s of shapes) {
    const trial = LAYERNORM_FAMILY.prepare(rt, s, new Rng(7));
    try {
      const ids = LAYERNORM_FAMILY.candidates(rt, s);
      assert(ids.length >= 3, `${ids}`);
      for (const id of ids) {
        const r = await trial.check(id);
        assert(r.err < 1, `${LAYERNORM_FAMILY.label(s)} ${id}: ${r.err} (${r.what})`);
      }
    } finally {
      trial.dispose();
    }
  }
});

Deno.test("tune layernorm family: an id that is no layout is refused in one line", async () => {
  const rt = await getRuntime();
  const s: LayerNormShape = { rows: 5, width: 64, dtype: "f32" };
  const trial = LAYERNORM_FAMILY.prepare(rt, s, new Rng(3));
  try {
    let message = "";
    await trial.check("coop-3").catch((e) => message = (e as Error).message);
    assert(message.includes('variant "coop-3" is not one of'), message);
  } finally {
    trial.dispose();
  }
});

Deno.test("tune layernorm family: a training step lists both towers' LayerNorm widths", () => {
  const c = clipConfig("ViT-B/16");
  const s = trainingStepShapes(c, { batch: 2, frames: 8, classes: 5, dtype: "f32" });
  assertEquals(s.layernorm.map((x) => [x.shape.rows, x.shape.width]), [[2 * 8 * 197, 768], [5 * 77, 512]]);
});
