import {
  checkData,
  checkLabels,
  formatMissing,
  parseList,
  readList,
  videoLocation,
} from "../../lib/data/lists.ts";
import { assert, assertEquals, assertThrows, dataDir, hasDataDir, manifest } from "./assert.ts";

Deno.test("parseList: CRLF, LF, blank lines, tabs, missing final newline", () => {
  const items = parseList("a/b.mp4 3\r\n\r\nc.avi\t0\n  d.webm   12  \ne.mp4 7", "x.txt");
  assertEquals(items, [
    { path: "a/b.mp4", label: 3 },
    { path: "c.avi", label: 0 },
    { path: "d.webm", label: 12 },
    { path: "e.mp4", label: 7 },
  ]);
  assertEquals(parseList("", "empty.txt"), []);
});

Deno.test("parseList: errors name file and line", () => {
  assertThrows(() => parseList("a.mp4 1\nb.mp4\n", "l.txt"), "l.txt:2:");
  assertThrows(() => parseList("a.mp4 1\r\n\r\nb.mp4 x\r\n", "l.txt"), "l.txt:3:");
  assertThrows(() => parseList("a.mp4 -1", "l.txt"), "l.txt:1:");
  assertThrows(() => parseList("a b.mp4 1", "l.txt"), "l.txt:1:");
});

Deno.test("checkLabels: a label past the label file is an error naming the record", () => {
  const items = parseList("a.mp4 0\nb.mp4 2\n", "l.txt");
  checkLabels(items, ["x", "y", "z"], "l.txt");
  assertThrows(() => checkLabels(items, ["x", "y"], "l.txt"), "l.txt: record 2 (b.mp4) has label 2");
});

Deno.test("every shipped video list parses to its MANIFEST record count", async () => {
  if (!hasDataDir()) {
    console.log(`skipped: ${dataDir} is absent`);
    return;
  }
  const m = manifest();
  let n = 0;
  for (const [p, count] of m) {
    if (!p.startsWith("datasets_splits/")) continue;
    const items = await readList(dataDir + p);
    assertEquals(items.length, count, p);
    assert(items.every((it) => it.path.length > 0 && Number.isInteger(it.label)), p);
    n++;
  }
  // and no list on disk is missing from the manifest
  const onDisk: string[] = [];
  const walk = (d: string) => {
    for (const e of Deno.readDirSync(dataDir + d)) {
      if (e.isDirectory) walk(`${d}/${e.name}`);
      else if (e.name.endsWith(".txt")) onDisk.push(`${d}/${e.name}`);
    }
  };
  walk("datasets_splits");
  assertEquals(onDisk.length, n, "lists on disk vs manifest");
  assert(n === 47, `expected 47 lists, parsed ${n}`);
});

Deno.test("videoLocation: plain roots and tar roots", () => {
  assertEquals(videoLocation("/v", "train/a.mp4"), { file: "/v/train/a.mp4" });
  assertEquals(videoLocation("/v/", "a.avi"), { file: "/v/a.avi" });
  assertEquals(videoLocation("/d/k400.tar", "train/a.mp4"), { tar: "/d/k400.tar/train.tar", name: "a.mp4" });
  assertEquals(videoLocation("/d/hmdb.tar", "a.avi"), { tar: "/d/hmdb.tar", name: "a.avi" });
});

Deno.test("checkData: first N missing and the count; tar roots by base name", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeFile(`${dir}/a.mp4`, new Uint8Array([1]));
    await Deno.mkdir(`${dir}/val`);
    await Deno.writeFile(`${dir}/val/b.mp4`, new Uint8Array([2]));
    const items = ["a.mp4", "val/b.mp4", "m1.mp4", "val/m2.mp4", "m3.mp4", "m4.mp4"].map((path) => ({
      path,
      label: 0,
    }));
    const ds = { root: dir, labels: ["x"], items };
    const r = await checkData(ds, { limit: 2 });
    assertEquals(r.missing, ["m1.mp4", "val/m2.mp4"]);
    assertEquals(r.missingCount, 4);
    const msg = formatMissing(ds, r);
    assert(
      msg.includes("4 of 6 videos are missing") && msg.includes("m1.mp4") && msg.includes("and 2 more"),
      msg,
    );
    assert(formatMissing(ds, { missing: [], missingCount: 0, total: 6 }).includes("all 6"));

    // tar mode: root contains ".tar"; the archive is <dirname>.tar, members looked up by base name
    const tarOk = await new Deno.Command("tar", { args: ["--version"], stdout: "null", stderr: "null" })
      .output()
      .then((o) => o.success).catch(() => false);
    if (!tarOk) {
      console.log("skipped tar-mode part: no tar binary");
      return;
    }
    const out = await new Deno.Command("tar", {
      args: ["-cf", `${dir}/vids.tar`, "-C", dir, "a.mp4", "val/b.mp4"],
    })
      .output();
    assert(out.success, "tar failed");
    const tds = { root: `${dir}/vids.tar`, labels: ["x"], items: [items[0], items[1], items[2]] };
    const t = await checkData(tds);
    // val/b.mp4 would live in vids.tar/val.tar, which does not exist
    assertEquals(t.missing, ["val/b.mp4", "m1.mp4"]);
    assertEquals(t.missingCount, 2);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
