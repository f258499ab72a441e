// The WGSL preprocessor ({{NAME}}, #if / #else / #endif, #unroll) and the pipeline cache keyed by
// file, entry point and spec.

import { assert, assertEquals, assertThrows } from "../data/assert.ts";
import {
  expandIncludes,
  kernelText,
  PipelineCache,
  preprocess,
  type Spec,
  specKey,
} from "../../lib/gpu/kernels.ts";
import { getRuntime } from "../../lib/gpu/runtime.ts";

const lines = (...l: string[]) => l.join("\n");

Deno.test("preprocess substitutes {{NAME}} and keeps the lines #if leaves out as blank lines", () => {
  const src = lines(
    "alias T = {{T}};",
    "#if F16",
    "enable f16;",
    "#else",
    "// f32",
    "#endif",
    "const W = {{W}}u;",
  );
  assertEquals(
    preprocess(src, { T: "f16", F16: true, W: 64 }),
    lines("alias T = f16;", "enable f16;", "", "const W = 64u;"),
  );
  assertEquals(
    preprocess(src, { T: "f32", F16: false, W: 8 }),
    lines("alias T = f32;", "", "// f32", "const W = 8u;"),
  );
});

Deno.test("preprocess: #if !NAME, nesting, and what counts as false", () => {
  const src = lines("#if A", "#if !B", "a-not-b", "#else", "a-and-b", "#endif", "#else", "not-a", "#endif");
  const run = (spec: Spec) => preprocess(src, spec).split("\n").filter((l) => l !== "");
  assertEquals(run({ A: true, B: false }), ["a-not-b"]);
  assertEquals(run({ A: 1, B: "x" }), ["a-and-b"]);
  for (const no of [false, 0, "", "0"]) {
    assertEquals(run({ A: no, B: true }), ["not-a"], `A = ${JSON.stringify(no)}`);
  }
  // The inner #else of a skipped branch must not switch output back on.
  assertEquals(run({ A: false, B: true }), ["not-a"]);
});

Deno.test("preprocess: #unroll by a number, a spec name and NAME/d, nested", () => {
  const src = lines(
    "#unroll i TM",
    "#unroll j 2",
    "x{{i}}{{j}}",
    "#endunroll",
    "#endunroll",
    "#unroll k TN/4",
    "y{{k}}",
    "#endunroll",
  );
  assertEquals(preprocess(src, { TM: 2, TN: 12 }), lines("x00", "x01", "x10", "x11", "y0", "y1", "y2"));
  assertEquals(preprocess(src, { TM: 0, TN: 3 }), "");
});

Deno.test("preprocess refuses malformed input and spec keys the shader does not read", () => {
  assertThrows(() => preprocess("{{N}}", {}, "f.wgsl"), "kernels/f.wgsl:1: {{N}} but the spec has no N");
  assertThrows(() => preprocess("#if X\n#endif", {}), "#if X but the spec has no X");
  assertThrows(() => preprocess("#if X\na", { X: 1 }), "unterminated #if");
  assertThrows(() => preprocess("#else", {}), "#else without #if");
  assertThrows(() => preprocess("#endif", {}), "#endif without #if");
  assertThrows(() => preprocess("#unroll i 2\na", {}), "#unroll i is not closed");
  assertThrows(() => preprocess("#endunroll", {}), "#endunroll without #unroll");
  assertThrows(() => preprocess("#unroll i N\n#endunroll", {}), "#unroll i N but the spec has no N");
  assertThrows(() => preprocess("x", { UNUSED: 1 }), "spec key UNUSED is not read by the shader");
  // A name read only inside a skipped branch still counts as read: the choice of branch depends on it.
  assertEquals(preprocess("#if A\n{{T}}\n#endif", { A: false, T: "f32" }), "");
});

