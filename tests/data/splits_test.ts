import {
  baseToNovel,
  baseToNovelNovelEval,
  type DatasetName,
  fewShot,
  fullEval,
  k400Supervised,
  SEEDS,
  SHOTS,
  type SplitFiles,
  zeroShot,
} from "../../lib/data/splits.ts";
import { loadDataset } from "../../lib/data/lists.ts";
import { assert, assertEquals, assertThrows, dataDir, hasDataDir, manifest } from "./assert.ts";

function all(): [string, SplitFiles][] {
  const out: [string, SplitFiles][] = [];
  for (const ds of ["k400", "hmdb", "ucf", "ssv2"] as DatasetName[]) {
    for (const s of SEEDS) out.push([`b2n ${ds} s${s}`, baseToNovel(ds, s)]);
    out.push([`b2n novel ${ds}`, baseToNovelNovelEval(ds)]);
  }
  for (const ds of ["hmdb", "ucf", "ssv2"] as DatasetName[]) {
    for (const k of SHOTS) out.push([`fs ${ds} ${k}`, fewShot(ds, k)]);
  }
  for (const ds of ["hmdb", "ucf", "k600"] as DatasetName[]) {
    for (const s of SEEDS) out.push([`zs ${ds} ${s}`, zeroShot(ds, s)]);
  }
  out.push(["full ssv2", fullEval("ssv2")], ["full k400", fullEval("k400")]);
  out.push(["k400 tiny", k400Supervised({ tiny: true })]);
  return out;
}

Deno.test("split helpers: examples", () => {
  assertEquals(baseToNovel("hmdb", 2), {
    train: "datasets_splits/base2novel_splits/hmdb_splits/fs_base_s2_train.txt",
    val: "datasets_splits/base2novel_splits/hmdb_splits/base_val.txt",
    labels: "labels/hmdb_51_base_labels.csv",
    numClasses: 26,
  });
  assertEquals(fewShot("ssv2", 8).val, "datasets_splits/ssv2_splits/validation.txt");
  assertEquals(fewShot("ucf", 16).train, "datasets_splits/ucf_splits/train1_few_shot_16.txt");
  assertEquals(zeroShot("k600", 3).labels, "labels/ZS_split3_K600.csv");
  assertEquals(k400Supervised().train, "datasets_splits/k400_splits/train.txt");
});

Deno.test("split helpers: unknown values are rejected", () => {
  assertThrows(() => fewShot("hmdb", 3), "shot count K 3");
  assertThrows(() => fewShot("k400", 2), "few-shot dataset");
  assertThrows(() => baseToNovel("ucf", 4), "seed 4");
  assertThrows(() => baseToNovel("k600", 1), "base-to-novel dataset");
  assertThrows(() => zeroShot("ssv2", 1), "zero-shot dataset");
  assertThrows(() => zeroShot("hmdb", 0), "split 0");
  assertThrows(() => fullEval("ssv2", 2), "ssv2 split 2");
  assertThrows(() => fullEval("xyz" as DatasetName), "evaluation dataset");
});

Deno.test("split helpers resolve to shipped files with matching class counts", () => {
  if (!hasDataDir()) {
    console.log(`skipped: ${dataDir} is absent`);
    return;
  }
  const m = manifest();
  for (const [what, f] of all()) {
    for (const p of [f.train, f.val, f.labels, f.trainLabels]) {
      if (p === undefined) continue;
      assert(Deno.statSync(dataDir + p).isFile, `${what}: ${p} missing`);
    }
    // label records in the manifest count the header row
    assertEquals(m.get(f.labels), f.numClasses + 1, `${what} classes`);
  }
});

Deno.test("every protocol's lists index inside its label file", async () => {
  if (!hasDataDir()) {
    console.log(`skipped: ${dataDir} is absent`);
    return;
  }
  for (const [what, f] of all()) {
    for (const list of [f.train, f.val]) {
      if (list === undefined) continue;
      const ds = await loadDataset(
        "/videos",
        dataDir + list,
        dataDir + (list === f.train && f.trainLabels ? f.trainLabels : f.labels),
      );
      assertEquals(ds.labels.length, f.numClasses, `${what} ${list}`);
      // every class appears in the evaluation lists and the K-shot / 16-shot training lists
      assertEquals(
        new Set(ds.items.map((it) => it.label)).size,
        f.numClasses,
        `${what} ${list} classes used`,
      );
    }
  }
});
