// The synthetic dataset must look like an upstream ViFi-CLIP dataset on disk and its base-to-novel split must
// test composition: every word of a novel class was seen in some base class.

import {
  deepStrictEqual as assertEquals,
  notDeepStrictEqual as assertNotEquals,
  ok as assert,
} from "node:assert/strict";
import { generateSynthetic, type SyntheticSummary } from "../../lib/data/synthetic.ts";

const small = { clipsPerClass: 2, frames: 8, colours: ["red", "blue"], shapes: ["circle", "square"] };

function parseCsv(text: string): string[] {
  const lines = text.split("\n").filter((l) => l !== "");
  assertEquals(lines[0], "id,name");
  return lines.slice(1).map((l, i) => {
    const [id, ...rest] = l.split(",");
    assertEquals(Number(id), i);
    return rest.join(",");
  });
}

function parseList(text: string): [string, number][] {
  return text.split("\n").filter((l) => l !== "").map((l) => {
    const [p, lab] = l.split(" ");
    return [p, Number(lab)];
  });
}

async function withDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await Deno.makeTempDir({ prefix: "vifi-syn-" });
  try {
    return await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("synthetic: upstream layout, labels, lists and a compositional base-to-novel split", async () => {
  await withDir(async (dir) => {
    const s: SyntheticSummary = await generateSynthetic(dir, { seed: 7, ...small });
    const C = 2 * 2 * 4;
    assertEquals(s.classes.length, C);
    assertEquals(s.clips.length, C * 2);
    const labels = parseCsv(await Deno.readTextFile(`${dir}/labels.csv`));
    assertEquals(labels, s.classes.map((c) => c.name));
    assert(labels.includes("red circle moving left"));
    assert(!(await Deno.readTextFile(`${dir}/labels.csv`)).includes("\r"));

    const train = parseList(await Deno.readTextFile(`${dir}/train.txt`));
    const val = parseList(await Deno.readTextFile(`${dir}/val.txt`));
    assertEquals(train.length + val.length, C * 2);
    assertEquals(new Set([...train, ...val].map((x) => x[0])).size, C * 2, "train and val are disjoint");
    for (const [p, lab] of [...train, ...val]) {
      assert(/^videos\/[a-z]+_[a-z]+_[a-z]+_\d+\.mp4$/.test(p), p);
      const head = (await Deno.readFile(`${dir}/${p}`)).subarray(4, 8);
      assertEquals(new TextDecoder().decode(head), "ftyp");
      const c = s.classes[lab];
      assert(p.startsWith(`videos/${c.colour}_${c.shape}_${c.motion}_`), `${p} has label ${lab}`);
    }
    // every class is in both splits so that val measures every class
    assertEquals(new Set(train.map((x) => x[1])).size, C);
    assertEquals(new Set(val.map((x) => x[1])).size, C);

    const base = parseCsv(await Deno.readTextFile(`${dir}/base_labels.csv`));
    const novel = parseCsv(await Deno.readTextFile(`${dir}/novel_labels.csv`));
    assertEquals(base.length + novel.length, C);
    assertEquals(novel.length, C / 2);
    assertEquals(new Set([...base, ...novel]).size, C, "base and novel are disjoint and cover all classes");
    const baseWords = new Set(base.flatMap((n) => n.split(" ")));
    for (const n of novel) {
      for (const w of n.split(" ")) assert(baseWords.has(w), `"${w}" of "${n}" unseen in base`);
    }

    const check = async (file: string, names: string[], from: [string, number][]) => {
      const rows = parseList(await Deno.readTextFile(`${dir}/${file}`));
      const expect = from.filter(([, l]) => names.includes(labels[l])).map((
        [p, l],
      ) => [p, names.indexOf(labels[l])]);
      assertEquals(rows, expect, file);
      assert(rows.length > 0, file);
    };
    await check("base_train.txt", base, train);
    await check("base_val.txt", base, val);
    await check("novel_val.txt", novel, val);
  });
});

Deno.test("synthetic: the same seed gives the same bytes, another seed does not", async () => {
  const opts = { ...small, colours: ["green"], shapes: ["triangle"], motions: ["up", "down"] };
  const read = (dir: string) => Deno.readFile(`${dir}/videos/green_triangle_up_1.mp4`);
  await withDir(async (a) => {
    await withDir(async (b) => {
      await withDir(async (c) => {
        await generateSynthetic(a, { seed: 3, ...opts });
        await generateSynthetic(b, { seed: 3, ...opts });
        await generateSynthetic(c, { seed: 4, ...opts });
        assertEquals(await read(a), await read(b));
        for (const f of ["labels.csv", "train.txt", "val.txt", "base_labels.csv", "novel_val.txt"]) {
          assertEquals(await Deno.readTextFile(`${a}/${f}`), await Deno.readTextFile(`${b}/${f}`), f);
        }
        assertNotEquals(await read(a), await read(c));
      });
    });
  });
});

Deno.test("synthetic: rejects bad options", async () => {
  await withDir(async (dir) => {
    let err: Error | undefined;
    try {
      await generateSynthetic(dir, { size: 63 });
    } catch (e) {
      err = e as Error;
    }
    assert(err && /size must be even/.test(err.message));
  });
});