// A made-up kernels/ folder for #include: name → text; a name not here fails to load like a missing file.
function loader(files: Record<string, string>) {
  const asked: string[] = [];
  const load = (f: string) => {
    asked.push(f);
    return f in files
      ? Promise.resolve(files[f])
      : Promise.reject(new Error(`cannot load kernel ${f}: HTTP 404`));
  };
  return { load, asked };
}

async function rejects(p: Promise<unknown>, text: string): Promise<void> {
  let message = "";
  try {
    await p;
  } catch (e) {
    message = e instanceof Error ? e.message : String(e);
  }
  assert(
    message.includes(text),
    `expected an error with ${JSON.stringify(text)}, got ${JSON.stringify(message)}`,
  );
  assert(!message.includes("\n"), `not one line: ${JSON.stringify(message)}`);
}

Deno.test("#include: the file's text in its place, nested, each file once", async () => {
  const { load, asked } = loader({
    "a.wgsl": lines("// a", '#include "c.wgsl"', "fn a() {}"),
    "b.wgsl": lines('#include "c.wgsl"', "fn b() {}"),
    "c.wgsl": "const C = {{C}}u;",
  });
  const top = lines('#include "a.wgsl"', "main", '  #include "b.wgsl"  ');
  const text = await expandIncludes(top, "top.wgsl", load);
  // c.wgsl comes in through a.wgsl; b.wgsl's second #include of it is left out (a clash otherwise).
  assertEquals(text, lines("// a", "const C = {{C}}u;", "fn a() {}", "main", "", "fn b() {}"));
  assertEquals(asked, ["a.wgsl", "c.wgsl", "b.wgsl"]);
  // Spec keys read only in an included file count as read, and #if in it sees the includer's spec.
  assertEquals(preprocess(text, { C: 3 }, "top.wgsl").split("\n")[1], "const C = 3u;");
  const cond = await expandIncludes(
    '#include "d.wgsl"',
    "top.wgsl",
    loader({ "d.wgsl": "#if X\nx\n#endif" }).load,
  );
  assertEquals(preprocess(cond, { X: true }), "x");
  assertThrows(() => preprocess(text, { C: 3, D: 1 }, "top.wgsl"), "spec key D is not read");
  // Without expansion the preprocessor refuses the directive instead of passing it to the compiler.
  assertThrows(() => preprocess(top, {}, "top.wgsl"), "kernels/top.wgsl:1: #include left in the text");
});

Deno.test("#include refuses a cycle, a missing file and a malformed line, naming them", async () => {
  const { load } = loader({
    "a.wgsl": '#include "b.wgsl"',
    "b.wgsl": lines("x", '#include "a.wgsl"'),
    "self.wgsl": '#include "self.wgsl"',
    "m.wgsl": '#include "gone.wgsl"',
  });
  await rejects(expandIncludes('#include "a.wgsl"', "top.wgsl", load), "a.wgsl -> b.wgsl -> a.wgsl");
  await rejects(expandIncludes('#include "a.wgsl"', "top.wgsl", load), "kernels/b.wgsl:2");
  await rejects(expandIncludes('#include "self.wgsl"', "self.wgsl", load), "self.wgsl -> self.wgsl");
  await rejects(
    expandIncludes('#include "m.wgsl"', "top.wgsl", load),
    'kernels/m.wgsl:1: #include "gone.wgsl"',
  );
  await rejects(
    expandIncludes("#include <x.wgsl>", "top.wgsl", load),
    "kernels/top.wgsl:1: malformed #include",
  );
  // The real loader: a file that is not in kernels/.
  await rejects(expandIncludes('#include "no-such-file.wgsl"', "t.wgsl"), '#include "no-such-file.wgsl"');
});

Deno.test("specKey is independent of key order and differs with any value", () => {
  assertEquals(specKey({ B: 2, A: "x", C: true }), "A=x,B=2,C=true");
  assertEquals(specKey({ A: "x", C: true, B: 2 }), specKey({ C: true, B: 2, A: "x" }));
  assert(specKey({ A: 1 }) !== specKey({ A: 2 }));
});

