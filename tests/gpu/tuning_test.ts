// The per-adapter tuning cache: what is saved is loaded back exactly, a corrupt or stale file (another
// vifi version, driver or schema) is ignored with one warning line, VIFI_TUNING=off loads nothing.

import { assert, assertEquals } from "../data/assert.ts";
import { getRuntime } from "../../lib/gpu/runtime.ts";
import { Tuning } from "../../lib/gpu/tuning.ts";
import { loadTuning, saveTuning, tuningKey, tuningPath } from "../../lib/gpu/tuning-cache.ts";
import { withEnv } from "../with_env.ts";

async function fixture() {
  const rt = await getRuntime();
  const dir = await Deno.makeTempDir({ prefix: "vifi-tuning-" });
  const fresh = () => ({ tuning: new Tuning(), gpu: rt.gpu });
  const warnings: string[] = [];
  // `deno task test` sets VIFI_TUNING=off for the whole suite; these tests read the cache on purpose
  const load = (into = fresh(), tuningEnv = "") =>
    withEnv(
      "VIFI_TUNING",
      tuningEnv,
      () => loadTuning(into, { cacheDir: dir, warn: (l) => warnings.push(l) }),
    )
      .then((r) => ({ r, into }));
  return { rt, dir, fresh, warnings, load };
}

Deno.test("tuning cache: a saved cache loads back every choice and its details", async () => {
  const { dir, fresh, warnings, load } = await fixture();
  try {
    const src = fresh();
    src.tuning.set("matmul", "f32:m1576:n3072:k768:nt", "texture", {
      ms: 12.5,
      heuristic: "blocked",
      shape: "x",
    });
    src.tuning.set("attention", "L17x17:dh32:f32", "composed");
    const path = await saveTuning(src, dir);
    assertEquals(path, tuningPath(src.gpu, dir));
    const { r, into } = await load();
    assertEquals(r.status, "loaded");
    assertEquals(r.loaded, 2);
    assertEquals(into.tuning.get("matmul", "f32:m1576:n3072:k768:nt"), "texture");
    assertEquals(into.tuning.get("attention", "L17x17:dh32:f32"), "composed");
    assertEquals(into.tuning.get("attention", "L18x18:dh32:f32"), undefined);
    assertEquals(into.tuning.records(), src.tuning.records());
    assertEquals(warnings, []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("tuning cache: none yet is no warning and no choices", async () => {
  const { dir, warnings, load } = await fixture();
  try {
    const { r, into } = await load();
    assertEquals(r.status, "missing");
    assertEquals(into.tuning.entries(), []);
    assertEquals(warnings, []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("tuning cache: a corrupt file is ignored with one warning naming it", async () => {
  const { dir, fresh, warnings, load } = await fixture();
  try {
    const src = fresh();
    src.tuning.set("matmul", "c", "texture");
    const path = await saveTuning(src, dir);
    const good = await Deno.readTextFile(path);
    const bad = [
      good.slice(0, good.length / 2), // truncated
      "[]",
      JSON.stringify({ key: tuningKey(src.gpu), choices: [{ family: "matmul", shapeClass: "c" }] }),
    ];
    for (const text of bad) {
      warnings.length = 0;
      await Deno.writeTextFile(path, text);
      const { r, into } = await load();
      assertEquals(r.status, "corrupt", text);
      assertEquals(into.tuning.entries(), []);
      assertEquals(warnings.length, 1);
      assert(warnings[0].includes(path) && !warnings[0].includes("\n"), warnings[0]);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("tuning cache: measured under another vifi version, driver or schema is stale and ignored", async () => {
  const { dir, fresh, warnings, load } = await fixture();
  try {
    const src = fresh();
    src.tuning.set("matmul", "c", "texture");
    const path = await saveTuning(src, dir);
    const file = JSON.parse(await Deno.readTextFile(path));
    for (
      const [field, value] of [["vifi", "0.0.0-old"], ["driver", "another driver"], ["schema", 0]] as const
    ) {
      warnings.length = 0;
      await Deno.writeTextFile(path, JSON.stringify({ ...file, key: { ...file.key, [field]: value } }));
      const { r, into } = await load();
      assertEquals(r.status, "stale", field);
      assertEquals(into.tuning.entries(), []);
      assertEquals(warnings.length, 1);
      assert(warnings[0].includes(`stale: measured with ${field} `), warnings[0]);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("tuning cache: VIFI_TUNING=off loads nothing, even a good file", async () => {
  const { dir, fresh, warnings, load } = await fixture();
  try {
    const src = fresh();
    src.tuning.set("matmul", "c", "texture");
    await saveTuning(src, dir);
    const { r, into } = await load(undefined, "off");
    assertEquals(r.status, "off");
    assertEquals(into.tuning.entries(), []);
    assertEquals(warnings, []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
