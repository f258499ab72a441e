// Tensor.readSpan: a span of elements equals the same span of a whole read, for f32 and for f16 spans that
// start and end mid-word; a span outside the tensor is refused naming it.

import { assert, assertEquals } from "../data/assert.ts";
import { getRuntime } from "../../lib/gpu/runtime.ts";
import { Tensor } from "../../lib/tensor/tensor.ts";

Deno.test("readSpan equals the span of a whole read (f32, f16 at odd offsets); outside is refused", async () => {
  const rt = await getRuntime();
  for (const dtype of ["f32", "f16"] as const) {
    const data = Array.from({ length: 77 }, (_, i) => i - 38.5);
    const t = Tensor.from(rt, data, [7, 11], dtype, `span.${dtype}`);
    try {
      const all = await t.read();
      for (const [first, n] of [[0, 77], [1, 3], [3, 1], [13, 11], [76, 1], [5, 0]]) {
        assertEquals(
          [...await t.readSpan(first, n)],
          [...all.subarray(first, first + n)],
          `${dtype} ${first}+${n}`,
        );
      }
      let message = "";
      await t.readSpan(70, 8).catch((e) => message = (e as Error).message);
      assert(message.includes(`span.${dtype}`) && message.includes("[70, 78)"), message);
    } finally {
      t.dispose();
    }
  }
});
