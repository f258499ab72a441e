// The paper's experiment files: each imports, type-checks (the static imports below) and resolves
// against the upstream's label and list files.

import { assert, assertEquals, hasReferenceData, referenceData } from "./assert.ts";
import zeroShot from "../../experiments/zero-shot.exp.ts";
import baseToNovel from "../../experiments/base-to-novel.exp.ts";
import baseToNovelPrompting from "../../experiments/base-to-novel-prompting.exp.ts";
import fewShot from "../../experiments/few-shot.exp.ts";
import fullySupervised from "../../experiments/fully-supervised.exp.ts";
import { newFileCache, resolveExperiment } from "../../lib/dsl/resolve.ts";
import type { Experiment, ResolvedExperiment } from "../../lib/dsl/types.ts";

const dir = new URL("../../experiments/", import.meta.url).pathname;
// owned and tested elsewhere (a generated dataset; pretraining: tests/dsl/pretrain_protocol_test.ts)
const NOT_PAPER = new Set(["synthetic.exp.ts", "synthetic-pretrain.exp.ts", "synthetic-zero-shot.exp.ts"]);

Deno.test("experiments: the paper's tables, one run per row, cell and seed", () => {
  const count = (l: Experiment[]) => l.length;
  assertEquals(count(zeroShot), 4); // ViFi-CLIP, image-FT, text-FT, vanilla CLIP
  assertEquals(count(baseToNovel), 4 * 3 * 3); // datasets × fine-tune variants × seeds
  assertEquals(count(baseToNovelPrompting), 3 * 3);
  assertEquals(count(fewShot), 2 * 3 * 4); // fine-tune and prompting × datasets × K
  assertEquals(count(fullySupervised), 3);
  const all = [...zeroShot, ...baseToNovel, ...baseToNovelPrompting, ...fewShot, ...fullySupervised];
  assertEquals(new Set(all.map((e) => e.name)).size, all.length, "names are unique across files");
  for (const e of baseToNovel) {
    assertEquals(e.evals.map((v) => [v.name, v.subset]), [["base", "base"], ["novel", "novel"]], e.name);
  }
  for (const e of zeroShot.filter((e) => e.train)) {
    assertEquals(e.evals.length, 10, e.name); // K400 val + 3 datasets × 3 splits
  }
});

Deno.test("experiments: every .exp.ts default-exports experiments", async () => {
  let n = 0;
  for await (const f of Deno.readDir(dir)) {
    if (!f.name.endsWith(".exp.ts")) continue;
    const mod = await import(`${new URL(f.name, `file://${dir}`).href}`);
    const list = Array.isArray(mod.default) ? mod.default : [mod.default];
    assert(list.length > 0 && list.every((e: Experiment) => typeof e?.name === "string"), f.name);
    n++;
  }
  assert(n >= 5, `expected the five paper experiment files, found ${n}`);
});

Deno.test({
  name: "experiments: resolve against the upstream label and list files",
  ignore: !hasReferenceData(),
  async fn() {
    const saved = ["VIFI_DATA_DIR", "VIFI_K400_TRAIN"].map((k) => [k, Deno.env.get(k)] as const);
    Deno.env.set("VIFI_DATA_DIR", referenceData);
    // the full K400 train list is not among the copied files
    Deno.env.set("VIFI_K400_TRAIN", "tiny");
    try {
      const byName = new Map<string, ResolvedExperiment>();
      for await (const f of Deno.readDir(dir)) {
        if (!f.name.endsWith(".exp.ts") || NOT_PAPER.has(f.name)) continue;
        // a fresh module instance (new URL), so the file reads the variables set above
        const file = `${dir}${f.name}`;
        const mod = await import(`${new URL(f.name, `file://${dir}`).href}?env=reference`);
        const list: Experiment[] = Array.isArray(mod.default) ? mod.default : [mod.default];
        const cache = newFileCache();
        const rs = [];
        for (const e of list) {
          rs.push(await resolveExperiment(e, { source: file, cwd: "/tmp", dryRun: true, cache }));
        }
        for (const r of rs) byName.set(r.name, r);
      }
      assertEquals(byName.size, 4 + 36 + 9 + 24 + 3);
      const b2n = byName.get("b2n-hmdb-prompt-s2")!;
      assertEquals(
        b2n.train!.list,
        `${referenceData}/datasets_splits/base2novel_splits/hmdb_splits/fs_base_s2_train.txt`,
      );
      assertEquals(b2n.evals[1].labels, `${referenceData}/labels/hmdb_51_novel_labels.csv`);
      assertEquals([b2n.train!.lr, b2n.train!.epochs, b2n.data.frames, b2n.train!.resume?.mode], [
        4e-2,
        11,
        32,
        "init",
      ]);
      const fs = byName.get("few-shot-ssv2-vifi-k8")!;
      assertEquals(fs.train!.list, `${referenceData}/datasets_splits/ssv2_splits/train1_few_shot_8.txt`);
      assertEquals(fs.protocol, { kind: "few-shot", dataset: "ssv2", shots: 8 });
      const full = byName.get("fully-supervised-k400-vifi")!;
      assertEquals([full.train!.accumulation, full.train!.lr, full.data.frames], [16, 2.2e-5, 16]);
      assertEquals(full.train!.finalViews, { clips: 4, crops: 3 });
      const zs = byName.get("zero-shot-k400-vifi")!;
      assertEquals(zs.evals.map((e) => e.name).slice(0, 4), [
        "k400/val",
        "hmdb/split1",
        "hmdb/split2",
        "hmdb/split3",
      ]);
      assertEquals(zs.evals[9].labels, `${referenceData}/labels/ZS_split3_K600.csv`);
      assertEquals(byName.get("zero-shot-clip")!.model.template, "{name}");
    } finally {
      for (const [k, v] of saved) v === undefined ? Deno.env.delete(k) : Deno.env.set(k, v);
    }
  },
});