const LN_F32 = { F16: false, T: "f32", WG: 64, VEC4: false, TEX: false, RESIDUAL: false };

Deno.test("a kernel's text for a define set: layernorm with and without COOP", async () => {
  const src = await kernelText("layernorm.wgsl");
  const coop = preprocess(src, { ...LN_F32, TPR: 4, COOP: true }, "layernorm.wgsl");
  const solo = preprocess(src, { ...LN_F32, TPR: 1, COOP: false }, "layernorm.wgsl");
  // The row reductions come from row_reduce.wgsl through #include, specialized by layernorm's spec.
  assert(coop.includes("var<workgroup> row_red: array<vec2f, 64>;"), "COOP: no workgroup array");
  assert(!/^\s*#include/m.test(coop), "#include left in the text");
  assert(coop.includes("const TPR: u32 = 4u;"), "TPR not substituted");
  const code = (text: string) => text.split("\n").filter((l) => !l.trim().startsWith("//")).join("\n");
  assert(!/workgroupBarrier|row_red\[/.test(code(solo)), "COOP off still has barriers");
  assert(!solo.includes("enable f16") && !solo.includes("{{"), "unexpanded text left");
  assert(preprocess(src, { ...LN_F32, F16: true, T: "f16", TPR: 1, COOP: false }).includes("enable f16;"));
});

Deno.test("the pipeline cache: same spec, same pipeline; another define or entry, another", async () => {
  const rt = await getRuntime();
  const cache = new PipelineCache(rt.device);
  const solo = { ...LN_F32, TPR: 1, COOP: false };
  const a = await cache.pipeline("layernorm.wgsl", "forward", solo);
  // The key ignores the order of the spec's keys.
  const b = await cache.pipeline("layernorm.wgsl", "forward", {
    COOP: false,
    TPR: 1,
    WG: 64,
    T: "f32",
    F16: false,
    RESIDUAL: false,
    TEX: false,
    VEC4: false,
  });
  assert(a === b, "the same spec compiled twice");
  assertEquals([cache.compiled, cache.size], [1, 1]);
  const coop = await cache.pipeline("layernorm.wgsl", "forward", { ...LN_F32, TPR: 4, COOP: true });
  assert(coop !== a, "another define got the cached pipeline");
  const bwd = await cache.pipeline("layernorm.wgsl", "backward", solo);
  assert(bwd !== a, "another entry point got the cached pipeline");
  assertEquals([cache.compiled, cache.size], [3, 3]);
  assert(a.label.includes("layernorm.wgsl#forward") && a.label.includes(specKey(solo)), a.label);
  // Concurrent requests share one compilation.
  const [c, d] = await Promise.all([
    cache.pipeline("logit_scale.wgsl", "forward"),
    cache.pipeline("logit_scale.wgsl", "forward", {}),
  ]);
  assert(c === d, "two concurrent requests compiled twice");
  assertEquals(cache.compiled, 4);
});

Deno.test("the pipeline cache does not keep a failure", async () => {
  const rt = await getRuntime();
  const cache = new PipelineCache(rt.device);
  let message = "";
  try {
    await cache.pipeline("layernorm.wgsl", "forward", { F16: false, T: "f32" });
  } catch (e) {
    message = e instanceof Error ? e.message : String(e);
  }
  assert(message.includes("the spec has no"), `expected a missing-key error, got ${JSON.stringify(message)}`);
  await new Promise((r) => setTimeout(r, 0));
  assertEquals([cache.size, cache.compiled], [0, 0]);
  const ok = await cache.pipeline("layernorm.wgsl", "forward", { ...LN_F32, TPR: 1, COOP: false });
  assert(ok instanceof GPUComputePipeline);
  assertEquals([cache.size, cache.compiled], [1, 1]);
});
